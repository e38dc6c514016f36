// Shared test helpers for seq_toolkit: a real temp task directory and a plugin context.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import plugin from '../../../plugins/seq_toolkit/index.js';
import { validateParams, type PluginContext } from '../../../src/plugins.js';

export const fixtures = path.resolve(import.meta.dirname, '../../fixtures/seq_toolkit');

export interface TestCtx {
  taskId: number;
  jobId: string;
  attempt: number;
  taskDir: string;
  signal: AbortSignal;
  logger: ReturnType<typeof pino>;
  progress: (fraction: number, message?: string) => void;
  reports: { fraction: number; message?: string }[];
}

export async function makeTaskDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'seq-toolkit-'));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function makeCtx(taskDir: string, signal: AbortSignal = new AbortController().signal): TestCtx {
  const reports: TestCtx['reports'] = [];
  return {
    taskId: 1, jobId: '0'.repeat(32), attempt: 1, taskDir, signal,
    logger: pino({ level: 'silent' }),
    progress: (fraction, message) => reports.push({ fraction, message }),
    reports,
  };
}

/** Validates params as the runner does, then executes. */
export async function run(params: Record<string, unknown>, ctx: TestCtx): Promise<any> {
  const parsed = validateParams(plugin, params);
  // seq_toolkit reads no configuration, so the context carries none.
  return plugin.execute(parsed as never, ctx as unknown as PluginContext);
}
