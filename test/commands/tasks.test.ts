// submit, show, list, cancel, retry as real processes against a real database and task directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setupTestDb, type TestDb } from '../support/db.js';
import type { Task } from '../../src/tasks/model.js';
import { runCli, spawnCli, toResult } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { migrate, readMigrations } from '../../src/db/migrate.js';

let db: TestDb;
let work: string;
beforeAll(async () => {
  db = await setupTestDb('commands');
  work = mkdtempSync(path.join(os.tmpdir(), 'taskpod-cmd-'));
});
afterAll(async () => {
  await db?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, db.env(extra));
const count = async () => (await db.client.query(`SELECT count(*)::int AS n FROM "${db.schema}".tasks`)).rows[0].n as number;

async function submitJson(args: string[]): Promise<{ task_id: number; job_id: string; created: boolean }> {
  const r = await cli(['submit', ...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout);
}

describe('submit', () => {
  it('--json prints exactly task_id and job_id, and the task is pending with its params', async () => {
    const out = await submitJson(['echo', '--params', '{"message":"hi"}', '--max-attempts', '5', '--timeout', '30', '--priority', '-2']);
    expect(out).toEqual({ task_id: expect.any(Number), job_id: expect.any(String), created: true });
    expect(out.job_id).toMatch(/^[0-9a-f]{32}$/);
    expect(await db.task(out.task_id)).toMatchObject({
      job_id: out.job_id, task_type: 'echo', status: 'pending', params: { message: 'hi' },
      max_attempts: 5, timeout_seconds: 30, priority: -2, attempts: 0,
    });
  });

  it('--resources sets the task\'s own Job resources', async () => {
    const out = await submitJson(['echo', '--params', '{"message":"x"}', '--resources', '{"requests":{"cpu":"250m"},"limits":{"memory":"2Gi"}}']);
    expect((await db.task(out.task_id)).resources).toEqual({ requests: { cpu: '250m' }, limits: { memory: '2Gi' } });
  });

  it('--input-file becomes input.json and leaves params null; the runner then reads it', async () => {
    const input = path.join(work, 'my-input.json');
    writeFileSync(input, '{"message": "from input file", "count": 1}');
    const out = await submitJson(['echo', '--input-file', input]);
    expect((await db.task(out.task_id)).params).toBeNull();
    expect(readFileSync(db.files.inputPath(out.job_id), 'utf8')).toBe('{"message": "from input file", "count": 1}');
    expect((await cli(['run', '--task-id', String(out.task_id)])).exitCode).toBe(0);
    expect(await db.files.readOutput(out.job_id)).toMatchObject({ result: 'from input file' });
  });

  it('--attach copies files into the task directory under their base names', async () => {
    const a = path.join(work, 'reads.fasta');
    const b = path.join(work, 'notes.txt');
    writeFileSync(a, '>r1\nACGT\n');
    writeFileSync(b, 'n');
    const out = await submitJson(['echo', '--params', '{"message":"x"}', '--attach', a, '--attach', b]);
    expect(readdirSync(db.files.taskDir(out.job_id)).sort()).toEqual(['notes.txt', 'reads.fasta']);
    expect(readFileSync(path.join(db.files.taskDir(out.job_id), 'reads.fasta'), 'utf8')).toBe('>r1\nACGT\n');
  });

  it.each([
    [['echo', '--params', '{"message": '], 1, 'Business error: Invalid JSON in --params:'],
    [['echo', '--params-file', '/nonexistent/params.json'], 1, 'Cannot read --params-file /nonexistent/params.json: no such file'],
    [['echo', '--input-file', '/nonexistent/in.json'], 1, 'Cannot read --input-file /nonexistent/in.json: no such file'],
    [['echo', '--params', '{"message":"x"}', '--attach', '/nonexistent/file.fa'], 1, 'Cannot attach /nonexistent/file.fa: no such file'],
    [['echo', '--params', '{"count": 0}'], 1, 'Invalid params for echo: message: Invalid input: expected string, received undefined; count: Too small'],
    [['no_such_type', '--params', '{}'], 1, 'Business error: Unsupported task type: no_such_type'],
    [['../../etc', '--params', '{}'], 1, 'Business error: Unsupported task type: ../../etc'],
    [['echo', '--params', '{}', '--input-file', 'x.json'], 2, 'Use only one of --params, --params-file and --input-file'],
    [['echo', '--params', '{"message":"x"}', '--max-attempts', '0'], 2, '--max-attempts must be an integer >= 1, got "0"'],
    [['echo', '--params', '{"message":"x"}', '--timeout', 'soon'], 2, '--timeout must be an integer >= 1, got "soon"'],
    [['echo', '--params', '{"message":"x"}', '--priority', '1e3'], 2, '--priority must be an integer, got "1e3"'],
    [['echo', '--params', '{"message":"x"}', '--resources', '{"limits":{"memory":"lots"}}'], 2, '--resources.limits.memory is not a Kubernetes quantity ("lots")'],
    [['echo', '--params', '{"message":"x"}', '--resources', '{"limit":{}}'], 2, '--resources.limit is not requests or limits'],
    [['echo', '--params', '{"message":"x"}', '--resources', '{'], 2, '--resources must be JSON:'],
  ])('refuses %j clearly and creates nothing', async (args, exitCode, message) => {
    const before = await count();
    const r = await cli(['submit', ...args as string[]]);
    expect(r.exitCode).toBe(exitCode);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
    expect(await count()).toBe(before);
  });

  it('a failed attach leaves no task and no task directory behind', async () => {
    const before = readdirSync(db.dataDir).length;
    const good = path.join(work, 'good.txt');
    writeFileSync(good, 'g');
    const r = await cli(['submit', 'echo', '--params', '{"message":"x"}', '--attach', good, '--attach', '/nonexistent/x']);
    expect(r.exitCode).toBe(1);
    expect(readdirSync(db.dataDir).length).toBe(before);
  });
});

describe('submit --dedupe-key: one task per key', () => {
  it('a second submit with the same key prints the first task and makes none', async () => {
    const key = 'nightly-29381040';
    const first = await submitJson(['echo', '--params', '{"message":"night"}', '--dedupe-key', key]);
    const before = await count();
    const again = await cli(['submit', 'echo', '--params', '{"message":"night"}', '--dedupe-key', key]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe(`Task ${first.task_id} already submitted with dedupe key "${key}" (job_id ${first.job_id}, type echo, pending)`);
    expect(await submitJson(['echo', '--params', '{"message":"night"}', '--dedupe-key', key])).toEqual({ ...first, created: false });
    expect(await count()).toBe(before);
    expect((await db.task(first.task_id)).dedupe_key).toBe(key);
    const other = await submitJson(['echo', '--params', '{"message":"night"}', '--dedupe-key', 'nightly-29381041']);
    expect(other.created).toBe(true);
    expect(await count()).toBe(before + 1);
  });

  it('eight submits racing on one key make exactly one task, and all print it', async () => {
    const key = `race-${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 8 }, () =>
      cli(['submit', 'echo', '--params', '{"message":"r"}', '--dedupe-key', key, '--json'])));
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const outs = results.map((r) => JSON.parse(r.stdout) as { task_id: number; created: boolean });
    expect(new Set(outs.map((o) => o.task_id)).size).toBe(1);
    expect(outs.filter((o) => o.created)).toHaveLength(1);
    const { rows } = await db.client.query(`SELECT count(*)::int AS n FROM "${db.schema}".tasks WHERE dedupe_key = $1`, [key]);
    expect(rows[0].n).toBe(1);
  });

  it('a duplicate leaves the first task\'s input.json alone; a key used by another type is refused', async () => {
    const a = path.join(work, 'dedupe-a.json');
    const b = path.join(work, 'dedupe-b.json');
    writeFileSync(a, '{"message": "first"}');
    writeFileSync(b, '{"message": "second"}');
    const first = await submitJson(['echo', '--input-file', a, '--dedupe-key', 'with-input']);
    expect((await submitJson(['echo', '--input-file', b, '--dedupe-key', 'with-input'])).created).toBe(false);
    expect(readFileSync(db.files.inputPath(first.job_id), 'utf8')).toBe('{"message": "first"}');
    const before = await count();
    const clash = await cli(['submit', 'sleepy', '--params', '{"ms":1}', '--dedupe-key', 'with-input']);
    expect(clash.exitCode).toBe(1);
    expect(clash.stderr).toContain(`ERROR: Business error: Dedupe key "with-input" already names task ${first.task_id} of type echo, not sleepy`);
    expect(await count()).toBe(before);
  });

  it('bad keys are refused before anything is written; a hostile key is only data', async () => {
    const before = await count();
    for (const [key, message] of [
      ['', '--dedupe-key must be 1 to 255 characters, got 0'],
      ['k'.repeat(256), '--dedupe-key must be 1 to 255 characters, got 256'],
      ['line\nbreak', '--dedupe-key must not contain control characters'],
    ]) {
      const r = await cli(['submit', 'echo', '--params', '{"message":"x"}', '--dedupe-key', key]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe(`error: ${message}`);
    }
    expect(await count()).toBe(before);
    const hostile = "x'); DROP TABLE tasks; --";
    const out = await submitJson(['echo', '--params', '{"message":"x"}', '--dedupe-key', hostile]);
    expect((await db.task(out.task_id)).dedupe_key).toBe(hostile);
    expect(await count()).toBe(before + 1);
  });

  it('a database not yet migrated to dedupe keys is told to run migrate', async () => {
    const schema = `${db.schema}_old`;
    await migrate(db.client, schema, readMigrations().filter((m) => m.id < 3));
    // With an explicit DATABASE_URL, as in production: on the embedded default taskpod migrates by itself.
    const databaseUrl = db.databaseUrl;
    try {
      const r = await cli(['submit', 'echo', '--params', '{"message":"x"}', '--dedupe-key', 'k'], { TASKPOD_SCHEMA: schema, DATABASE_URL: databaseUrl });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^ERROR: the taskpod tables are older than this taskpod \(.*dedupe_key.*\): run `taskpod migrate` first$/);
    } finally {
      await db.client.query(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });
});

describe('submit --wait', () => {
  it('waits for the task to complete, then exits 0 with its status', async () => {
    const child = spawnCli(['submit', 'echo', '--params', '{"message":"waited"}', '--dedupe-key', 'wait-ok', '--wait', '--wait-timeout', '60'], db.env());
    let task: Task | undefined;
    await waitFor(async () => (task = (await db.client.query(`SELECT * FROM "${db.schema}".tasks WHERE dedupe_key = 'wait-ok'`)).rows[0]) !== undefined);
    expect((await cli(['run', '--task-id', String(task!.id)])).exitCode).toBe(0);
    const r = toResult(await child);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`Submitted task ${task!.id} (job_id ${task!.job_id}, type echo)\nTask ${task!.id} completed`);
  });

  it('exits 1 with the status when the task is cancelled, and --json says so', async () => {
    const child = spawnCli(['submit', 'echo', '--params', '{"message":"x"}', '--dedupe-key', 'wait-cancel', '--wait', '--json'], db.env());
    let task: Task | undefined;
    await waitFor(async () => (task = (await db.client.query(`SELECT * FROM "${db.schema}".tasks WHERE dedupe_key = 'wait-cancel'`)).rows[0]) !== undefined);
    expect((await cli(['cancel', String(task!.id)])).exitCode).toBe(0);
    const r = toResult(await child);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ task_id: task!.id, job_id: task!.job_id, created: true, status: 'cancelled', error_message: 'Cancelled by request' });
  });

  it('gives up after --wait-timeout with the status the task is still in; --wait-timeout alone is a usage error', async () => {
    const r = await cli(['submit', 'echo', '--params', '{"message":"x"}', '--wait', '--wait-timeout', '1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: Task \d+ is still pending after 1 s \(--wait-timeout\)$/);
    const alone = await cli(['submit', 'echo', '--params', '{"message":"x"}', '--wait-timeout', '5']);
    expect(alone.exitCode).toBe(2);
    expect(alone.stderr).toBe('error: --wait-timeout needs --wait');
  });

  it('waiting on a duplicate waits for the first task, already finished', async () => {
    const first = await submitJson(['echo', '--params', '{"message":"done"}', '--dedupe-key', 'wait-dup']);
    expect((await cli(['run', '--task-id', String(first.task_id)])).exitCode).toBe(0);
    const r = await cli(['submit', 'echo', '--params', '{"message":"done"}', '--dedupe-key', 'wait-dup', '--wait']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`Task ${first.task_id} completed`);
  });
});

describe('show and list', () => {
  it('show --json prints the columns by name with the output under "output"', async () => {
    const out = await submitJson(['echo', '--params', '{"message":"shown"}']);
    expect((await cli(['run', '--job-id', out.job_id])).exitCode).toBe(0);
    for (const ref of [String(out.task_id), out.job_id]) {
      const r = await cli(['show', ref, '--json']);
      expect(r.exitCode).toBe(0);
      const shown = JSON.parse(r.stdout);
      expect(Object.keys(shown)).toEqual(expect.arrayContaining([
        'id', 'job_id', 'task_type', 'status', 'params', 'error_message', 'attempts', 'max_attempts', 'priority',
        'timeout_seconds', 'progress', 'progress_message', 'k8s_job_name', 'worker', 'created_at', 'updated_at',
        'queued_at', 'started_at', 'finished_at', 'heartbeat_at', 'run_after', 'output']));
      expect(shown).toMatchObject({ id: out.task_id, job_id: out.job_id, status: 'completed', output: { result: 'shown' } });
    }
    const human = await cli(['show', String(out.task_id)]);
    expect(human.stdout).toMatch(/^status\s+completed$/m);
  });

  it('show of a missing task, or a malformed id, says so', async () => {
    const missing = await cli(['show', '987654']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('Business error: Task not found: task_id=987654');
    const bad = await cli(['show', '../x']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('expected a task_id (positive integer) or a job_id (32 lowercase hex characters)');
  });

  it('list filters by status and type', async () => {
    const a = await submitJson(['sleepy', '--params', '{"ms": 1}']);
    const r = await cli(['list', '--status', 'pending', '--type', 'sleepy', '--json']);
    expect(r.exitCode).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ id: number; status: string; task_type: string }>;
    expect(rows.map((t) => t.id)).toContain(a.task_id);
    expect(rows.every((t) => t.status === 'pending' && t.task_type === 'sleepy')).toBe(true);
    const table = await cli(['list', '--type', 'sleepy']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+JOB_ID\s+TYPE\s+STATUS\s+ATTEMPTS\s+CREATED\s+ERROR$/);
    const bad = await cli(['list', '--status', 'done']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--status must be one of pending, queued, running, completed, failed, cancelled, got "done"');
  });
});

describe('cancel and retry', () => {
  it('cancel a pending task; cancelling again is refused with the reason', async () => {
    const t = await submitJson(['echo', '--params', '{"message":"x"}']);
    const r = await cli(['cancel', String(t.task_id)]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`Task ${t.task_id} is now cancelled`);
    const again = await cli(['cancel', t.job_id]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain(`Cannot cancel task ${t.task_id}: it is cancelled; only pending, queued or running tasks can be cancelled`);
    // A runner skips it.
    expect((await cli(['run', '--task-id', String(t.task_id)])).exitCode).toBe(0);
    expect((await db.task(t.task_id)).status).toBe('cancelled');
  });

  it('retry makes a failed task pending with an attempt left, and it can then complete', async () => {
    const task = await db.store.insert({ taskType: 'echo', params: { message: 1 }, maxAttempts: 1 });
    expect((await cli(['run', '--task-id', String(task.id)])).exitCode).toBe(1);
    await db.client.query(`UPDATE "${db.schema}".tasks SET params = '{"message": "fixed"}' WHERE id = $1`, [task.id]);
    const r = await cli(['retry', String(task.id)]);
    expect(r.exitCode).toBe(0);
    expect(await db.task(task.id)).toMatchObject({ status: 'pending', error_message: null, attempts: 1, max_attempts: 2 });
    expect((await cli(['run', '--task-id', String(task.id)])).exitCode).toBe(0);
    expect(await db.task(task.id)).toMatchObject({ status: 'completed', attempts: 2 });
    const refused = await cli(['retry', String(task.id)]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('it is completed; only failed or cancelled tasks can be retried');
  });
});

describe('set-up commands', () => {
  it('migrate is idempotent and safe from several processes at once', async () => {
    const schema = `${db.schema}_m`;
    const results = await Promise.all(Array.from({ length: 4 }, () => cli(['migrate'], { TASKPOD_SCHEMA: schema })));
    expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0, 0]);
    expect(results.filter((r) => r.stdout.startsWith('Applied 3 migration(s)'))).toHaveLength(1);
    expect(results.filter((r) => r.stdout === `Schema ${schema} is up to date`)).toHaveLength(3);
    const { rows } = await db.client.query(`SELECT id, name FROM "${schema}".migrations`);
    expect(rows).toEqual([{ id: 1, name: '001_tasks' }, { id: 2, name: '002_dispatcher' }, { id: 3, name: '003_dedupe_key' }]);
    await db.client.query(`DROP SCHEMA "${schema}" CASCADE`);
  });

  it('plugins --json exports each params schema as JSON Schema', async () => {
    const r = await cli(['plugins', '--json']);
    expect(r.exitCode).toBe(0);
    const plugins = JSON.parse(r.stdout) as Array<{ type: string; params_schema: { properties: Record<string, unknown>; required?: string[] } }>;
    const types = plugins.map((p) => p.type);
    expect(types).toEqual(expect.arrayContaining(['command', 'echo', 'seq_toolkit', 'sleepy']));
    const echo = plugins.find((p) => p.type === 'echo')!;
    expect(echo.params_schema).toMatchObject({ type: 'object', properties: { message: { type: 'string' } }, required: ['message'] });
    expect(plugins.find((p) => p.type === 'command')!.params_schema.properties).toHaveProperty('args');
  });

  it('config prints the effective configuration with the password masked', async () => {
    const r = await cli(['config', '--json'], { DATABASE_URL: 'postgres://app:s3cret-pw@db.example:5432/app' });
    expect(r.exitCode).toBe(0);
    const shown = JSON.parse(r.stdout);
    expect(shown.databaseUrl).toBe('postgres://app:****@db.example:5432/app');
    expect(shown.schema).toBe(db.schema);
    expect(r.stdout).not.toContain('s3cret-pw');
  });
});
