import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const cliPath = path.join(repoRoot, 'dist', 'taskpod.js');
export const runTaskPath = path.join(repoRoot, 'dist', 'run-task.js');

/** The embedded server the tests share when DATABASE_URL is unset (taskpod's own default mode). */
export function embeddedTestDir(): string {
  return process.env.TASKPOD_EMBEDDED_DIR || path.join(repoRoot, '.taskpod');
}
