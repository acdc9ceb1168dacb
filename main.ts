/**
 * The IMA gateway: load the configuration, run the app (internal/app/), handle signals.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startApp } from './internal/app/run';
import { formatIssue, loadConfig } from './internal/config/load';
import { FaultCounter } from './internal/observability/faults';
import { createLogger } from './internal/observability/logger';
import { generateInstanceId } from './pkg/ids';

const VERSION: string = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

async function main(): Promise<void> {
  const loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  if (!loaded.ok) {
    process.stderr.write(`ima-gateway: invalid configuration, not starting:\n${loaded.error.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
    process.exit(2);
  }
  const { config, appEnv, configDir, warnings } = loaded.value;
  const instanceId = config.app.instanceId !== '' ? config.app.instanceId : generateInstanceId();
  const log = createLogger(config.app.logLevel, instanceId);
  const faults = new FaultCounter(log);
  faults.installProcessHandlers(); // an escaped error is logged and counted, never fatal
  for (const w of warnings) log.warn(w);

  const app = await startApp(config, { instanceId, version: VERSION, appEnv, configDir, log, faults });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    void app.shutdown(signal).then((code) => process.exit(code));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((e: unknown) => {
  process.stderr.write(`ima-gateway: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
