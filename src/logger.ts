// Structured logs (pino) on stderr, so stdout stays free for command output (--json).
// Secrets and params values are redacted wherever they appear under these keys.
import { pino, type Logger as PinoLogger } from 'pino';
import { createRequire } from 'node:module';

export type Logger = PinoLogger;

export const REDACT_PATHS = [
  'params', '*.params', 'password', '*.password', 'databaseUrl', '*.databaseUrl',
  'connectionString', '*.connectionString', 'secret', '*.secret', 'token', '*.token',
];

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? 'info';
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  if (options.pretty ?? process.stderr.isTTY) {
    const pretty = loadPretty();
    if (pretty) return pino(base, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd: 2, sync: true }));
}

// pino-pretty is optional (absent from the production image); JSON lines are the fallback.
function loadPretty(): ((opts: object) => NodeJS.WritableStream) | undefined {
  try {
    return createRequire(import.meta.url)('pino-pretty');
  } catch {
    return undefined;
  }
}
