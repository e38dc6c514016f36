// The Kubernetes API server double, exercised through @kubernetes/client-node 1.4.0 itself.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeApiDouble } from './support/kube-api-double.js';
import { cliPath } from './support/paths.js';
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
    images: { 'node:20': { entrypoint: [process.execPath] }, 'taskpod:test': { entrypoint: [process.execPath, cliPath] } },
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
    const timeout = {
      pre: (ctx: k8s.RequestContext) => { ctx.setSignal(AbortSignal.timeout(200)); return new k8s.Observable(Promise.resolve(ctx)); },
      post: (ctx: k8s.ResponseContext) => new k8s.Observable(Promise.resolve(ctx)),
    };
    // ...while the typings ask for a PromiseMiddleware.
    const perCall = { middleware: [timeout], middlewareMergeStrategy: 'append' } as unknown as Parameters<typeof batch.listNamespacedJob>[1];
    const hung = await apiError(batch.listNamespacedJob({ namespace: NS }, perCall));
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

describe('watch through makeInformer', () => {
  it('sees ADDED/MODIFIED/DELETED and converges after dropWatches() and expireWatches() (410)', async () => {
    const seen: string[] = [];
    const informer = k8s.makeInformer<k8s.V1Job>(kc, `/apis/batch/v1/namespaces/${NS}/jobs`,
      () => batch.listNamespacedJob({ namespace: NS, labelSelector: 'app=taskpod' }), 'app=taskpod');
    informer.on('add', (j) => seen.push(`add ${j.metadata?.name}`));
    informer.on('update', (j) => seen.push(`update ${j.metadata?.name}`));
    informer.on('delete', (j) => seen.push(`delete ${j.metadata?.name}`));
    // Quirk: a watch stream that breaks (not one that ends) goes to 'error' and the informer
    // stops for good; restarting it on error is the caller's job.
    const errors: unknown[] = [];
    informer.on('error', (e) => { errors.push(e); setTimeout(() => { void informer.start(); }, 20); });
    await informer.start();
    const lw = informer as unknown as k8s.ListWatch<k8s.V1Job>;
    const names = (): string[] => informer.list(NS).map((j) => j.metadata!.name!).sort();
    const expectNames = async (want: string[]): Promise<void> =>
      waitFor(() => JSON.stringify(names()) === JSON.stringify(want), 4000, `informer cache = ${want}`);
    try {
      const suspended = (j: k8s.V1Job): void => { j.spec!.suspend = true; };
      await batch.createNamespacedJob({ namespace: NS, body: nodeJob('w-1', '', suspended) });
      await batch.createNamespacedJob({ namespace: NS, body: nodeJob('w-other', '', (j) => { suspended(j); j.metadata!.labels = { app: 'other' }; }) });
      await expectNames(['w-1']);
      api.resumeJob('w-1');
      await waitFor(() => seen.includes('update w-1'), 4000, 'update seen');
      await batch.deleteNamespacedJob({ name: 'w-1', namespace: NS, propagationPolicy: 'Background' });
      await expectNames([]);
      expect(seen.slice(0, 1)).toEqual(['add w-1']);
      expect(seen).toContain('delete w-1');

      // Abrupt close: changes made while nobody watches are still delivered.
      api.dropWatches();
      await batch.createNamespacedJob({ namespace: NS, body: nodeJob('w-2', '', suspended) });
      await expectNames(['w-2']);
      const errorsAfterAbrupt = errors.length;
      expect(errorsAfterAbrupt).toBeGreaterThanOrEqual(1);
      // A graceful end (like timeoutSeconds) is resumed by the informer without an error.
      api.dropWatches('graceful');
      await batch.createNamespacedJob({ namespace: NS, body: nodeJob('w-2b', '', suspended) });
      await expectNames(['w-2', 'w-2b']);
      await batch.deleteNamespacedJob({ name: 'w-2b', namespace: NS, propagationPolicy: 'Background' });
      await expectNames(['w-2']);
      expect(errors.length).toBe(errorsAfterAbrupt);
      const watchesBefore = api.requests.filter((r) => r.watch).length;
      expect(watchesBefore).toBeGreaterThanOrEqual(2);

      // 410: open watches get ERROR Expired, resumption from old resourceVersions too; the informer relists.
      const listsBefore = api.requests.filter((r) => !r.watch && r.method === 'GET' && r.path.endsWith('/jobs')).length;
      const rvBefore = lw.latestResourceVersion();
      api.expireWatches();
      await batch.createNamespacedJob({ namespace: NS, body: nodeJob('w-3', '', suspended) });
      await batch.deleteNamespacedJob({ name: 'w-2', namespace: NS, propagationPolicy: 'Background' });
      await expectNames(['w-3']);
      await waitFor(() => api.requests.filter((r) => !r.watch && r.method === 'GET' && r.path.endsWith('/jobs')).length > listsBefore, 4000, 'relist');
      expect(Number(lw.latestResourceVersion())).toBeGreaterThan(Number(rvBefore));

      // Quirk: client-node's informer never asks for allowWatchBookmarks, so it gets none.
      expect(api.requests.filter((r) => r.watch).every((r) => r.query.allowWatchBookmarks === undefined)).toBe(true);
      expect(errors.length).toBeGreaterThanOrEqual(1);
    } finally {
      await informer.stop();
    }
  });

  it('answers a watch from a resourceVersion older than the history with ERROR 410 Expired', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('e-1', '', (j) => { j.spec!.suspend = true; }) });
    api.expireWatches();
    const events: any[] = [];
    let done: (e: unknown) => void = () => {};
    const ended = new Promise((r) => { done = r; });
    await new k8s.Watch(kc).watch(`/apis/batch/v1/namespaces/${NS}/jobs`, { resourceVersion: '1' }, (type, obj) => events.push({ type, obj }), (e) => done(e));
    expect(await ended).toBeNull();
    expect(events).toEqual([{ type: 'ERROR', obj: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1' }) }]);
  });

  it('streams events after a resourceVersion, with BOOKMARKs when asked, and ends at timeoutSeconds', async () => {
    const first = await batch.createNamespacedJob({ namespace: NS, body: nodeJob('b-1', '', (j) => { j.spec!.suspend = true; }) });
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('b-2', '', (j) => { j.spec!.suspend = true; }) });
    const events: { type: string; name?: string; rv?: string }[] = [];
    let done: (e: unknown) => void = () => {};
    const ended = new Promise((r) => { done = r; });
    await new k8s.Watch(kc).watch(`/apis/batch/v1/namespaces/${NS}/jobs`,
      { resourceVersion: first.metadata!.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 1, labelSelector: 'app=taskpod' },
      (type, obj) => events.push({ type, name: obj.metadata?.name, rv: obj.metadata?.resourceVersion }), (e) => done(e));
    await waitFor(() => events.some((e) => e.type === 'BOOKMARK'), 4000, 'bookmark');
    expect(await ended).toBeNull();
    // b-1 was created at the watch's resourceVersion: only its later changes (status) come.
    const names = events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.name}`);
    expect(names).toContain('ADDED b-2');
    expect(names).not.toContain('ADDED b-1');
    const rvs = events.filter((e) => e.type !== 'BOOKMARK').map((e) => Number(e.rv));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
  });
});

describe('the Job controller and the kubelet', () => {
  it('runs a process that exits 0: pod Succeeded with Completed, Job Complete, the pod log readable with tailLines', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('ok-1', 'console.log("one"); console.error("two"); console.log("three " + process.env.FROM_OPTION + " " + process.env.POD + " " + (process.env.SECRETISH ?? "none"))', (j) => {
      j.spec!.template.spec!.containers[0].env = [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }];
    }) });
    const job = await finished('ok-1');
    expect(cond(job, 'Complete')).toBeTruthy();
    expect(job.status).toMatchObject({ succeeded: 1, ready: 0 });
    expect(job.status.completionTime).toBeTruthy();
    expect(job.status.startTime).toBeTruthy();
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'batch.kubernetes.io/job-name=ok-1' });
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0];
    expect(pod.metadata?.name).toMatch(/^ok-1-[a-z0-9]{5}$/);
    expect(pod.metadata?.labels).toMatchObject({ 'job-name': 'ok-1', 'controller-uid': job.metadata.uid, 'batch.kubernetes.io/job-name': 'ok-1' });
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Job', name: 'ok-1', controller: true });
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const byName = await core.listNamespacedPod({ namespace: NS, fieldSelector: `metadata.name=${pod.metadata!.name}` });
    expect(byName.items).toHaveLength(1);
    const log = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, container: 'main' });
    expect(log.split('\n').sort()).toEqual(['', 'one', `three yes ${pod.metadata!.name} none`, 'two']);
    // stdout and stderr interleave as they come, like the kubelet's log.
    expect(await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, tailLines: 1 })).toBe(`${log.trimEnd().split('\n').pop()}\n`);
    expect((await apiError(core.readNamespacedPodLog({ name: 'nope', namespace: NS }))).code).toBe(404);
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=ok-1' });
    expect(events.items.map((e) => e.reason)).toEqual(['SuccessfulCreate', 'Completed']);
  });

  it('exit 1 matching a FailJob rule fails the Job with reason PodFailurePolicy', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('pfp-1', 'process.exit(1)', (j) => {
      j.spec!.backoffLimit = 3;
      j.spec!.podFailurePolicy = { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [1] } }] };
    }) });
    const job = await finished('pfp-1');
    expect(cond(job, 'Failed')).toMatchObject({ reason: 'PodFailurePolicy', message: expect.stringMatching(/^Container main for pod default\/pfp-1-\w{5} failed with exit code 1 matching FailJob rule at index 0$/) });
    expect(cond(job, 'FailureTarget')).toBeTruthy();
    expect(api.podsOfJob('pfp-1')).toHaveLength(1);
    expect(api.podsOfJob('pfp-1')[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
  });

  it('exit 3 with backoffLimit 1 makes two pods then BackoffLimitExceeded', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('bo-1', 'process.exit(3)', (j) => { j.spec!.backoffLimit = 1; }) });
    const job = await finished('bo-1');
    expect(cond(job, 'Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(job.status.failed).toBe(2);
    expect(api.podsOfJob('bo-1').map((p) => p.status.phase)).toEqual(['Failed', 'Failed']);
  });

  it('exit 75 is counted and retried; a disruption is ignored and does not count', async () => {
    const marker = join(hostDir, 'attempts');
    // First attempt exits 75, second waits to be evicted, third succeeds.
    const script = `const fs=require('fs');const f=process.env.MARK;const n=fs.existsSync(f)?Number(fs.readFileSync(f,'utf8')):0;fs.writeFileSync(f,String(n+1));
      if(n===0)process.exit(75); if(n===1){console.log('waiting');setInterval(()=>{},1000);} else process.exit(0);`;
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('dis-1', script, (j) => {
      j.spec!.backoffLimit = 1;
      j.spec!.template.spec!.containers[0].env = [{ name: 'MARK', value: marker }];
      // Rules apply in order: with FailJob on NotIn [75] first, an eviction (exit 143) would fail the Job.
      j.spec!.podFailurePolicy = { rules: [
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        { action: 'FailJob', onExitCodes: { operator: 'NotIn', values: [75] } },
      ] };
    }) });
    let victim = '';
    await waitFor(() => {
      const p = api.podsOfJob('dis-1').find((x) => x.status.phase === 'Running' && api.podLog(x.metadata.name)?.includes('waiting'));
      victim = p?.metadata.name ?? '';
      return !!p;
    }, 4000, 'second attempt running');
    api.evictPod(victim);
    const job = await finished('dis-1');
    expect(cond(job, 'Complete')).toBeTruthy();
    expect(job.status).toMatchObject({ succeeded: 1, failed: 1 });
    const evicted = api.pod(victim)!;
    expect(evicted.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(evicted.status.conditions).toContainEqual(expect.objectContaining({ type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI' }));
    expect(evicted.status.containerStatuses[0].state.terminated.exitCode).toBe(143);
    expect(api.podsOfJob('dis-1')).toHaveLength(3);
  });

  it('kills a process above limits.memory: OOMKilled, exit 137', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('oom-1', 'const a=[];setInterval(()=>{for(let i=0;i<8;i++)a.push(Buffer.alloc(1<<20,1))},5)', (j) => {
      j.spec!.template.spec!.containers[0].resources = { limits: { memory: '64Mi' } };
    }) });
    const job = await finished('oom-1');
    expect(cond(job, 'Failed')?.reason).toBe('BackoffLimitExceeded');
    expect(api.podsOfJob('oom-1')[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  });

  it('activeDeadlineSeconds kills a sleeping process: DeadlineExceeded', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('dl-1', 'setInterval(()=>{},1000)', (j) => { j.spec!.activeDeadlineSeconds = 1; }) });
    const job = await finished('dl-1');
    expect(cond(job, 'Failed')).toMatchObject({ reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    expect(job.status.active ?? 0).toBe(0);
    expect(api.eventsFor('dl-1').map((e) => e.reason)).toContain('DeadlineExceeded');
  });

  it('leaves pods waiting: ImagePullBackOff, CreateContainerConfigError, Unschedulable, FailedMount', async () => {
    const mk = (name: string, mod: (s: k8s.V1PodSpec) => void): Promise<k8s.V1Job> =>
      batch.createNamespacedJob({ namespace: NS, body: nodeJob(name, 'process.exit(0)', (j) => mod(j.spec!.template.spec!)) });
    await mk('img-1', (s) => { s.containers[0].image = 'nope:1'; });
    await mk('sec-1', (s) => { s.containers[0].env = [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } }]; });
    await mk('sel-1', (s) => { s.nodeSelector = { 'kubernetes.io/os': 'windows' }; });
    await mk('pvc-1', (s) => {
      s.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'missing' } }];
      s.containers[0].volumeMounts = [{ name: 'data', mountPath: '/data' }];
    });
    api.putSecret('db2', { other: 'x' });
    await mk('sec-2', (s) => { s.containers[0].env = [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db2', key: 'url' } } }]; });
    const waitingOf = (job: string): any => api.podsOfJob(job)[0]?.status?.containerStatuses?.[0]?.state?.waiting;
    await waitFor(() => waitingOf('img-1')?.reason === 'ImagePullBackOff', 4000, 'ImagePullBackOff');
    expect(waitingOf('img-1').message).toBe('Back-off pulling image "nope:1"');
    await waitFor(() => waitingOf('sec-1')?.reason === 'CreateContainerConfigError', 4000, 'CreateContainerConfigError');
    expect(waitingOf('sec-1').message).toBe('secret "db" not found');
    await waitFor(() => waitingOf('sec-2')?.reason === 'CreateContainerConfigError', 4000, 'missing key');
    expect(waitingOf('sec-2').message).toBe("couldn't find key url in Secret default/db2");
    await waitFor(() => !!api.podsOfJob('sel-1')[0]?.status?.conditions?.some((c: any) => c.type === 'PodScheduled'), 4000, 'scheduling');
    expect(api.podsOfJob('sel-1')[0].status.conditions).toContainEqual(expect.objectContaining({
      type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
    }));
    await waitFor(() => api.events().some((e) => e.reason === 'FailedMount'), 4000, 'FailedMount');
    const podName = api.podsOfJob('pvc-1')[0].metadata.name;
    const ev = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${podName}` });
    expect(ev.items.find((e) => e.reason === 'FailedMount')).toMatchObject({ type: 'Warning', message: 'MountVolume.SetUp failed for volume "data" : persistentvolumeclaim "missing" not found' });
    expect(api.podsOfJob('pvc-1')[0].status.phase).toBe('Pending');
    expect(api.events().find((e) => e.reason === 'FailedScheduling')?.involvedObject.name).toBe(api.podsOfJob('sel-1')[0].metadata.name);
    const logErr = await apiError(core.readNamespacedPodLog({ name: api.podsOfJob('img-1')[0].metadata.name, namespace: NS }));
    expect(logErr.code).toBe(400);
    for (const j of ['img-1', 'sec-1', 'sec-2', 'sel-1', 'pvc-1']) expect(api.job(j)!.status.active).toBe(1);
  });

  it('resolves secrets and rewrites mount paths in env and args to the host directory', async () => {
    api.putSecret('db', { url: 'postgres://x' });
    const script = `const fs=require('fs');fs.writeFileSync(process.env.DATA_DIR+'/out.txt', process.env.DATABASE_URL+' '+process.argv[1]+' '+fs.existsSync(process.env.SCRATCH));`;
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('vol-1', script, (j) => {
      const s = j.spec!.template.spec!;
      s.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'shared' } }, { name: 'scratch', emptyDir: {} }];
      s.containers[0].volumeMounts = [{ name: 'data', mountPath: '/var/lib/taskpod' }, { name: 'scratch', mountPath: '/scratch' }];
      s.containers[0].args!.push('/var/lib/taskpod/x');
      s.containers[0].env = [
        { name: 'DATA_DIR', value: '/var/lib/taskpod' }, { name: 'SCRATCH', value: '/scratch' },
        { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } },
      ];
    }) });
    expect(cond(await finished('vol-1'), 'Complete')).toBeTruthy();
    expect(readFileSync(join(hostDir, 'out.txt'), 'utf8')).toBe(`postgres://x ${hostDir}/x true`);
  });

  it('Background deletion SIGTERMs the process; Orphan leaves it running', async () => {
    const marker = join(hostDir, 'sigterm');
    const script = `process.on('SIGTERM',()=>{require('fs').writeFileSync(process.env.MARK,'x');process.exit(0)});console.log('ready');setInterval(()=>{},1000)`;
    const withMark = (j: k8s.V1Job): void => { j.spec!.template.spec!.containers[0].env = [{ name: 'MARK', value: marker }]; };
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('del-1', script, withMark) });
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('orph-1', 'setInterval(()=>{},1000)') });
    await waitFor(() => api.podsOfJob('del-1').some((p) => api.podLog(p.metadata.name) === 'ready\n'), 4000, 'trap installed');
    await waitFor(() => api.podsOfJob('orph-1').some((p) => p.status.phase === 'Running'), 4000, 'orphan running');
    const orphan = api.podsOfJob('orph-1')[0].metadata.name;
    await batch.deleteNamespacedJob({ name: 'del-1', namespace: NS, propagationPolicy: 'Background' });
    await batch.deleteNamespacedJob({ name: 'orph-1', namespace: NS, propagationPolicy: 'Orphan' });
    await waitFor(() => existsSync(marker), 4000, 'SIGTERM marker');
    await waitFor(() => api.pods().every((p) => p.metadata.labels?.['job-name'] !== 'del-1'), 4000, 'pods of del-1 gone');
    expect(api.job('orph-1')).toBeUndefined();
    expect(api.pod(orphan)!.status.phase).toBe('Running');
    expect(api.pod(orphan)!.metadata.ownerReferences).toEqual([]);
  });

  it('ttlSecondsAfterFinished deletes the Job and its pods; suspend waits for resumeJob', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('ttl-1', 'process.exit(0)', (j) => { j.spec!.ttlSecondsAfterFinished = 0; }) });
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('sus-1', 'process.exit(0)', (j) => { j.spec!.suspend = true; }) });
    await waitFor(() => api.createdJobNames().includes('ttl-1') && !api.job('ttl-1'), 4000, 'ttl deletion');
    await waitFor(() => api.podsOfJob('ttl-1').length === 0, 4000, 'ttl pods gone');
    expect(api.podsOfJob('sus-1')).toEqual([]);
    expect(api.job('sus-1')!.status.startTime).toBeUndefined();
    api.resumeJob('sus-1');
    expect(cond(await finished('sus-1'), 'Complete')).toBeTruthy();
  });

  it('Foreground deletion keeps the Job (deletionTimestamp) until its pods are gone; killPod reports 128+signo; pod delete honours gracePeriodSeconds', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('fg-1', 'setInterval(()=>{},1000)') });
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('kill-1', 'setInterval(()=>{},1000)') });
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('pd-1', "process.on('SIGTERM',()=>{});console.log('ready');setInterval(()=>{},1000)", (j) => {
      j.spec!.template.spec!.terminationGracePeriodSeconds = 30;
      j.spec!.backoffLimit = 1;
    }) });
    const running = (job: string): boolean => api.podsOfJob(job).some((p) => p.status.phase === 'Running');
    await waitFor(() => running('fg-1') && running('kill-1') && api.podsOfJob('pd-1').some((p) => api.podLog(p.metadata.name) === 'ready\n'), 4000, 'all running');

    const fg = await batch.deleteNamespacedJob({ name: 'fg-1', namespace: NS, propagationPolicy: 'Foreground' });
    expect(fg).toBeTruthy();
    await waitFor(() => !api.job('fg-1'), 4000, 'foreground deletion done');
    expect(api.podsOfJob('fg-1')).toEqual([]);

    api.killPod(api.podsOfJob('kill-1')[0].metadata.name, 'SIGKILL');
    const killed = await finished('kill-1');
    expect(cond(killed, 'Failed')?.reason).toBe('BackoffLimitExceeded');
    expect(api.podsOfJob('kill-1')[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });

    // The process ignores SIGTERM: only gracePeriodSeconds=0 (SIGKILL) ends it at once.
    const pd = api.podsOfJob('pd-1')[0].metadata.name;
    await core.deleteNamespacedPod({ name: pd, namespace: NS, gracePeriodSeconds: 0 });
    await waitFor(() => !api.pod(pd), 4000, 'pod deleted');
    // The Job controller counts a pod deleted under it as failed, and replaces it.
    await waitFor(() => api.podsOfJob('pd-1').length === 1 && api.podsOfJob('pd-1')[0].metadata.name !== pd, 4000, 'replacement pod');
    await waitFor(() => api.job('pd-1')?.status.failed === 1, 4000, 'failed counted');
  });

  it('runs the real taskpod CLI from the taskpod:test image; latency and 503/422 faults apply', async () => {
    api.latencyMs = 50;
    api.failNext(1, 503, { path: /\/jobs$/ });
    api.failNext(1, 422, { method: 'POST' });
    expect((await apiError(batch.listNamespacedJob({ namespace: NS }))).code).toBe(503);
    const job = (j: k8s.V1Job): k8s.V1Job => {
      j.spec!.template.spec!.containers[0] = { name: 'main', image: 'taskpod:test', args: ['--version'] };
      return j;
    };
    expect((await apiError(batch.createNamespacedJob({ namespace: NS, body: nodeJob('cli-1', '', job) }))).code).toBe(422);
    const t0 = Date.now();
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('cli-1', '', job) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    api.latencyMs = 0;
    expect(cond(await finished('cli-1'), 'Complete')).toBeTruthy();
    expect(api.podLog(api.podsOfJob('cli-1')[0].metadata.name)).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(api.requests.filter((r) => r.path.endsWith('/jobs')).map((r) => r.status)).toEqual([503, 422, 201]);
  });

  it('ends the pod when its main process exits even if a child process still holds stdout', async () => {
    const script = `require('child_process').spawn(process.execPath,['-e','setInterval(()=>{},1000)'],{stdio:'inherit'});setTimeout(()=>process.exit(0),50)`;
    await batch.createNamespacedJob({ namespace: NS, body: nodeJob('grand-1', script) });
    expect(cond(await finished('grand-1'), 'Complete')).toBeTruthy();
  });
});
