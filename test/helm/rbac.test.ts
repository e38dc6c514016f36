// The chart's Role against what the dispatcher really calls: the dispatcher runs with the
// chart's own ConfigMap as its environment against the Kubernetes API double, through a task that
// completes, one that fails (its log tail read), and one stuck at the start deadline (events read,
// Job deleted); the (resource, verb) pairs it used must equal the Role's grants, both ways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setupTestDb, type TestDb } from '../support/db.js';
import { startDispatcher, type RunningDispatcher } from '../support/dispatcher.js';
import { KubeApiDouble, type RequestRecord } from '../support/kube-api-double.js';
import { HELMS, ensureHelm, findOne, renderChart, type K8sObject } from '../support/helm.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const NAMESPACE = 'default';
let db: TestDb;
let tmp: string;
let api: KubeApiDouble | undefined;
let objects: K8sObject[];
let chartEnv: Record<string, string>;
const dispatchers: RunningDispatcher[] = [];

beforeAll(async () => {
  const { bin } = await ensureHelm(HELMS[0]);
  objects = await renderChart(bin, {
    namespace: NAMESPACE,
    values: ['helm/taskpod/ci/default-values.yaml'],
    set: { image: { repository: 'taskpod', tag: 'test' }, dispatcher: { startDeadlineSeconds: 2 } },
  });
  chartEnv = findOne(objects, 'ConfigMap').data;
  db = await setupTestDb('helm_rbac');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'taskpod-helm-rbac-'));
}, 300_000);

afterAll(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop('SIGKILL')));
  await api?.stop();
  await db?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The dispatcher's environment: the chart's ConfigMap, with only what this machine needs changed. */
function dispatcherEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...chartEnv,
    ...db.env(),                                  // DATABASE_URL (the Secret's value in the cluster), the test's schema and data directory
    DATABASE_URL: db.databaseUrl,
    TASKPOD_KUBECONFIG: api!.writeKubeconfig(path.join(tmp, 'kubeconfig'), NAMESPACE), // in a pod: the ServiceAccount's token
    TASKPOD_PORT: '0',
    TASKPOD_LISTEN_HOST: '127.0.0.1',
    TASKPOD_POLL_MS: '600000',
    TASKPOD_RECONCILE_MS: '300',
    TASKPOD_HEARTBEAT_MS: '200',
    TASKPOD_RETRY_BASE_SECONDS: '0',
    TASKPOD_KUBE_TIMEOUT_MS: '2000',
    ...extra,
  };
}

type Grant = string; // "<group>/<resource>:<verb>", group "" for core

/** What a request to the API server needs from RBAC: the resource and verb, or the non-resource path. */
function rbacOf(r: RequestRecord): { grant?: Grant; namespace?: string; nonResource?: string } {
  const parts = r.path.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') { group = ''; rest = parts.slice(2); }
  else if (parts[0] === 'apis' && parts.length >= 3) { group = parts[1]; rest = parts.slice(3); }
  else return { nonResource: r.path };
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) { namespace = rest[1]; rest = rest.slice(2); }
  const [resource, name, sub] = rest;
  if (!resource) return { nonResource: r.path };
  const target = sub ? `${resource}/${sub}` : resource;
  const verb = r.method === 'GET' ? (r.watch ? 'watch' : name ? 'get' : 'list')
    : r.method === 'POST' ? 'create'
      : r.method === 'DELETE' ? (name ? 'delete' : 'deletecollection')
        : r.method === 'PUT' ? 'update' : r.method === 'PATCH' ? 'patch' : r.method.toLowerCase();
  return { grant: `${group}/${target}:${verb}`, namespace };
}

function grantsOf(role: K8sObject): Set<Grant> {
  const grants = new Set<Grant>();
  for (const rule of role.rules as Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>) {
    expect(rule.resourceNames).toBeUndefined();
    for (const g of rule.apiGroups) for (const res of rule.resources) for (const v of rule.verbs) {
      expect([g, res, v], 'no wildcards').not.toContain('*');
      grants.add(`${g}/${res}:${v}`);
    }
  }
  return grants;
}

describe('the Role and the dispatcher', () => {
  it('the dispatcher uses exactly what the Role grants: no missing grant, no unused one', async () => {
    api = await new KubeApiDouble({
      images: { 'taskpod:test': { entrypoint: [process.execPath, cliPath] } },
      volumes: { [chartEnv.TASKPOD_PVC]: db.dataDir },
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      podRetryDelayMs: 50,
      bookmarkIntervalMs: 200,
      imagePullBackOffDelayMs: 50,
    }).start();
    // The Secret the chart makes, under the name and key the ConfigMap gives the Jobs.
    api.putSecret(chartEnv.TASKPOD_DATABASE_SECRET, { [chartEnv.TASKPOD_DATABASE_SECRET_KEY]: db.databaseUrl }, NAMESPACE);
    expect(chartEnv).toMatchObject({ TASKPOD_NAMESPACE: NAMESPACE, TASKPOD_IMAGE: 'taskpod:test', TASKPOD_START_DEADLINE_SECONDS: '2' });

    // 1. A task that completes, and one that fails with a log tail, and the readiness check.
    const d = await startDispatcher(dispatcherEnv());
    dispatchers.push(d);
    const ok = await db.store.insert({ taskType: 'echo', params: { message: 'through the chart' }, maxAttempts: 1 });
    const bad = await db.store.insert({ taskType: 'hog', params: { exit_code: 1 }, maxAttempts: 1 });
    await db.waitForTask(ok.id, (t) => t.status === 'completed', 'completed');
    await db.waitForTask(bad.id, (t) => t.status === 'failed' && t.log_tail !== null, 'failed with a log tail');
    expect((await db.task(bad.id)).log_tail).toContain('hog: exiting with 1');
    await waitFor(async () => (await d.get('/readyz')).status === 200, 10_000, 'ready');
    // The Job names come from the chart's prefix.
    expect(api.createdJobNames()).toContain(`${chartEnv.TASKPOD_JOB_PREFIX}-${ok.id}-1`);
    await d.stop();

    // 2. A pod that never starts, with no container status to say why (its volume claim is
    // missing): the reason from its events, and the stuck Job deleted.
    const stuck = await startDispatcher(dispatcherEnv({ TASKPOD_PVC: 'no-such-claim' }));
    dispatchers.push(stuck);
    const t = await db.store.insert({ taskType: 'echo', params: { message: 'x' }, maxAttempts: 1 });
    await db.waitForTask(t.id, (x) => x.status === 'failed', 'failed at the start deadline');
    expect((await db.task(t.id)).error_message).toMatch(/^FailedMount: .*persistentvolumeclaim "no-such-claim" not found/);
    await waitFor(() => api!.job(`${chartEnv.TASKPOD_JOB_PREFIX}-${t.id}-1`, NAMESPACE) === undefined, 10_000, 'stuck Job deleted');
    await stuck.stop();

    // What it called, as RBAC sees it.
    const used = new Set<Grant>();
    const nonResource = new Set<string>();
    for (const r of api.requests) {
      const { grant, namespace, nonResource: path } = rbacOf(r);
      if (path) { nonResource.add(path); continue; }
      expect(namespace, `${r.method} ${r.path}: only the release namespace (the Role is namespaced)`).toBe(NAMESPACE);
      used.add(grant!);
    }
    expect([...nonResource]).toEqual([]);
    const granted = grantsOf(findOne(objects, 'Role'));
    const sorted = (s: Set<string>) => [...s].sort();
    expect(sorted(used)).toEqual(sorted(granted));
    // Spelled out, so that a change shows here too.
    expect(sorted(granted)).toEqual([
      '/events:list', '/pods/log:get', '/pods:list', '/pods:watch', 'batch/jobs:create', 'batch/jobs:delete', 'batch/jobs:list', 'batch/jobs:watch',
    ]);
    // The ServiceAccount the Role is bound to is the dispatcher's.
    const binding = findOne(objects, 'RoleBinding');
    expect(binding.subjects[0].name).toBe(findOne(objects, 'Deployment').spec.template.spec.serviceAccountName);
    expect(binding.subjects[0].namespace).toBe(NAMESPACE);
  }, 120_000);

  it('rbacOf reads verbs the way the API server authorizes them', () => {
    const r = (method: string, p: string, watch = false) => rbacOf({ method, path: p, query: {}, status: 200, time: 0, watch });
    expect(r('GET', '/apis/batch/v1/namespaces/ns/jobs')).toEqual({ grant: 'batch/jobs:list', namespace: 'ns' });
    expect(r('GET', '/apis/batch/v1/namespaces/ns/jobs', true).grant).toBe('batch/jobs:watch');
    expect(r('GET', '/apis/batch/v1/namespaces/ns/jobs/j').grant).toBe('batch/jobs:get');
    expect(r('POST', '/apis/batch/v1/namespaces/ns/jobs').grant).toBe('batch/jobs:create');
    expect(r('DELETE', '/apis/batch/v1/namespaces/ns/jobs/j').grant).toBe('batch/jobs:delete');
    expect(r('DELETE', '/apis/batch/v1/namespaces/ns/jobs').grant).toBe('batch/jobs:deletecollection');
    expect(r('GET', '/api/v1/namespaces/ns/pods/p/log').grant).toBe('/pods/log:get');
    expect(r('PATCH', '/api/v1/namespaces/ns/pods/p').grant).toBe('/pods:patch');
    expect(r('GET', '/api/v1/pods')).toEqual({ grant: '/pods:list', namespace: undefined });
    expect(r('GET', '/version')).toEqual({ nonResource: '/version' });
  });
});
