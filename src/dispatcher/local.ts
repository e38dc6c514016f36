// The local executor: each launch is a `taskpod run --task-id N` child process, its output
// appended to runner.log in the task directory. The default without a cluster, so a laptop
// runs the same dispatcher loop, with the same exit-code contract, as a cluster does.
import { execa } from 'execa';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { TaskFiles } from '../storage.js';
import { cliPath } from '../paths.js';
import { EXIT } from '../runner.js';
import type { Executor, LaunchSpec, RunObservation } from './executor.js';

export const RUNNER_LOG = 'runner.log';
const KILL_AFTER_MS = 10_000;
/** Finished runs are forgotten this long after they ended (the local ttlSecondsAfterFinished). */
const KEEP_FINISHED_MS = 3_600_000;

/** The part of an execa subprocess this executor uses. */
type RunnerProcess = Promise<{ exitCode?: number; signal?: string }> & { kill(signal?: NodeJS.Signals): boolean };

interface LocalRun {
  name: string;
  taskId: number;
  attempt: number;
  createdAt: Date;
  logFile: string;
  child: RunnerProcess;
  exited?: { exitCode?: number; signal?: string; at: number };
}

export interface LocalExecutorOptions {
  files: TaskFiles;
  logger: Logger;
}

export class LocalExecutor implements Executor {
  readonly sharedView = false;
  readonly kind = 'local';
  private readonly runs = new Map<string, LocalRun>();
  private onChange: () => void = () => undefined;

  constructor(private readonly options: LocalExecutorOptions) {}

  async start(onChange: () => void): Promise<void> {
    this.onChange = onChange;
  }

  async launch({ task, name, attempt }: LaunchSpec): Promise<'created' | 'exists'> {
    if (this.runs.has(name)) return 'exists';
    const dir = await this.options.files.ensureTaskDir(task.job_id);
    const logFile = path.join(dir, RUNNER_LOG);
    await fs.appendFile(logFile, `--- ${new Date().toISOString()} ${name}: taskpod run --task-id ${task.id} (attempt ${attempt})\n`);
    const child: RunnerProcess = execa(process.execPath, [cliPath, 'run', '--task-id', String(task.id)], {
      env: { TASKPOD_LOG_FORMAT: 'json' },
      stdin: 'ignore', stdout: { file: logFile, append: true }, stderr: { file: logFile, append: true },
      reject: false,
      forceKillAfterDelay: KILL_AFTER_MS,
    });
    const run: LocalRun = { name, taskId: task.id, attempt, createdAt: new Date(), logFile, child };
    this.runs.set(name, run);
    void child.then((result) => {
      run.exited = { exitCode: result.exitCode, signal: result.signal, at: Date.now() };
      this.options.logger.info({ taskId: task.id, run: name, exitCode: result.exitCode, signal: result.signal }, `Runner ${name} exited`);
      this.onChange();
    });
    return 'created';
  }

  async observe(): Promise<RunObservation[]> {
    const observations: RunObservation[] = [];
    for (const run of this.runs.values()) {
      if (run.exited && Date.now() - run.exited.at > KEEP_FINISHED_MS) {
        this.runs.delete(run.name);
        continue;
      }
      observations.push({ name: run.name, taskId: run.taskId, attempt: run.attempt, createdAt: run.createdAt, ...describeExit(run) });
    }
    return observations;
  }

  async logTail(name: string, lines: number): Promise<string | undefined> {
    const run = this.runs.get(name);
    if (!run) return undefined;
    try {
      const text = await fs.readFile(run.logFile, 'utf8');
      return text.split('\n').filter(Boolean).slice(-lines).join('\n');
    } catch {
      return undefined;
    }
  }

  async remove(name: string): Promise<void> {
    const run = this.runs.get(name);
    if (!run) return;
    this.runs.delete(name);
    if (!run.exited) {
      run.child.kill('SIGTERM');
      await run.child;
    }
  }

  async ready(): Promise<boolean> {
    return true;
  }

  /** SIGTERM to every runner (each leaves its task runnable), then wait for them. */
  async stop(): Promise<void> {
    const running = [...this.runs.values()].filter((run) => !run.exited);
    for (const run of running) run.child.kill('SIGTERM');
    await Promise.all(running.map((run) => run.child));
  }

  /** Resolves when every runner launched so far has exited. */
  async idle(): Promise<void> {
    await Promise.all([...this.runs.values()].map((run) => run.child));
  }
}

function describeExit(run: LocalRun): Pick<RunObservation, 'phase' | 'reason' | 'retryable'> {
  if (!run.exited) return { phase: 'running' };
  const { exitCode, signal } = run.exited;
  if (exitCode === 0) return { phase: 'succeeded' };
  if (signal) {
    const code = 128 + (signalNumbers[signal] ?? 0);
    return { phase: 'failed', reason: `Runner killed by ${signal} (exit ${code})`, retryable: true };
  }
  switch (exitCode) {
    case EXIT.tempfail: return { phase: 'failed', reason: 'Runner could not reach the database (exit 75)', retryable: true };
    case EXIT.interrupted: return { phase: 'failed', reason: 'Runner interrupted by SIGTERM (exit 143)', retryable: true };
    case EXIT.usage: return { phase: 'failed', reason: 'Runner usage error (exit 2)', retryable: false };
    default: return { phase: 'failed', reason: `Runner failed (exit ${exitCode})`, retryable: false };
  }
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };
