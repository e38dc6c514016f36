// The chart's containers, run as the kubelet would run them: each rendered container's args
// ($(VAR) expanded from its environment) through the real taskpod CLI, with the environment the
// pod would have (the ConfigMap, DATABASE_URL, the downward API), against the real database.
// The migrate hook migrates, a schedule's Job retried by Kubernetes submits once, and the
// `helm test` pod waits until a drain schedule's pod has run its task.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { setupTestDb, type TestDb } from '../support/db.js';
import { HELMS, ensureHelm, findOne, podSpecOf, renderChart, type K8sObject } from '../support/helm.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { loadConfig } from '../../src/config.js';
import { connectClient } from '../../src/db/pool.js';
import { isMigrated } from '../../src/db/migrate.js';

let db: TestDb;
let objects: K8sObject[];

beforeAll(async () => {
  const { bin } = await ensureHelm(HELMS[1]);
  objects = await renderChart(bin, {
    values: ['helm/taskpod/ci/default-values.yaml'],
    set: {
      schedules: [
        { name: 'nightly', schedule: '0 3 * * *', type: 'seq_toolkit', params: { operation: 'gc_content', sequence: 'ACGTGC' }, priority: 7, maxAttempts: 2, timeout: 60 },
        { name: 'drain', schedule: '*/5 * * * *', mode: 'drain' },
      ],
    },
  });
  db = await setupTestDb('helm_commands');
}, 300_000);
afterAll(async () => { await db?.cleanup(); });
// Each test starts with no runnable task.
afterEach(async () => { await db.cancelOpenTasks(); });

interface PodContext { podName: string; labels?: Record<string, string>; schema?: string }

/** The container's environment as the kubelet builds it (envFrom, then env), for this machine. */
function containerEnv(container: Record<string, any>, ctx: PodContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) Object.assign(env, findOne(objects, 'ConfigMap', from.configMapRef.name).data);
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = db.databaseUrl; // the database Secret's only value
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = ctx.podName;
    else {
      const label = /^metadata\.labels\['(.+)'\]$/.exec(e.valueFrom?.fieldRef?.fieldPath ?? '');
      if (!label || ctx.labels?.[label[1]] === undefined) throw new Error(`cannot resolve env ${e.name}: ${JSON.stringify(e.valueFrom)}`);
      env[e.name] = ctx.labels[label[1]];
    }
  }
  // The shared volume is a local directory here, where the container mounts it; a container
  // without the mount gets a directory that does not exist. The database schema is this test's.
  if (env.TASKPOD_DATA_DIR) {
    const mounted = (container.volumeMounts ?? []).some((m: { mountPath: string }) => m.mountPath === env.TASKPOD_DATA_DIR);
    env.TASKPOD_DATA_DIR = mounted ? db.dataDir : `${db.dataDir}/not-mounted`;
  }
  env.TASKPOD_SCHEMA = ctx.schema ?? db.schema;
  return env;
}

/** $(VAR) references in args, expanded like the kubelet does ($$ escapes, unknown ones stay). */
function expand(args: string[], env: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => (m === '$$' ? '$' : name && env[name] !== undefined ? env[name] : m)));
}

function run(container: Record<string, any>, ctx: PodContext) {
  const env = containerEnv(container, ctx);
  expect(container.command).toBeUndefined(); // the image's entrypoint: the taskpod CLI
  return execa(process.execPath, [cliPath, ...expand(container.args, env)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, NODE_OPTIONS: '' }, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000,
  });
}

const containerOf = (o: K8sObject) => podSpecOf(o)!.containers[0] as Record<string, any>;
const count = async (where: string, values: unknown[] = []) =>
  Number((await db.client.query(`SELECT count(*) AS n FROM "${db.schema}".tasks WHERE ${where}`, values)).rows[0].n);

describe('the chart\'s commands, run by the real CLI', () => {
  it('the migrate hook creates the schema, and running it again changes nothing', async () => {
    const schema = `t_helm_hook_${randomBytes(4).toString('hex')}`;
    const hook = containerOf(findOne(objects, 'Job', 'taskpod-migrate'));
    try {
      for (let i = 0; i < 2; i++) {
        const r = await run(hook, { podName: 'taskpod-migrate-x1', schema });
        expect(r.exitCode, String(r.stderr)).toBe(0);
      }
      const client = await connectClient(loadConfig({ ...process.env, ...db.env(), DATABASE_URL: db.databaseUrl, TASKPOD_SCHEMA: schema }));
      try {
        expect(await isMigrated(client, schema)).toBe(true);
      } finally {
        await client.end();
      }
    } finally {
      await db.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('a submit schedule: the Job Kubernetes retries (same Job name) submits once; the next scheduled Job submits again', async () => {
    const cron = findOne(objects, 'CronJob', 'taskpod-nightly');
    const container = containerOf(cron);
    const job = (name: string) => ({ podName: `${name}-${randomBytes(3).toString('hex')}`, labels: { 'batch.kubernetes.io/job-name': name } });
    const first = await run(container, job('taskpod-nightly-29441820'));
    expect(first.exitCode, String(first.stderr)).toBe(0);
    const retried = await run(container, job('taskpod-nightly-29441820'));
    expect(retried.exitCode, String(retried.stderr)).toBe(0);
    expect(await count(`task_type = 'seq_toolkit' AND dedupe_key = $1`, ['taskpod-nightly-29441820'])).toBe(1);
    const row = (await db.client.query(`SELECT params, priority, max_attempts, timeout_seconds FROM "${db.schema}".tasks WHERE dedupe_key = $1`, ['taskpod-nightly-29441820'])).rows[0];
    expect(row).toEqual({ params: { operation: 'gc_content', sequence: 'ACGTGC' }, priority: 7, max_attempts: 2, timeout_seconds: 60 });
    const next = await run(container, job('taskpod-nightly-29443260'));
    expect(next.exitCode, String(next.stderr)).toBe(0);
    expect(await count(`dedupe_key LIKE 'taskpod-nightly-%'`)).toBe(2);
  });

  it('`helm test`: the test pod waits while a drain schedule\'s pod runs its task, then exits 0 with the completed task', async () => {
    const testPod = findOne(objects, 'Pod', 'taskpod-test');
    const pending = () => count(`status = 'pending' AND task_type = 'seq_toolkit'`);
    expect(await pending()).toBe(0);
    const waiting = run(containerOf(testPod), { podName: 'taskpod-test' });
    await waitFor(async () => (await pending()) === 1, 20_000, 'the test pod submitted its task');
    const drain = containerOf(findOne(objects, 'CronJob', 'taskpod-drain'));
    const ran = await run(drain, { podName: 'taskpod-drain-29441820-abcde' });
    expect(ran.exitCode, String(ran.stderr)).toBe(0);
    const result = await waiting;
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const printed = JSON.parse(String(result.stdout).trim().split('\n').at(-1)!);
    expect(printed).toMatchObject({ status: 'completed' });
    const task = await db.task(printed.task_id);
    expect(task).toMatchObject({ status: 'completed', worker: expect.stringMatching(/^taskpod-drain-29441820-abcde/) });
    // The drain pod wrote the output to the shared volume.
    expect(await db.files.readOutput(task.job_id)).toMatchObject({ result: 'ACGT' });
    // An idle drain pod exits 0: an empty queue is not a failed CronJob run.
    const idle = await run(drain, { podName: 'taskpod-drain-29441825-fghij' });
    expect(idle.exitCode).toBe(0);
  });
});
