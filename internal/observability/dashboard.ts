/**
 * GET /dashboard on the admin port: the live dashboard, a static page in
 * internal/observability/dashboard/ (dashboard.html, dashboard.css, dashboard.js: plain files, no
 * build step, no external resource) that polls `stats` every second; see dashboard.js.
 *
 * The files are read once, when the handler is created (at gateway start), from the repository's
 * source tree: tsc does not copy non-TS files, so from a build (dist/internal/observability/) the
 * directory is found three levels up. They are served under a strict Content-Security-Policy
 * (script-src 'self', style-src 'self': no inline script or style at all):
 *
 *   /dashboard                   the page (its links are relative: dashboard/dashboard.css, ...)
 *   /dashboard/dashboard.css     the styles
 *   /dashboard/dashboard.js      the script
 *
 * registerDashboard() mounts the three on the admin server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AdminHandler, AdminResponse } from '../transport/http/server';
import type { Logger } from './logger';

/** The page's URL path on the admin port. */
export const DASHBOARD_PATH = '/dashboard';

/** The files of the page and the URL paths they are served at. */
const FILES = [
  { path: DASHBOARD_PATH, file: 'dashboard.html', contentType: 'text/html; charset=utf-8' },
  { path: `${DASHBOARD_PATH}/dashboard.css`, file: 'dashboard.css', contentType: 'text/css; charset=utf-8' },
  { path: `${DASHBOARD_PATH}/dashboard.js`, file: 'dashboard.js', contentType: 'text/javascript; charset=utf-8' },
] as const;

/** Every URL path the dashboard handler answers (the page first). */
export const DASHBOARD_PATHS: readonly string[] = FILES.map((f) => f.path);

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const NOT_FOUND: AdminResponse = { status: 404, body: JSON.stringify({ error: 'not found' }), contentType: 'application/json' };

/**
 * Where the files are: next to this module (running from the sources, or a build that copies
 * them), else in the source tree seen from a build directory (dist/internal/observability ->
 * internal/observability/dashboard).
 */
export function dashboardDirCandidates(moduleDir: string = __dirname): string[] {
  return [path.resolve(moduleDir, 'dashboard'), path.resolve(moduleDir, '../../../internal/observability/dashboard')];
}

export interface DashboardOptions {
  /** The directory of dashboard.html/.css/.js (default: the first of dashboardDirCandidates() that has them). */
  readonly dir?: string;
  /** Told once, at creation, when the files cannot be read. */
  readonly log?: Pick<Logger, 'warn'>;
}

/** A response per dashboard path, or why the files could not be read. */
function loadResponses(options: DashboardOptions): Map<string, AdminResponse> | string {
  const candidates = options.dir !== undefined ? [options.dir] : dashboardDirCandidates();
  const dir = candidates.find((d) => FILES.every((f) => fs.existsSync(path.join(d, f.file))));
  if (dir === undefined) return `${FILES.map((f) => f.file).join(', ')} not found in ${candidates.join(' or ')}`;
  const responses = new Map<string, AdminResponse>();
  for (const f of FILES) {
    const file = path.join(dir, f.file);
    try {
      responses.set(f.path, { status: 200, body: fs.readFileSync(file, 'utf8'), contentType: f.contentType, headers: HEADERS });
    } catch (e) {
      return `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return responses;
}

/**
 * The handler of DASHBOARD_PATHS: answers by request path with the file's content, read here,
 * once. When the files cannot be read (an installation without the source tree), the gateway
 * still runs: every dashboard path answers 503 saying where the files were looked for, and
 * `options.log` is warned once. Any other path (mounted by mistake) gets 404.
 */
export function dashboardHandler(options: DashboardOptions = {}): AdminHandler {
  const loaded = loadResponses(options);
  if (typeof loaded === 'string') {
    options.log?.warn({ reason: loaded }, 'dashboard unavailable');
    const unavailable: AdminResponse = { status: 503, body: `dashboard unavailable: ${loaded}\n`, contentType: 'text/plain; charset=utf-8' };
    return (req) => (DASHBOARD_PATHS.includes(req.path) ? unavailable : NOT_FOUND);
  }
  return (req) => loaded.get(req.path) ?? NOT_FOUND;
}

/** The part of AdminServer that registerDashboard uses. */
export interface RouteTarget {
  route(method: string, path: string, handler: AdminHandler): unknown;
}

/** Mounts GET /dashboard, /dashboard/dashboard.css and /dashboard/dashboard.js on `admin`. */
export function registerDashboard(admin: RouteTarget, options: DashboardOptions = {}): void {
  const handler = dashboardHandler(options);
  for (const p of DASHBOARD_PATHS) admin.route('GET', p, handler);
}
