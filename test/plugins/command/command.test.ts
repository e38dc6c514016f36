// The command plugin through the real runner: allow-list, no shell, output files, exit status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { setupTestDb, type TestDb } from '../../support/db.js';
import { runCli, spawnCli, toResult } from '../../support/cli.js';
import { waitFor } from '../../support/wait.js';

let db: TestDb;
beforeAll(async () => { db = await setupTestDb('command'); });
afterAll(async () => { await db?.cleanup(); });

const allow = { TASKPOD_COMMAND_ALLOW: 'printf,false,/bin/sh,sleep' };

async function runCommandTask(params: object, env: Record<string, string> = allow) {
  const task = await db.store.insert({ taskType: 'command', params, maxAttempts: 1 });
  const r = await runCli(['run', '--task-id', String(task.id)], db.env(env));
  return { task, r, after: (await db.task(task.id)), dir: db.files.taskDir(task.job_id) };
}

describe('command plugin', () => {
  it('runs an allowed executable; arguments reach it literally, never through a shell', async () => {
    const hostile = ['$(touch pwned)', '; touch pwned2', '`id`', '*', '"quoted" \'single\''];
    const { r, after, dir, task } = await runCommandTask({ command: 'printf', args: ['%s\\n', ...hostile] });
    expect(r.exitCode).toBe(0);
    expect(after.status).toBe('completed');
    expect(readFileSync(path.join(dir, 'stdout.txt'), 'utf8')).toBe(hostile.join('\n') + '\n');
    expect(existsSync(path.join(dir, 'pwned'))).toBe(false);
    expect(existsSync(path.join(dir, 'pwned2'))).toBe(false);
    expect(await db.files.readOutput(task.job_id)).toMatchObject({ exit_code: 0, signal: null, stdout_file: 'stdout.txt', stderr_file: 'stderr.txt' });
  });

  it('a non-zero exit fails the task with the code; stderr is kept', async () => {
    const { r, after, dir } = await runCommandTask({ command: '/bin/sh', args: ['-c', 'echo oops >&2; exit 3'] });
    expect(r.exitCode).toBe(1);
    expect(after).toMatchObject({ status: 'failed', error_message: 'command: /bin/sh exited with code 3 (stderr in stderr.txt)' });
    expect(readFileSync(path.join(dir, 'stderr.txt'), 'utf8')).toBe('oops\n');
  });

  it('refuses an executable that is not allowed', async () => {
    const { r, after } = await runCommandTask({ command: 'rm', args: ['-rf', '/tmp/x'] });
    expect(r.exitCode).toBe(1);
    expect(after.error_message).toBe('command: "rm" is not allowed; allowed: printf, false, /bin/sh, sleep');
  });

  it('refuses everything when nothing is allowed, and says how to allow', async () => {
    const { after } = await runCommandTask({ command: 'printf', args: ['x'] }, {});
    expect(after.error_message).toBe('command: "printf" is not allowed; allowed: none (set TASKPOD_COMMAND_ALLOW)');
  });

  it('rejects params with unknown fields, naming them', async () => {
    const { after } = await runCommandTask({ command: 'printf', shell: true });
    expect(after.error_message).toContain('Invalid params for command: (params): Unrecognized key: "shell"');
  });

  it('SIGTERM to the runner stops the child process and leaves the task runnable', async () => {
    const task = await db.store.insert({ taskType: 'command', params: { command: '/bin/sh', args: ['-c', 'echo $$ > child.pid; exec sleep 60'] }, maxAttempts: 2 });
    const child = spawnCli(['run', '--task-id', String(task.id)], db.env(allow));
    const pidFile = path.join(db.files.taskDir(task.job_id), 'child.pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    child.kill('SIGTERM');
    expect(toResult(await child).exitCode).toBe(143);
    expect((await db.task(task.id)).status).toBe('pending');
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 5_000, `child ${pid} gone`);
  });
});
