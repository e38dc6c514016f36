// examples/: the plain manifests a user applies with kubectl. Each object is schema-checked, then
// run the way Kubernetes would run it: client-node creates the Job (or the Job a CronJob makes)
// in the API double, whose kubelet runs the container's args through the real CLI against the
// real database, with a temporary directory as the claim taskpod-data.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import * as k8s from '@kubernetes/client-node';
import { setupTestDb, type TestDb } from './support/db.js';
import { KubeApiDouble, type KObj } from './support/kube-api-double.js';
import { expectValidObject } from './support/k8s-schema.js';
import { cliPath, repoRoot } from './support/paths.js';
import { waitFor } from './support/wait.js';
import type { Task } from '../src/tasks/model.js';

const EXAMPLES = path.join(repoRoot, 'examples');
const IMAGE = 'ghcr.io/taskpod/taskpod:0.1.0';

let db: TestDb;
let tmp: string;
let api: KubeApiDouble;
let batch: k8s.BatchV1Api;

function load(file: string): KObj[] {
  return yaml.loadAll(readFileSync(path.join(EXAMPLES, file), 'utf8')).filter(Boolean) as KObj[];
}

beforeAll(async () => {
  db = await setupTestDb('examples');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'taskpod-examples-'));
  api = await new KubeApiDouble({
    images: { [IMAGE]: { entrypoint: [process.execPath, cliPath] } },
    volumes: { 'taskpod-data': db.dataDir },
    // The examples use the default schema; the tests keep to their own.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TASKPOD_SCHEMA: db.schema },
    podRetryDelayMs: 50,
  }).start();
  api.putSecret('taskpod-database', { DATABASE_URL: db.databaseUrl });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(api.writeKubeconfig(path.join(tmp, 'kubeconfig')));
  batch = kc.makeApiClient(k8s.BatchV1Api);
});
afterEach(async () => {
  await db.cancelOpenTasks();
});
afterAll(async () => {
  await api?.stop();
  await db?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const completeOrFailed = (name: string) => waitFor(
  () => api.job(name)?.status?.conditions?.some((c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') ?? false,
  30_000, `Job ${name} finished`);
const jobCondition = (name: string) => api.job(name)!.status.conditions
  .find((c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True').type as string;
const tasksWithKey = async (key: string) => (await db.client.query<Task>(`SELECT * FROM "${db.schema}".tasks WHERE dedupe_key = $1`, [key])).rows;

/** What the CronJob controller creates for a scheduled time: a Job named <cronjob>-<minutes since the epoch>. */
function jobFromCronJob(cronJob: KObj, name: string): k8s.V1Job {
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: { name, labels: cronJob.spec.jobTemplate.metadata?.labels }, spec: structuredClone(cronJob.spec.jobTemplate.spec) };
}

describe('examples/', () => {
  it('every manifest is a valid Kubernetes object, running the image as non-root with a read-only root', () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(['cronjob-drain.yaml', 'cronjob.yaml', 'job.yaml']);
    for (const file of files) {
      for (const obj of load(file)) {
        expectValidObject(obj);
        const pod = obj.kind === 'CronJob' ? obj.spec.jobTemplate.spec.template.spec : obj.spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        expect(pod.automountServiceAccountToken).toBe(false);
        for (const c of pod.containers) {
          expect(c.image).toBe(IMAGE);
          expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        }
      }
    }
  });

  it('job.yaml, with the task id filled in, runs that task to completion', async () => {
    const task = await db.store.insert({ taskType: 'seq_toolkit', params: { operation: 'reverse_complement', sequence: 'AACG' }, maxAttempts: 3 });
    const [job] = load('job.yaml');
    const name = job.metadata.name.replace('5', String(task.id));
    job.metadata.name = name;
    job.spec.template.spec.containers[0].args = ['run', '--task-id', String(task.id)];
    await batch.createNamespacedJob({ namespace: 'default', body: job as k8s.V1Job });
    await completeOrFailed(name);
    expect(jobCondition(name)).toBe('Complete');
    const done = await db.task(task.id);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    expect(done.worker).toMatch(new RegExp(`^${name}-`));
    expect(JSON.parse(readFileSync(db.files.outputPath(task.job_id), 'utf8')).result).toBe('CGTT');
  });

  it('cronjob.yaml submits one task per scheduled time: a retried Job finds it, a manual Job makes a new one', async () => {
    mkdirSync(path.join(db.dataDir, 'reference'), { recursive: true });
    writeFileSync(path.join(db.dataDir, 'reference', 'genome.fasta'), '>chr\nGGCCAT\n');
    const [cronJob] = load('cronjob.yaml');
    const scheduled = `${cronJob.metadata.name}-29381040`;

    await batch.createNamespacedJob({ namespace: 'default', body: jobFromCronJob(cronJob, scheduled) });
    await completeOrFailed(scheduled);
    expect(jobCondition(scheduled)).toBe('Complete');
    const [task] = await tasksWithKey(scheduled);
    expect(task).toMatchObject({ task_type: 'seq_toolkit', status: 'pending', params: { operation: 'gc_content', fasta_file: 'genome.fasta' } });
    expect(readFileSync(path.join(db.files.taskDir(task.job_id), 'genome.fasta'), 'utf8')).toBe('>chr\nGGCCAT\n');

    // Kubernetes runs the same Job's pod again (a lost node, an eviction): same Job name, same key.
    api.deleteJob(scheduled);
    await waitFor(() => api.job(scheduled) === undefined && api.podsOfJob(scheduled).length === 0, 10_000, 'old Job gone');
    await batch.createNamespacedJob({ namespace: 'default', body: jobFromCronJob(cronJob, scheduled) });
    await completeOrFailed(scheduled);
    expect(jobCondition(scheduled)).toBe('Complete');
    const [pod] = api.podsOfJob(scheduled);
    expect(api.podLog(pod.metadata.name)).toContain(`Task ${task.id} already submitted with dedupe key "${scheduled}"`);
    expect(await tasksWithKey(scheduled)).toHaveLength(1);

    // kubectl create job --from=cronjob/taskpod-nightly-gc taskpod-nightly-gc-manual-1
    const manual = `${cronJob.metadata.name}-manual-1`;
    await batch.createNamespacedJob({ namespace: 'default', body: jobFromCronJob(cronJob, manual) });
    await completeOrFailed(manual);
    const [second] = await tasksWithKey(manual);
    expect(second.id).not.toBe(task.id);
  });

  it('cronjob-drain.yaml runs pending tasks with `run --next`, each once, in parallel pods', async () => {
    const tasks = [];
    for (const sequence of ['AAAC', 'GGGT']) {
      tasks.push(await db.store.insert({ taskType: 'seq_toolkit', params: { operation: 'reverse_complement', sequence }, maxAttempts: 1 }));
    }
    const [cronJob] = load('cronjob-drain.yaml');
    const name = `${cronJob.metadata.name}-29381041`;
    await batch.createNamespacedJob({ namespace: 'default', body: jobFromCronJob(cronJob, name) });
    await completeOrFailed(name);
    expect(jobCondition(name)).toBe('Complete');
    const done = await Promise.all(tasks.map((t) => db.task(t.id)));
    expect(done.map((t) => [t!.status, t!.attempts])).toEqual([['completed', 1], ['completed', 1]]);
    const pods = api.podsOfJob(name).map((p) => p.metadata.name).sort();
    expect(pods).toHaveLength(2);
    expect(done.map((t) => t!.worker).sort()).toEqual(pods);
  });
});
