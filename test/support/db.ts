// A real PostgreSQL for each test file, in its own schema: DATABASE_URL when set (CI's local
// server), otherwise the embedded server that taskpod itself starts.
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../src/db/migrate.js';
import { TaskStore } from '../../src/tasks/store.js';
import { TaskFiles } from '../../src/storage.js';
import { connectClient, resolveDatabaseUrl } from '../../src/db/pool.js';
import { loadConfig } from '../../src/config.js';
import { embeddedTestDir, repoRoot } from './paths.js';
import { waitFor } from './wait.js';
import type { Task } from '../../src/tasks/model.js';

/** Makes tasks one after another: a test's database client runs one query at a time. */
export async function oneAfterAnother(count: number, make: (i: number) => Promise<Task>): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let i = 0; i < count; i++) tasks.push(await make(i));
  return tasks;
}

export interface TestDb {
  schema: string;
  /** The server's connection string (the embedded server's, when DATABASE_URL is unset): for a Secret or a child's DATABASE_URL. */
  databaseUrl: string;
  client: pg.Client;
  store: TaskStore;
  dataDir: string;
  files: TaskFiles;
  /** Environment for a taskpod child process using this schema and data directory. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** The task as it is now (it must exist). */
  task(id: number): Promise<Task>;
  /** Polls the task until check holds. */
  waitForTask(id: number, check: (task: Task) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Cancels every pending, queued or running task, so that nothing is left for the next test's runners. */
  cancelOpenTasks(): Promise<void>;
  cleanup(): Promise<void>;
}

export function databaseEnv(): Record<string, string> {
  return process.env.DATABASE_URL
    ? { DATABASE_URL: process.env.DATABASE_URL }
    : { DATABASE_URL: '', TASKPOD_EMBEDDED_DIR: embeddedTestDir() };
}

export async function setupTestDb(name: string): Promise<TestDb> {
  const schema = `t_${name.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({ ...process.env, ...databaseEnv(), TASKPOD_SCHEMA: schema });
  const client = await connectClient(config);
  await migrate(client, schema);
  const store = new TaskStore(client, schema);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `taskpod-${name}-`));
  return {
    schema, client, dataDir,
    databaseUrl: await resolveDatabaseUrl(config),
    store,
    files: new TaskFiles(dataDir),
    env: (extra = {}) => ({
      ...databaseEnv(),
      TASKPOD_SCHEMA: schema,
      TASKPOD_DATA_DIR: dataDir,
      TASKPOD_LOG_FORMAT: 'json',
      TASKPOD_PLUGIN_DIRS: path.join(repoRoot, 'test', 'fixtures', 'plugins'),
      ...extra,
    }),
    task: async (id) => (await store.find({ taskId: id }))!,
    waitForTask: (id, check, what, timeoutMs = 30_000) =>
      waitFor(async () => check((await store.find({ taskId: id }))!), timeoutMs, `task ${id}: ${what}`),
    async cancelOpenTasks() {
      await client.query(`UPDATE "${schema}".tasks SET status = 'cancelled' WHERE status IN ('pending', 'queued', 'running')`);
    },
    async cleanup() {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await client.end().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
