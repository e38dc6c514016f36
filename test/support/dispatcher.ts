// Runs `taskpod dispatch` as a real child process and follows its JSON log.
import { execa, type ResultPromise } from 'execa';
import { cliPath } from './paths.js';
import { parseLogs } from './cli.js';
import { waitFor } from './wait.js';

export interface RunningDispatcher {
  proc: ResultPromise;
  pid: number;
  port: number;
  messages(): string[];
  /** Everything the dispatcher wrote to stderr so far (log lines, and any crash). */
  stderr(): string;
  logs(): ReturnType<typeof parseLogs>;
  /** GETs a path of the status server. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | undefined>;
}

export async function startDispatcher(env: Record<string, string>, args: string[] = []): Promise<RunningDispatcher> {
  const proc = execa(process.execPath, [cliPath, 'dispatch', ...args], {
    env: { TASKPOD_PORT: '0', TASKPOD_LISTEN_HOST: '127.0.0.1', ...env, NODE_OPTIONS: '' },
    reject: false, stdin: 'ignore', buffer: false,
  });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  proc.stdout!.resume();
  const logs = () => parseLogs(stderr);
  let exited = false;
  void proc.then(() => { exited = true; });
  const started = await waitFor(() => exited || logs().some((l) => String(l.msg).startsWith('Dispatcher started')), 20_000, 'dispatcher start')
    .then(() => logs().find((l) => String(l.msg).startsWith('Dispatcher started')), () => undefined);
  if (!started) {
    // Never leave a dispatcher behind a failed start: it would keep running after the tests.
    proc.kill('SIGKILL');
    await proc;
    throw new Error(`dispatcher did not start:\n${stderr}`);
  }
  const port = Number(started.port);
  return {
    proc, pid: proc.pid!, port,
    logs,
    stderr: () => stderr,
    messages: () => logs().map((l) => String(l.msg ?? '')),
    async get(path: string) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.text() };
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited) proc.kill(signal);
      return (await proc).exitCode;
    },
  };
}
