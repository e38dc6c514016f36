// The Kubernetes API server double, exercised through @kubernetes/client-node 1.4.0 itself.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeApiDouble } from './support/kube-api-double.js';
import { waitFor } from './support/wait.js';

const NS = 'default';
let api: KubeApiDouble;
let kc: k8s.KubeConfig;
let batch: k8s.BatchV1Api;
let core: k8s.CoreV1Api;
let hostDir: string;

beforeEach(async () => {
  hostDir = mkdtempSync(join(tmpdir(), 'kube-double-test-'));
  api = await new KubeApiDouble({
    images: { 'node:20': { entrypoint: [process.execPath] } },
    volumes: { shared: hostDir },
    env: { FROM_OPTION: 'yes' },
    bookmarkIntervalMs: 100,
    podRetryDelayMs: 20,
  }).start();
  kc = new k8s.KubeConfig();
  kc.loadFromOptions(api.kubeconfigOptions());
  batch = kc.makeApiClient(k8s.BatchV1Api);
  core = kc.makeApiClient(k8s.CoreV1Api);
});

afterEach(async () => {
  await api.stop();
  rmSync(hostDir, { recursive: true, force: true });
});

/** A Job running `node -e script` in the `node:20` image. */
function nodeJob(name: string, script: string, mod: (j: k8s.V1Job) => void = () => {}): k8s.V1Job {
  const job: k8s.V1Job = {
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name, labels: { app: 'taskpod', task: name } },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'main', image: 'node:20', args: ['-e', script] }],
        },
      },
    },
  };
  mod(job);
  return job;
}

const cond = (j: k8s.V1Job | Record<string, any> | undefined, type: string): any =>
  j?.status?.conditions?.find((c: any) => c.type === type && c.status === 'True');

async function apiError(p: Promise<unknown>): Promise<k8s.ApiException<string>> {
  try { await p; } catch (e) { return e as k8s.ApiException<string>; }
  throw new Error('expected the call to fail');
}

async function finished(name: string): Promise<Record<string, any>> {
  await waitFor(() => !!(cond(api.job(name), 'Complete') || cond(api.job(name), 'Failed')), 4000, `job ${name} finished`);
  return api.job(name)!;
}

describe('objects through BatchV1Api', () => {
  it('creates, gets, lists and deletes a Job; 409, 404 and 422 come back as ApiException with a Status body', async () => {
    const created = await batch.createNamespacedJob({ namespace: NS, body: nodeJob('a-1', 'setTimeout(()=>{}, 60000)', (j) => { j.spec!.suspend = true; }) });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(created.spec?.template.metadata?.labels?.['batch.kubernetes.io/job-name']).toBe('a-1');
    expect(created.spec?.backoffLimit).toBe(0);

    const got = await batch.readNamespacedJob({ name: 'a-1', namespace: NS });
    expect(got.metadata?.uid).toBe(created.metadata?.uid);
    const list = await batch.listNamespacedJob({ namespace: NS, labelSelector: 'app=taskpod,task in (a-1,b),!absent' });
    expect(list.items.map((j) => j.metadata?.name)).toEqual(['a-1']);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(created.metadata?.resourceVersion));
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: 'app!=taskpod' })).items).toEqual([]);
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: 'task notin (a-1)' })).items).toEqual([]);

    const dup = await apiError(batch.createNamespacedJob({ namespace: NS, body: nodeJob('a-1', '') }));
    expect(dup).toBeInstanceOf(k8s.ApiException);
    expect(dup.code).toBe(409);
    // client-node leaves the body as the raw JSON text.
    expect(typeof dup.body).toBe('string');
    expect(JSON.parse(dup.body)).toMatchObject({
      kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409,
      message: 'jobs.batch "a-1" already exists', details: { name: 'a-1', group: 'batch', kind: 'jobs' },
    });

    const missing = await apiError(batch.readNamespacedJob({ name: 'nope', namespace: NS }));
    expect(missing.code).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ reason: 'NotFound', message: 'jobs.batch "nope" not found' });

    const bad = await apiError(batch.createNamespacedJob({ namespace: NS, body: nodeJob('Bad_Name', '', (j) => { j.spec!.template.spec!.containers = []; }) }));
    expect(bad.code).toBe(422);
    const status = JSON.parse(bad.body);
    expect(status.reason).toBe('Invalid');
    expect(status.details.causes.map((c: any) => c.field)).toEqual(['metadata.name', 'spec.template.spec.containers']);

    const del = await batch.deleteNamespacedJob({ name: 'a-1', namespace: NS, propagationPolicy: 'Background' });
    expect(del.status).toBe('Success');
    expect((await batch.listNamespacedJob({ namespace: NS })).items).toEqual([]);
    expect((await apiError(batch.deleteNamespacedJob({ name: 'a-1', namespace: NS }))).code).toBe(404);
    expect(api.createdJobNames()).toEqual(['a-1']);
  });

  it('answers injected 429 (Retry-After), 500, 403 and observes hung requests time out on the client side', async () => {
    api.failNext(1, 429, { method: 'POST', path: /\/jobs$/ });
    const e429 = await apiError(batch.createNamespacedJob({ namespace: NS, body: nodeJob('f-1', '', (j) => { j.spec!.suspend = true; }) }));
    expect(e429.code).toBe(429);
    expect(e429.headers['retry-after']).toBe('1');
    expect(JSON.parse(e429.body).reason).toBe('TooManyRequests');
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('f-1', '', (j) => { j.spec!.suspend = true; }) });

    api.failNext(1, 500);
    expect(JSON.parse((await apiError(batch.listNamespacedJob({ namespace: NS }))).body).reason).toBe('InternalError');
    api.failNext(1, 403, { method: 'POST' });
    const e403 = await apiError(batch.createNamespacedJob({ namespace: 'z', body: nodeJob('f-2', '') }));
    expect(JSON.parse(e403.body).message).toBe('jobs.batch is forbidden: User "system:serviceaccount:x:y" cannot create resource "jobs" in API group "batch" in the namespace "z"');

    api.hangNext(1, { method: 'GET' });
    // Quirk: per-call options go to the Observable API untouched, so per-call middleware must
    // return client-node's Observable (a PromiseMiddleware fails with "toPromise is not a function").
    const timeout: k8s.Middleware = {
      pre: (ctx) => { ctx.setSignal(AbortSignal.timeout(200)); return new k8s.Observable(Promise.resolve(ctx)); },
      post: (ctx) => new k8s.Observable(Promise.resolve(ctx)),
    };
    const hung = await apiError(batch.listNamespacedJob({ namespace: NS }, { middleware: [timeout], middlewareMergeStrategy: 'append' }));
    expect((hung as unknown as Error).name).toBe('AbortError');
    expect((await batch.listNamespacedJob({ namespace: NS })).items).toHaveLength(1);
    expect(api.requests.filter((r) => r.status === -1)).toHaveLength(1);
  });

  it('writes a kubeconfig file that client-node loads (plain http needs skipTLSVerify)', async () => {
    const path = api.writeKubeconfig(join(hostDir, 'kubeconfig'));
    const kc2 = new k8s.KubeConfig();
    kc2.loadFromFile(path);
    expect(kc2.getCurrentCluster()?.skipTLSVerify).toBe(true);
    expect((await kc2.makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace: NS })).items).toEqual([]);
  });
});
