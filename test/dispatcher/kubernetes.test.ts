// `taskpod dispatch --executor kubernetes` end to end: the real dispatcher process talks to the
// Kubernetes API double through @kubernetes/client-node; the double's kubelet runs each pod's
// `taskpod run --task-id N` as a real process against the real database, with a temporary
// directory as the shared volume. Every failure class must end with its reason on the task.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { oneAfterAnother, setupTestDb, type TestDb } from '../support/db.js';
import { startDispatcher, type RunningDispatcher } from '../support/dispatcher.js';
import { KubeApiDouble, type KubeApiDoubleOptions } from '../support/kube-api-double.js';
import { expectValidObject } from '../support/k8s-schema.js';
import { runCli } from '../support/cli.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import type { Task } from '../../src/tasks/model.js';

let db: TestDb;
let tmp: string;
let api: KubeApiDouble | undefined;
let kubeconfig: string;
const dispatchers: RunningDispatcher[] = [];

beforeAll(async () => {
  db = await setupTestDb('k8s_dispatch');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'taskpod-k8s-'));
});
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop('SIGKILL')));
  // Every Job the dispatcher created, as the API server holds it, is schema-valid. Checked after
  // the cluster stopped, so that a failure leaves no pod running into the next test.
  const jobs = api?.jobs() ?? [];
  await api?.stop();
  api = undefined;
  await db.cancelOpenTasks();
  for (const job of jobs) expectValidObject(job);
});
afterAll(async () => {
  await db?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

async function cluster(options: KubeApiDoubleOptions = {}): Promise<KubeApiDouble> {
  api = await new KubeApiDouble({
    images: { 'taskpod:test': { entrypoint: [process.execPath, cliPath] } },
    volumes: { 'taskpod-data': db.dataDir },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    podRetryDelayMs: 50,
    bookmarkIntervalMs: 200,
    imagePullBackOffDelayMs: 50,
    ...options,
  }).start();
  api.putSecret('taskpod-database', { DATABASE_URL: db.databaseUrl });
  kubeconfig = api.writeKubeconfig(path.join(tmp, 'kubeconfig'));
  return api;
}

function dispatcherEnv(extra: Record<string, string> = {}): Record<string, string> {
  return db.env({
    TASKPOD_EXECUTOR: 'kubernetes',
    TASKPOD_KUBECONFIG: kubeconfig,
    TASKPOD_IMAGE: 'taskpod:test',
    TASKPOD_POLL_MS: '600000',
    TASKPOD_RECONCILE_MS: '300',
    TASKPOD_HEARTBEAT_MS: '200',
    TASKPOD_STALE_SECONDS: '3',
    TASKPOD_RETRY_BASE_SECONDS: '0',
    TASKPOD_START_DEADLINE_SECONDS: '2',
    TASKPOD_KUBE_TIMEOUT_MS: '2000',
    ...extra,
  });
}

async function dispatcher(extra: Record<string, string> = {}): Promise<RunningDispatcher> {
  const d = await startDispatcher(dispatcherEnv(extra));
  dispatchers.push(d);
  return d;
}

const submit = (type: string, params: unknown, extra: { maxAttempts?: number; timeoutSeconds?: number } = {}) =>
  db.store.insert({ taskType: type, params, maxAttempts: extra.maxAttempts ?? 3, timeoutSeconds: extra.timeoutSeconds });
const task = (id: number) => db.task(id);
const until = (id: number, check: (t: Task) => boolean, what: string, ms = 30_000) => db.waitForTask(id, check, what, ms);
const finished = (id: number, status: Task['status'] = 'failed') => until(id, (t) => t.status === status, status);

function expectNoDuplicateJobs(double: KubeApiDouble): void {
  const names = double.createdJobNames();
  expect(new Set(names).size).toBe(names.length);
}

describe('dispatch --executor kubernetes', () => {
  it('submit → Job → runner → output.json → completed, with a schema-valid Job', async () => {
    const double = await cluster();
    const d = await dispatcher();
    const t = await submit('echo', { message: 'hello' });
    await finished(t.id, 'completed');
    const name = `taskpod-${t.id}-1`;
    expect(double.createdJobNames()).toEqual([name]);
    const job = double.job(name)!;
    expectValidObject(job);
    expect(job.spec.template.spec.containers[0].args).toEqual(['run', '--task-id', String(t.id)]);
    expect(job.metadata.labels).toMatchObject({ 'taskpod.dev/task-id': String(t.id), 'taskpod.dev/attempt': '1' });
    await waitFor(() => double.job(name)?.status?.conditions?.some((c: { type: string }) => c.type === 'Complete') ?? false, 10_000, 'Job Complete');
    expect(JSON.parse(readFileSync(db.files.outputPath(t.job_id), 'utf8'))).toMatchObject({ result: 'hello' });
    expect(await task(t.id)).toMatchObject({ attempts: 1, launches: 1, k8s_job_name: name, error_message: null });
    expect((await task(t.id)).worker).toMatch(new RegExp(`^${name}-`)); // the pod's name, from the downward API

    const metrics = (await d.get('/metrics')).body;
    expect(metrics).toContain('taskpod_launches_total{executor="kubernetes",task_type="echo",result="created"} 1');
    expect(JSON.parse((await d.get('/readyz')).body)).toMatchObject({ ok: true, database: true, executor: true });
    // Neither params values nor the database's credentials reach the dispatcher's log.
    expect(d.stderr()).not.toContain('hello');
    expect(d.stderr()).not.toContain(db.databaseUrl);
  });

  it('a kubeconfig that does not exist stops start-up with exit 2 naming it', async () => {
    await cluster();
    const r = await runCli(['dispatch'], dispatcherEnv({ TASKPOD_KUBECONFIG: '/nonexistent/kubeconfig' }));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Invalid configuration: kubeconfig (env TASKPOD_KUBECONFIG): /nonexistent/kubeconfig does not exist');
    const badContext = await runCli(['dispatch'], dispatcherEnv({ TASKPOD_KUBE_CONTEXT: 'nope' }));
    expect(badContext.exitCode).toBe(2);
    expect(badContext.stderr).toContain('kubeconfig (env TASKPOD_KUBECONFIG)');
  });

  it('OOMKilled: the reason with the memory limit, and the log tail, on the failed task', async () => {
    await cluster();
    await dispatcher({ TASKPOD_TYPE_RESOURCES: JSON.stringify({ hog: { limits: { memory: '160Mi' } } }) });
    const t = await submit('hog', { memory_mb: 400 });
    await finished(t.id);
    const failed = await task(t.id);
    expect(failed.error_message).toBe('OOMKilled (exit 137): memory limit 160Mi');
    expect(failed.log_tail).toContain(`Executing task ${t.id}`);
    expect(failed.attempts).toBe(1);
  });

  it('DeadlineExceeded: a runner too busy to enforce its own timeout is stopped by the Job', async () => {
    const double = await cluster();
    const template = path.join(tmp, 'short-grace.yaml');
    writeFileSync(template, 'spec:\n  terminationGracePeriodSeconds: 1\n');
    await dispatcher({ TASKPOD_JOB_DEADLINE_GRACE_SECONDS: '0', TASKPOD_POD_TEMPLATE_FILE: template });
    const t = await submit('hog', { block_ms: 20_000 }, { timeoutSeconds: 1 });
    await finished(t.id);
    expect((await task(t.id)).error_message).toBe('DeadlineExceeded: the Job ran longer than its activeDeadlineSeconds (1 s)');
    expect(double.job(`taskpod-${t.id}-1`)!.spec.activeDeadlineSeconds).toBe(1);
  });

  it('a runner that dies with exit 1 before recording anything fails the task with the exit code and log', async () => {
    await cluster();
    await dispatcher();
    const t = await submit('hog', { exit_code: 1 });
    await finished(t.id);
    const failed = await task(t.id);
    expect(failed.error_message).toBe('PodFailurePolicy: exit 1 (the task failed, or the runner hit an error)');
    expect(failed.log_tail).toContain('hog: exiting with 1 before the runner records anything');
  });

  it('a task the runner fails itself keeps the runner\'s message; the Job is not retried', async () => {
    const double = await cluster();
    await dispatcher();
    const t = await submit('echo', { nope: 1 });
    await finished(t.id);
    await until(t.id, (x) => x.log_tail !== null, 'log tail');
    expect((await task(t.id)).error_message).toMatch(/^Invalid params for echo/);
    expect(double.podsOfJob(`taskpod-${t.id}-1`)).toHaveLength(1);
  });

  it('ImagePullBackOff: failed with the image named, and the stuck Job deleted', async () => {
    const double = await cluster();
    await dispatcher({ TASKPOD_IMAGE: 'registry.example/taskpod:missing' });
    const t = await submit('echo', { message: 'x' });
    await finished(t.id);
    expect((await task(t.id)).error_message).toBe('ImagePullBackOff: Back-off pulling image "registry.example/taskpod:missing" (not started within 2 s)');
    await waitFor(() => double.job(`taskpod-${t.id}-1`) === undefined, 10_000, 'stuck Job deleted');
  });

  it('Unschedulable: the scheduler\'s message, from a pod template with a node selector', async () => {
    await cluster();
    const template = path.join(tmp, 'pod-template.yaml');
    writeFileSync(template, 'spec:\n  nodeSelector:\n    disktype: ssd\n  tolerations:\n  - key: dedicated\n    operator: Exists\n');
    await dispatcher({ TASKPOD_POD_TEMPLATE_FILE: template });
    const t = await submit('echo', { message: 'x' });
    await finished(t.id);
    expect((await task(t.id)).error_message).toMatch(/^Unschedulable: 0\/1 nodes are available: .*node affinity\/selector.* \(not started within 2 s\)$/);
  });

  it('CreateContainerConfigError and FailedMount: a missing Secret, a missing volume claim', async () => {
    await cluster();
    await dispatcher({ TASKPOD_DATABASE_SECRET: 'no-such-secret' });
    const t = await submit('echo', { message: 'x' });
    await finished(t.id);
    expect((await task(t.id)).error_message).toMatch(/^CreateContainerConfigError: secret "no-such-secret" not found \(not started within 2 s\)$/);
    await dispatchers.pop()!.stop('SIGKILL');
    await api!.stop();

    const double = await cluster({ volumes: {} });
    await dispatcher();
    const u = await submit('echo', { message: 'y' });
    await finished(u.id);
    expect((await task(u.id)).error_message).toMatch(/^FailedMount: .*persistentvolumeclaim "taskpod-data" not found.* \(not started within 2 s\)$/);
    expectNoDuplicateJobs(double);
  });

  it('cancellation deletes the Job; the runner sees its AbortSignal', async () => {
    const double = await cluster();
    await dispatcher();
    const t = await submit('sleepy', { ms: 60_000 });
    const dir = db.files.taskDir(t.job_id);
    await waitFor(() => existsSync(path.join(dir, 'started')), 30_000, 'started');
    expect((await runCli(['cancel', String(t.id)], db.env())).exitCode).toBe(0);
    await waitFor(() => existsSync(path.join(dir, 'aborted')), 10_000, 'plugin aborted');
    await waitFor(() => double.job(`taskpod-${t.id}-1`) === undefined, 10_000, 'Job deleted');
    expect(await task(t.id)).toMatchObject({ status: 'cancelled', error_message: 'Cancelled by request' });
  });

  it('an evicted pod is replaced inside the same Job; the task completes on its second attempt', async () => {
    const double = await cluster();
    await dispatcher();
    const t = await submit('sleepy', { ms: 1500 });
    const name = `taskpod-${t.id}-1`;
    await waitFor(() => existsSync(path.join(db.files.taskDir(t.job_id), 'started')), 30_000, 'started');
    double.evictPod(double.podsOfJob(name)[0].metadata.name);
    await finished(t.id, 'completed');
    expect(await task(t.id)).toMatchObject({ attempts: 2, launches: 1 });
    expect(double.podsOfJob(name)).toHaveLength(2);
    expectNoDuplicateJobs(double);
  });

  it('a pod killed outright is an infrastructure failure: the dispatcher retries with a new Job, after a backoff', async () => {
    const double = await cluster();
    await dispatcher();
    const t = await submit('sleepy', { ms: 60_000 });
    await waitFor(() => existsSync(path.join(db.files.taskDir(t.job_id), 'started')), 30_000, 'started');
    double.killPod(double.podsOfJob(`taskpod-${t.id}-1`)[0].metadata.name, 'SIGKILL');
    const runs = path.join(db.files.taskDir(t.job_id), 'runs.log');
    await waitFor(() => readFileSync(runs, 'utf8').includes('attempt=2'), 30_000, 'second attempt running');
    const retried = await task(t.id);
    expect(retried).toMatchObject({ status: 'running', attempts: 2, launches: 2, k8s_job_name: `taskpod-${t.id}-2` });
    expect(retried.error_message).toBeNull(); // cleared when the new attempt started
    expect(double.createdJobNames()).toEqual([`taskpod-${t.id}-1`, `taskpod-${t.id}-2`]);
  });

  it('a Job deleted by hand under a queued task is created again; a Job with no live task is deleted', async () => {
    const double = await cluster();
    await dispatcher({ TASKPOD_IMAGE: 'not-pulled:yet', TASKPOD_START_DEADLINE_SECONDS: '600' });
    const t = await submit('echo', { message: 'x' });
    const name = `taskpod-${t.id}-1`;
    await waitFor(() => double.job(name) !== undefined, 10_000, 'Job created');
    double.deleteJob(name);
    await waitFor(() => double.createdJobNames().filter((n) => n === name).length === 2, 10_000, 'Job created again');

    expect((await runCli(['cancel', String(t.id)], db.env())).exitCode).toBe(0);
    await waitFor(() => double.job(name) === undefined, 10_000, 'Job of the cancelled task deleted');

    // A taskpod Job whose task row does not exist (deleted from the table, or another database).
    const orphan = await db.store.insert({ taskType: 'echo', params: { message: 'gone' }, maxAttempts: 1 });
    const printed = await runCli(['manifest', '--task-id', String(orphan.id)], dispatcherEnv());
    await db.client.query(`DELETE FROM "${db.schema}".tasks WHERE id = $1`, [orphan.id]);
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(double.kubeconfigOptions());
    await kc.makeApiClient(k8s.BatchV1Api).createNamespacedJob({ namespace: 'default', body: k8s.loadYaml<k8s.V1Job>(printed.stdout) });
    await waitFor(() => double.job(`taskpod-${orphan.id}-1`) === undefined, 10_000, 'orphan Job deleted');
  });

  it('a suspended (Kueue) Job is not timed out while it waits for admission, and runs once admitted', async () => {
    const double = await cluster();
    const d = await dispatcher({ TASKPOD_KUEUE_QUEUE: 'team-a', TASKPOD_START_DEADLINE_SECONDS: '1' });
    const t = await submit('echo', { message: 'queued in kueue' });
    const name = `taskpod-${t.id}-1`;
    await waitFor(() => double.job(name) !== undefined, 10_000, 'Job created');
    expect(double.job(name)!.metadata.labels?.['kueue.x-k8s.io/queue-name']).toBe('team-a');
    // Let the start deadline pass, then see several reconcile passes leave the task alone.
    const reconciles = async () => Number((await d.get('/metrics')).body.match(/taskpod_reconciles_total\{trigger="interval",result="ok"\} (\d+)/)?.[1] ?? 0);
    const deadlinePassed = Date.now() + 1_000;
    await waitFor(() => Date.now() > deadlinePassed, 5_000, 'start deadline passed');
    const seen = await reconciles();
    await waitFor(async () => (await reconciles()) >= seen + 3, 10_000, 'three more reconcile passes');
    expect((await task(t.id)).status).toBe('queued');
    double.resumeJob(name);
    await finished(t.id, 'completed');
  });

  it('a dispatcher killed mid-flight and restarted adopts what exists: no duplicate Job, no lost task', async () => {
    const double = await cluster();
    const first = await dispatcher();
    const tasks = await oneAfterAnother(12, (i) => submit('sleepy', { ms: 200 + i * 20 }));
    await waitFor(() => double.createdJobNames().length >= 4, 20_000, 'some Jobs created');
    await first.stop('SIGKILL');
    dispatchers.splice(dispatchers.indexOf(first), 1);
    await dispatcher();
    for (const t of tasks) await finished(t.id, 'completed');
    expectNoDuplicateJobs(double);
    expect(double.createdJobNames()).toHaveLength(tasks.length);
    const { rows } = await db.client.query(`SELECT count(*)::int AS n FROM "${db.schema}".tasks WHERE id = ANY($1) AND launches = 1 AND attempts = 1`, [tasks.map((t) => t.id)]);
    expect(rows[0].n).toBe(tasks.length);
  });

  it('two dispatchers at once: every task completed, no Job created twice', async () => {
    const double = await cluster();
    await Promise.all([dispatcher(), dispatcher()]);
    const tasks = await oneAfterAnother(16, (i) => submit('echo', { message: `m${i}` }));
    for (const t of tasks) await finished(t.id, 'completed');
    expectNoDuplicateJobs(double);
    expect(double.createdJobNames()).toHaveLength(tasks.length);
  });

  it('429, 500 and a hung request on create are retried: one Job each, all completed', async () => {
    const double = await cluster();
    double.failNext(2, 429, { method: 'POST', path: /\/jobs$/ });
    double.failNext(2, 500, { method: 'POST', path: /\/jobs$/ });
    double.hangNext(1, { method: 'POST', path: /\/jobs$/ });
    const d = await dispatcher({ TASKPOD_KUBE_TIMEOUT_MS: '500' });
    const tasks = await oneAfterAnother(3, (i) => submit('echo', { message: `r${i}` }));
    for (const t of tasks) await finished(t.id, 'completed');
    expectNoDuplicateJobs(double);
    const metrics = (await d.get('/metrics')).body;
    expect(metrics).toMatch(/taskpod_kube_api_errors_total\{verb="create",code="429"\} 2/);
    expect(metrics).toMatch(/taskpod_kube_api_errors_total\{verb="create",code="500"\} 2/);
    expect(metrics).toMatch(/taskpod_kube_api_errors_total\{verb="create",code="0"\} 1/);
  });

  it('403 and 422 on create fail the task with the API\'s message', async () => {
    const double = await cluster();
    double.failNext(1, 403, { method: 'POST', path: /\/jobs$/ });
    await dispatcher();
    const t = await submit('echo', { message: 'x' });
    await finished(t.id);
    expect((await task(t.id)).error_message).toMatch(new RegExp(`^Could not create taskpod-${t.id}-1: the API answered 403: Forbidden: jobs.batch is forbidden: `));
    double.failNext(1, 422, { method: 'POST', path: /\/jobs$/ });
    const u = await submit('echo', { message: 'y' });
    await finished(u.id);
    expect((await task(u.id)).error_message).toMatch(new RegExp(`^Could not create taskpod-${u.id}-1: the API answered 422: Invalid: `));
  });

  it('dropped watches and 410 Gone do not lose track: tasks still complete, stale tasks still settle', async () => {
    const double = await cluster();
    await dispatcher({ TASKPOD_RECONCILE_MS: '60000' });
    const a = await submit('echo', { message: 'a' });
    await finished(a.id, 'completed');
    double.dropWatches();
    const b = await submit('hog', { exit_code: 3 });
    await finished(b.id);
    expect((await task(b.id)).error_message).toBe('PodFailurePolicy: exit 3');
    double.expireWatches();
    const c = await submit('hog', { exit_code: 4 });
    await finished(c.id);
    expect((await task(c.id)).error_message).toBe('PodFailurePolicy: exit 4');
  });

  it('the API server down at start: the dispatcher stays up, not ready, and catches up when it answers', async () => {
    const double = await cluster();
    double.failNext(1_000_000, 503);
    const d = await dispatcher({ TASKPOD_RECONCILE_MS: '200' });
    const t = await submit('echo', { message: 'x' });
    await waitFor(async () => (await d.get('/readyz')).status === 503, 40_000, 'not ready');
    double.clearFaults();
    await finished(t.id, 'completed');
    await waitFor(async () => (await d.get('/readyz')).status === 200, 40_000, 'ready again');
  });

  it('taskpod manifest prints the Job the dispatcher would create; applied by hand, it runs the task', async () => {
    const double = await cluster();
    const t = await submit('echo', { message: 'by kubectl' });
    const printed = await runCli(['manifest', '--task-id', String(t.id)], dispatcherEnv());
    expect(printed.exitCode).toBe(0);
    const job = k8s.loadYaml<k8s.V1Job>(printed.stdout);
    expectValidObject(job);
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(double.kubeconfigOptions());
    await kc.makeApiClient(k8s.BatchV1Api).createNamespacedJob({ namespace: 'default', body: job });
    await finished(t.id, 'completed');
  });
});
