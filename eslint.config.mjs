// Lint: typescript-eslint recommended rules plus a few project habits (no console in library
// code, no floating promises, no empty catch).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The browser globals the dashboard script may use (internal/observability/dashboard/*.js runs
// in the browser, not in Node). A name missing here is a no-undef error: add it.
const BROWSER_GLOBALS = Object.fromEntries(
  [
    'window', 'document', 'navigator', 'location', 'console', 'performance', 'devicePixelRatio',
    'fetch', 'AbortController', 'Headers', 'Request', 'Response', 'URL', 'URLSearchParams',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'requestAnimationFrame', 'cancelAnimationFrame',
    'getComputedStyle', 'matchMedia', 'Node', 'Element', 'HTMLElement', 'HTMLCanvasElement', 'DOMException',
    'Event', 'CustomEvent',
  ].map((name) => [name, 'readonly']),
);

// The demo chat page's script (demo/public/*.js, an ES module) uses a few more.
const DEMO_GLOBALS = {
  ...BROWSER_GLOBALS,
  ...Object.fromEntries(
    ['WebSocket', 'sessionStorage', 'HTMLFormElement', 'HTMLInputElement', 'HTMLButtonElement', 'HTMLOListElement', 'HTMLUListElement', 'HTMLLIElement'].map((name) => [name, 'readonly']),
  ),
};

/** The rules of the browser scripts (the dashboard, the demo page), type-checked with `// @ts-check`. */
const BROWSER_SCRIPT_RULES = {
  '@typescript-eslint/ban-ts-comment': ['error', { 'ts-check': false, 'ts-nocheck': true, 'ts-ignore': true, 'ts-expect-error': 'allow-with-description' }],
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': 'error',
  '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  'no-var': 'error',
  'prefer-const': 'error',
  eqeqeq: ['error', 'always'],
  'no-empty': ['error', { allowEmptyCatch: false }],
  'no-console': 'error',
};

export default tseslint.config(
  { ignores: ['dist/**', 'dist-*/**', 'node_modules/**', 'api/gen/**', 'test/interop/java/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      'no-console': 'error',
    },
  },
  {
    // The dashboard's browser script: a classic script, `// @ts-check` with JSDoc types, type-checked
    // by tsconfig.dashboard.json (`npm run lint:dashboard`), whose program also drives the typed rules here.
    files: ['internal/observability/dashboard/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: BROWSER_GLOBALS,
      parserOptions: { project: './tsconfig.dashboard.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: BROWSER_SCRIPT_RULES,
  },
  {
    // The demo chat page's script: an ES module, `// @ts-check`, type-checked by the same
    // tsconfig.dashboard.json (`npm run lint:dashboard`).
    files: ['demo/public/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: DEMO_GLOBALS,
      parserOptions: { project: './tsconfig.dashboard.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: BROWSER_SCRIPT_RULES,
  },
  {
    files: ['scripts/**/*.ts', 'test/**/*.ts', '**/*.test.ts'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
