// Runs the built taskpod CLI as a real child process.
import { execa } from 'execa';
import { cliPath } from './paths.js';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stderr's JSON log lines, parsed; other lines are skipped. */
  logs: Array<Record<string, unknown> & { msg?: string; level?: number }>;
  messages: string[];
}

export function parseLogs(stderr: string): CliResult['logs'] {
  return stderr.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line)];
    } catch {
      return [];
    }
  });
}

export function spawnCli(args: string[], env: Record<string, string>) {
  return execa(process.execPath, [cliPath, ...args], {
    env: { ...env, NODE_OPTIONS: '' },
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
}

export async function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return toResult(await spawnCli(args, env));
}

export function toResult(r: { exitCode?: number; stdout: unknown; stderr: unknown }): CliResult {
  const stderr = String(r.stderr ?? '');
  const logs = parseLogs(stderr);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr, logs, messages: logs.map((l) => String(l.msg ?? '')) };
}
