// `taskpod db status|start|stop` as real processes, on an embedded server of the test's own.
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskpod-db-cli-'));
chmodSync(dir, 0o755); // as root the server runs as the postgres user, which must reach it
const env = { DATABASE_URL: '', TASKPOD_EMBEDDED_DIR: path.join(dir, 'embedded'), TASKPOD_LOG_LEVEL: 'warn' };

afterAll(async () => {
  await runCli(['db', 'stop'], env);
  rmSync(dir, { recursive: true, force: true });
});

describe('taskpod db', () => {
  it('status, start, status, stop, stop', async () => {
    const before = await runCli(['db', 'status'], env);
    expect(before.exitCode).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ initialised: false, running: false });

    const start = await runCli(['db', 'start'], env);
    expect(start.exitCode).toBe(0);
    expect(start.stdout).toMatch(/^Embedded PostgreSQL running: postgres:\/\/taskpod:\*\*\*\*@127\.0\.0\.1:\d+\/taskpod$/);

    const running = JSON.parse((await runCli(['db', 'status'], env)).stdout);
    expect(running).toMatchObject({ initialised: true, running: true });
    expect(running.connectionString).toContain(':****@');

    // Any command joins the running server and sets up the schema on first use.
    const list = await runCli(['list', '--json'], env);
    expect(list.exitCode).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);

    expect((await runCli(['db', 'stop'], env)).stdout).toBe('Embedded PostgreSQL stopped');
    expect((await runCli(['db', 'stop'], env)).stdout).toBe('Embedded PostgreSQL was not running');
  });

  it('with DATABASE_URL set, says the embedded server is not in use', async () => {
    const r = await runCli(['db', 'status'], { DATABASE_URL: 'postgres://u:secret@127.0.0.1:5432/x' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('DATABASE_URL is set (postgres://u:****@127.0.0.1:5432/x): the embedded database is not in use');
  });

  it('rejects an unknown action', async () => {
    const r = await runCli(['db', 'restart'], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('db takes status, start or stop, got "restart"');
  });
});
