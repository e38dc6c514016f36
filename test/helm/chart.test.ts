// The Helm chart, rendered by real helm 3 and helm 4: lint --strict, every object checked against
// the Kubernetes schemas, the security and naming rules every object must keep, and the
// dispatcher's configuration read back through taskpod's own config and pod template loaders.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { expectValidObject } from '../support/k8s-schema.js';
import {
  HELMS, chartDir, ensureHelm, findOne, podSpecOf, podTemplateMetadataOf, renderChart, renderError, runHelm, type K8sObject, type RenderOptions,
} from '../support/helm.js';
import { repoRoot } from '../support/paths.js';
import { loadConfig } from '../../src/config.js';
import { loadPodTemplate } from '../../src/dispatcher/pod-template.js';
import { buildJob } from '../../src/dispatcher/job-spec.js';
import type { Task } from '../../src/tasks/model.js';

const DEFAULT = 'helm/taskpod/ci/default-values.yaml';
const ALL_ON = 'helm/taskpod/ci/all-on-values.yaml';
const EXISTING = 'helm/taskpod/ci/existing-secret-values.yaml';
const LONG_RELEASE = 'a-very-long-release-name-of-the-genomics-team-1234567'; // 53: helm's limit

const CASES: Record<string, RenderOptions> = {
  default: { values: [DEFAULT] },
  allOn: { values: [ALL_ON] },
  existing: { values: [EXISTING] },
  // A long release name, and the longest schedule name the schema allows.
  long: { release: LONG_RELEASE, values: [ALL_ON], set: { schedules: [
    { name: 'x'.repeat(40), schedule: '@daily', type: 'seq_toolkit', params: { operation: 'length', sequence: 'ACGT' } },
    { name: 'drain', schedule: '*/5 * * * *', mode: 'drain' },
  ] } },
  // A cluster without a dispatcher: tasks run in drain schedules.
  drainOnly: { values: [DEFAULT], set: { dispatcher: { enabled: false }, schedules: [{ name: 'drain', schedule: '* * * * *', mode: 'drain', parallelism: 2 }] } },
  // Numbers of a million and more (helm reads them as floats: 1e+06 unless rendered as JSON), and
  // an all-digit schedule name (a YAML integer unless quoted).
  bigNumbers: { values: [DEFAULT], set: {
    tasks: { jobTtlSeconds: 2592000, jobDeadlineGraceSeconds: 1000000 },
    dispatcher: { concurrency: 1000000 },
    config: { TASKPOD_KUBE_TIMEOUT_MS: 3600000 },
    schedules: [{ name: '1234', schedule: '@daily', type: 'seq_toolkit', params: { operation: 'length', sequence: 'ACGT' },
      priority: 2000000, timeout: 1000000, startingDeadlineSeconds: 1000000, activeDeadlineSeconds: 1000000 }],
  } },
};

const bins: Record<string, string> = {};
/** rendered[helm][case] */
const rendered: Record<string, Record<string, K8sObject[]>> = {};
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'taskpod-helm-'));
  for (const h of HELMS) {
    const { bin, fetchMs } = await ensureHelm(h);
    if (fetchMs) console.log(`fetched helm ${h.helm} (${h.pkg}@${h.version}) in ${fetchMs} ms`);
    bins[h.helm] = bin;
  }
  await Promise.all(HELMS.map(async (h) => {
    rendered[h.helm] = Object.fromEntries(await Promise.all(
      Object.entries(CASES).map(async ([name, opts]) => [name, await renderChart(bins[h.helm], opts)] as const)));
  }));
}, 300_000);
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

const helm3 = () => rendered['v3.18'];
const all = (): Array<{ helm: string; name: string; objects: K8sObject[] }> =>
  Object.entries(rendered).flatMap(([helm, cases]) => Object.entries(cases).map(([name, objects]) => ({ helm, name, objects })));
const configMapData = (objects: K8sObject[]) => findOne(objects, 'ConfigMap', /^(?!.*-pod-template$)/).data as Record<string, string>;
const podHolders = (objects: K8sObject[]) => objects.filter((o) => podSpecOf(o));
const containersOf = (spec: Record<string, any>) => [...(spec.initContainers ?? []), ...spec.containers] as Array<Record<string, any>>;

describe('helm lint --strict', () => {
  for (const h of HELMS) {
    for (const file of [DEFAULT, ALL_ON, EXISTING]) {
      it(`helm ${h.helm}: ${path.basename(file)}`, async () => {
        const r = await runHelm(bins[h.helm], ['lint', '--strict', chartDir, '--values', path.join(repoRoot, file)]);
        expect(r.stdout + r.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
        expect(r.exitCode).toBe(0);
        expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      });
    }
    it(`helm ${h.helm}: without a database, lint shows the chart's message (lint reports \`fail\` as INFO; template and install fail)`, async () => {
      const r = await runHelm(bins[h.helm], ['lint', '--strict', chartDir]);
      expect(r.stdout + r.stderr).toContain('taskpod: set database.url');
    });
  }
});

describe('Chart.yaml', () => {
  it('apiVersion v2, kubeVersion >=1.27.0-0, appVersion = the package version', () => {
    const chart = yaml.load(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'taskpod', type: 'application', kubeVersion: '>=1.27.0-0', appVersion: pkg.version });
  });

  it('kubeVersion: a cluster older than 1.27 is refused', async () => {
    for (const h of HELMS) {
      const stderr = await renderError(bins[h.helm], { values: [DEFAULT], kubeVersion: '1.26.5' });
      expect(stderr).toMatch(/kubeVersion.*>=1\.27\.0-0/);
    }
  });

  it('helm 3 and helm 4 render the same objects', () => {
    for (const name of Object.keys(CASES)) expect(rendered['v4.1'][name]).toEqual(helm3()[name]);
  });
});

describe('rendered objects', () => {
  it('every object passes the Kubernetes schema of its kind (the ServiceMonitor, a CRD, structurally)', () => {
    let checked = 0;
    for (const { helm, name, objects } of all()) {
      for (const o of objects) {
        if (o.kind === 'ServiceMonitor') {
          expect(o.apiVersion).toBe('monitoring.coreos.com/v1');
          expect(Object.keys(o.spec).sort()).toEqual(['endpoints', 'namespaceSelector', 'selector']);
          expect(o.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
          for (const e of o.spec.endpoints) {
            expect(Object.keys(e).every((k) => ['port', 'path', 'interval', 'scrapeTimeout'].includes(k))).toBe(true);
            expect(e.interval).toMatch(/^(\d+(ms|s|m|h))+$/);
          }
        } else {
          try {
            expectValidObject(o);
          } catch (err) {
            throw new Error(`helm ${helm}, ${name}: ${(err as Error).message}`);
          }
        }
        checked++;
      }
    }
    console.log(`validated ${checked} rendered objects (${Object.keys(CASES).length} values sets x ${HELMS.length} helms)`);
    expect(checked).toBeGreaterThan(100);
  });

  it('the objects of each values set', () => {
    const kinds = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds(helm3().default)).toEqual([
      'ConfigMap/taskpod', 'Deployment/taskpod', 'Job/taskpod-migrate', 'PersistentVolumeClaim/taskpod-data', 'Pod/taskpod-test',
      'Role/taskpod', 'RoleBinding/taskpod', 'Secret/taskpod-database', 'Secret/taskpod-migrate', 'Service/taskpod',
      'ServiceAccount/taskpod', 'ServiceAccount/taskpod-task',
    ]);
    expect(kinds(helm3().allOn)).toEqual([
      'ConfigMap/taskpod', 'ConfigMap/taskpod-pod-template', 'CronJob/taskpod-drain', 'CronJob/taskpod-nightly-gc', 'CronJob/taskpod-weekly-report',
      'Deployment/taskpod', 'Job/taskpod-migrate', 'NetworkPolicy/taskpod', 'PersistentVolumeClaim/taskpod-data', 'Pod/taskpod-test',
      'Role/taskpod', 'RoleBinding/taskpod', 'Secret/taskpod-database', 'Secret/taskpod-migrate', 'Service/taskpod',
      'ServiceAccount/taskpod', 'ServiceAccount/taskpod-task', 'ServiceMonitor/taskpod',
    ]);
    // Bring-your-own Secret and claim: neither is rendered, not even the hook's Secret.
    expect(kinds(helm3().existing)).toEqual([
      'ConfigMap/taskpod', 'Deployment/taskpod', 'Job/taskpod-migrate', 'Pod/taskpod-test', 'Role/taskpod', 'RoleBinding/taskpod', 'Service/taskpod',
      'ServiceAccount/taskpod-dispatcher', 'ServiceAccount/taskpod-runner',
    ]);
    // No dispatcher: no Deployment, no API identity, no Role, no Service.
    expect(kinds(helm3().drainOnly)).toEqual([
      'ConfigMap/taskpod', 'CronJob/taskpod-drain', 'Job/taskpod-migrate', 'PersistentVolumeClaim/taskpod-data', 'Pod/taskpod-test',
      'Secret/taskpod-database', 'Secret/taskpod-migrate', 'ServiceAccount/taskpod-task',
    ]);
  });

  it('every pod runs as non-root, read-only, without privileges or capabilities, seccomp RuntimeDefault, with /tmp an emptyDir', () => {
    let pods = 0;
    for (const { name, objects } of all()) {
      for (const o of podHolders(objects)) {
        const where = `${name}: ${o.kind}/${o.metadata.name}`;
        const spec = podSpecOf(o)!;
        expect(spec.securityContext, where).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        expect(spec.securityContext, where).toMatchObject({ runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 });
        expect(spec.hostNetwork ?? false, where).toBe(false);
        const tmpVolume = spec.volumes.find((v: any) => v.name === 'tmp');
        expect(tmpVolume, where).toEqual({ name: 'tmp', emptyDir: {} });
        for (const c of containersOf(spec)) {
          expect(c.securityContext, `${where} ${c.name}`).toEqual({
            allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
            capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
          });
          expect(c.volumeMounts, `${where} ${c.name}`).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
          expect(c.command, `${where}: the image's entrypoint is the CLI; only args are set`).toBeUndefined();
        }
        // Only the dispatcher holds an API token.
        const component = podTemplateMetadataOf(o)!.labels['app.kubernetes.io/component'];
        expect(spec.automountServiceAccountToken, where).toBe(component === 'dispatcher');
        pods++;
      }
    }
    expect(pods).toBeGreaterThanOrEqual(40);
  });

  it('security settings cannot be loosened through values: the schema admits only ids in podSecurityContext', async () => {
    const stderr = await renderError(bins['v4.1'], { values: [DEFAULT], set: { 'podSecurityContext.runAsNonRoot': false } });
    expect(stderr).toContain('runAsNonRoot');
  });

  it('the task ServiceAccount mounts no token, has no Role, and is the one the dispatcher gives its Jobs', () => {
    for (const name of ['default', 'allOn', 'long']) {
      const objects = helm3()[name];
      const config = configMapData(objects);
      const sa = findOne(objects, 'ServiceAccount', config.TASKPOD_TASK_SERVICE_ACCOUNT);
      expect(sa.automountServiceAccountToken).toBe(false);
      const binding = findOne(objects, 'RoleBinding');
      expect(binding.subjects.map((s: any) => s.name)).not.toContain(sa.metadata.name);
      const dispatcherSa = findOne(objects, 'Deployment').spec.template.spec.serviceAccountName;
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: dispatcherSa, namespace: 'tasks' }]);
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: findOne(objects, 'Role').metadata.name });
      for (const o of podHolders(objects).filter((x) => x.kind !== 'Deployment' && x.kind !== 'Job')) {
        expect(podSpecOf(o)!.serviceAccountName, o.metadata.name).toBe(sa.metadata.name);
      }
    }
  });

  it('names: DNS labels of at most 63 characters, CronJobs at most 52, all distinct, with a 53-character release name', () => {
    for (const { name, objects } of all()) {
      const seen = new Set<string>();
      for (const o of objects) {
        expect(o.metadata.name.length, `${name}: ${o.kind}/${o.metadata.name}`).toBeLessThanOrEqual(o.kind === 'CronJob' ? 52 : 63);
        expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        expect(seen.has(`${o.kind}/${o.metadata.name}`), `${o.kind}/${o.metadata.name} twice`).toBe(false);
        seen.add(`${o.kind}/${o.metadata.name}`);
      }
    }
    expect(LONG_RELEASE).toHaveLength(53);
    const long = helm3().long;
    const names = long.map((o) => o.metadata.name);
    expect(names.filter((n) => n.length === 63).length).toBeGreaterThan(3); // the limit is reached, not avoided
    // Suffixes survive truncation: the objects stay told apart.
    for (const suffix of ['-data', '-database', '-migrate', '-task', '-test']) expect(names.some((n) => n.endsWith(suffix)), suffix).toBe(true);
    const crons = long.filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name);
    expect(crons).toEqual([expect.stringMatching(/-x{40}$/), expect.stringMatching(/-drain$/)]);
    expect(crons[0]).toHaveLength(52);
    // The job prefix stays within taskpod's 42 characters (it must leave room for -<task_id>-<launch>).
    expect(configMapData(helm3().long).TASKPOD_JOB_PREFIX).toBe('tp');
  });

  it('the default job prefix of a long release name is cut to 42 characters and taskpod accepts it', async () => {
    const objects = await renderChart(bins['v3.18'], { release: LONG_RELEASE, values: [DEFAULT] });
    const data = configMapData(objects);
    expect(data.TASKPOD_JOB_PREFIX.length).toBeLessThanOrEqual(42);
    expect(data.TASKPOD_JOB_PREFIX).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(loadConfig({ ...data, DATABASE_URL: 'postgres://x@y/z' }).jobPrefix).toBe(data.TASKPOD_JOB_PREFIX);
  });

  it('labels: the common set on every object and pod, selectors that match', () => {
    for (const { name, objects } of all()) {
      const release = CASES[name].release ?? 'taskpod';
      for (const o of objects) {
        const where = `${name}: ${o.kind}/${o.metadata.name}`;
        const common = {
          'app.kubernetes.io/name': 'taskpod', 'app.kubernetes.io/instance': release, 'app.kubernetes.io/version': '0.1.0',
          'app.kubernetes.io/managed-by': 'Helm', 'helm.sh/chart': 'taskpod-0.1.0', 'app.kubernetes.io/component': expect.any(String),
        };
        expect(o.metadata.labels, where).toMatchObject(common);
        const podMeta = podTemplateMetadataOf(o);
        if (podSpecOf(o)) expect(podMeta!.labels, where).toMatchObject({ ...common, 'app.kubernetes.io/component': o.metadata.labels['app.kubernetes.io/component'] });
      }
      if (name === 'drainOnly') continue;
      const deployment = findOne(objects, 'Deployment');
      const podLabels = deployment.spec.template.metadata.labels;
      const selector = deployment.spec.selector.matchLabels;
      expect(selector).toEqual({ 'app.kubernetes.io/name': 'taskpod', 'app.kubernetes.io/instance': release, 'app.kubernetes.io/component': 'dispatcher' });
      const service = findOne(objects, 'Service');
      for (const [k, v] of Object.entries(service.spec.selector)) expect(podLabels[k]).toBe(v);
      // No other pod of the chart is selected by the dispatcher's Service and Deployment.
      for (const o of podHolders(objects).filter((x) => x !== deployment)) {
        const labels = podTemplateMetadataOf(o)!.labels;
        expect(Object.entries(selector).every(([k, v]) => labels[k] === v), o.metadata.name).toBe(false);
      }
      for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
        for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[k]).toBe(v);
        expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['tasks'] });
      }
      for (const policy of objects.filter((o) => o.kind === 'NetworkPolicy')) {
        for (const [k, v] of Object.entries(policy.spec.podSelector.matchLabels)) expect(podLabels[k]).toBe(v);
      }
    }
  });
});

describe('the dispatcher Deployment', () => {
  it('runs `dispatch` with probes on the named metrics port 9090, its config from the ConfigMap and DATABASE_URL from the Secret', () => {
    const objects = helm3().default;
    const d = findOne(objects, 'Deployment');
    expect(d.spec.replicas).toBe(1);
    const c = d.spec.template.spec.containers[0];
    expect(c.args).toEqual(['dispatch']);
    expect(c.image).toBe('ghcr.io/taskpod/taskpod:0.1.0');
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9090, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.envFrom).toEqual([{ configMapRef: { name: findOne(objects, 'ConfigMap').metadata.name } }]);
    const secret = findOne(objects, 'Secret', 'taskpod-database');
    expect(c.env).toContainEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: secret.metadata.name, key: 'DATABASE_URL' } } });
    expect(Buffer.from(secret.data.DATABASE_URL, 'base64').toString()).toBe('postgres://taskpod:secret@postgres.db.svc:5432/taskpod');
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });
    const service = findOne(objects, 'Service');
    expect(service.spec.ports).toEqual([{ name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(configMapData(objects).TASKPOD_PORT).toBe('9090');
    // The shared volume, for exec'd `submit --attach` and `show`, at the data directory.
    expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/taskpod/data' });
    expect(d.spec.template.spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'taskpod-data' } });
  });

  it('passes scheduling, annotations, pull secrets and replicas through', () => {
    const d = findOne(helm3().allOn, 'Deployment');
    const spec = d.spec.template.spec;
    expect(d.spec.replicas).toBe(2);
    expect(spec.imagePullSecrets).toEqual([{ name: 'registry-credentials' }, { name: 'other-registry' }]);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(spec.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'platform', effect: 'NoSchedule' }]);
    expect(spec.affinity.nodeAffinity).toBeDefined();
    expect(spec.priorityClassName).toBe('platform-high');
    expect(spec.topologySpreadConstraints).toHaveLength(1);
    expect(d.spec.template.metadata.annotations).toMatchObject({ 'example.com/team': 'genomics', 'checksum/config': expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(d.spec.template.metadata.labels.team).toBe('genomics');
    expect(spec.containers[0].image).toBe('registry.example.com/platform/taskpod:0.1.0-rc.1');
    expect(spec.containers[0].imagePullPolicy).toBe('Always');
    // The pod template is mounted where TASKPOD_POD_TEMPLATE_FILE points.
    const file = configMapData(helm3().allOn).TASKPOD_POD_TEMPLATE_FILE;
    const mount = spec.containers[0].volumeMounts.find((m: any) => m.name === 'pod-template');
    expect(mount).toEqual({ name: 'pod-template', mountPath: path.dirname(file), readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'pod-template', configMap: { name: 'taskpod-pod-template' } });
  });

  it('an image digest pins the image everywhere, the Jobs included', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const objects = await renderChart(bins['v4.1'], { values: [DEFAULT], set: { image: { digest } } });
    expect(configMapData(objects).TASKPOD_IMAGE).toBe(`ghcr.io/taskpod/taskpod@${digest}`);
    for (const o of podHolders(objects)) for (const c of containersOf(podSpecOf(o)!)) expect(c.image).toBe(`ghcr.io/taskpod/taskpod@${digest}`);
  });

  it('checksum/config changes with the configuration, the pod template and the chart-made Secret, and only then', async () => {
    const checksum = async (set: Record<string, unknown>, values = [DEFAULT]) =>
      findOne(await renderChart(bins['v3.18'], { values, set }), 'Deployment').spec.template.metadata.annotations['checksum/config'] as string;
    const base = await checksum({});
    expect(await checksum({})).toBe(base);
    expect(await checksum({ 'service.annotations': { a: 'b' }, 'dispatcher.replicas': 3 })).toBe(base);
    const changed = [
      await checksum({ 'dispatcher.concurrency': 21 }),
      await checksum({ 'tasks.typeResources': { seq_toolkit: { limits: { memory: '1Gi' } } } }),
      await checksum({ config: { TASKPOD_RECONCILE_MS: '1000' } }),
      await checksum({ 'tasks.podTemplate': { spec: { nodeSelector: { a: 'b' } } } }),
      await checksum({ 'database.url': 'postgres://other@db/taskpod' }),
    ];
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1);
    const podTemplate = { spec: { nodeSelector: { a: 'b' } } };
    expect(await checksum({ 'tasks.podTemplate': { spec: { nodeSelector: { a: 'c' } } } })).not.toBe(await checksum({ 'tasks.podTemplate': podTemplate }));
  });
});

describe('the configuration in the ConfigMap', () => {
  it('parses with taskpod\'s own config schema and names the chart\'s objects (default values)', () => {
    const objects = helm3().default;
    const data = configMapData(objects);
    // Every key is a taskpod environment variable: loadConfig rejects nothing, and uses them all.
    const config = loadConfig({ ...data, DATABASE_URL: 'postgres://x@y/z' });
    expect(config).toMatchObject({
      executor: 'kubernetes', namespace: 'tasks', schema: 'taskpod', image: 'ghcr.io/taskpod/taskpod:0.1.0', imagePullPolicy: 'IfNotPresent',
      imagePullSecrets: [], pvc: 'taskpod-data', dataDir: '/var/lib/taskpod/data', jobDataDir: '/var/lib/taskpod/data',
      databaseSecret: 'taskpod-database', databaseSecretKey: 'DATABASE_URL', taskServiceAccount: 'taskpod-task',
      jobPrefix: 'taskpod', concurrency: 20, typeConcurrency: {}, typeResources: {}, podTemplateFile: '', kueueQueue: '',
      logFormat: 'json', logLevel: 'info', port: 9090, listenHost: '0.0.0.0', defaultMaxAttempts: 3, startDeadlineSeconds: 300,
    });
    // ... and each name is an object the chart renders.
    findOne(objects, 'PersistentVolumeClaim', config.pvc);
    expect(findOne(objects, 'Secret', config.databaseSecret).data).toHaveProperty(config.databaseSecretKey);
    findOne(objects, 'ServiceAccount', config.taskServiceAccount);
    expect(findOne(objects, 'PersistentVolumeClaim').spec).toMatchObject({ accessModes: ['ReadWriteMany'], resources: { requests: { storage: '10Gi' } } });
  });

  it('numbers of a million and more stay integers, in the ConfigMap and in a schedule\'s args and spec', () => {
    for (const h of HELMS) {
      const objects = rendered[h.helm].bigNumbers;
      const config = loadConfig({ ...configMapData(objects), DATABASE_URL: 'postgres://x@y/z' });
      expect(config).toMatchObject({ jobTtlSeconds: 2592000, jobDeadlineGraceSeconds: 1000000, concurrency: 1000000, kubeTimeoutMs: 3600000 });
      const cronJob = findOne(objects, 'CronJob');
      expect(cronJob.spec.startingDeadlineSeconds).toBe(1000000);
      expect(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(1000000);
      expect(cronJob.metadata.labels['taskpod.dev/schedule']).toBe('1234');
      const args = podSpecOf(cronJob)!.containers[0].args as string[];
      expect(args.slice(args.indexOf('--priority'), args.indexOf('--priority') + 2)).toEqual(['--priority', '2000000']);
      expect(args.slice(args.indexOf('--timeout'), args.indexOf('--timeout') + 2)).toEqual(['--timeout', '1000000']);
    }
  });

  it('parses with taskpod\'s config schema with every part on: types, resources, limits, extra variables', () => {
    const data = configMapData(helm3().allOn);
    const config = loadConfig({ ...data, DATABASE_URL: 'postgres://x@y/z' });
    expect(config).toMatchObject({
      namespace: 'tasks', schema: 'tasks_prod', image: 'registry.example.com/platform/taskpod:0.1.0-rc.1', imagePullPolicy: 'Always',
      imagePullSecrets: ['registry-credentials', 'other-registry'], pvc: 'taskpod-data', dataDir: '/data/tasks', jobDataDir: '/data/tasks',
      jobPrefix: 'tp', concurrency: 50, typeConcurrency: { seq_toolkit: 10, command: 2 }, kueueQueue: 'batch-queue',
      typeResources: {
        seq_toolkit: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } },
        command: { limits: { cpu: '2', memory: '2Gi' } },
      },
      podTemplateFile: '/etc/taskpod/pod-template/pod-template.yaml', defaultMaxAttempts: 5, jobTtlSeconds: 3600,
      commandAllow: ['samtools', 'bwa'], logLevel: 'debug', reconcileMs: 15_000, kubeQps: 50, startDeadlineSeconds: 600,
    });
    const pvc = findOne(helm3().allOn, 'PersistentVolumeClaim');
    expect(pvc.spec.storageClassName).toBe('nfs-client');
    expect(pvc.metadata.annotations).toMatchObject({ 'helm.sh/resource-policy': 'keep' });
  });

  it('existingSecret and existingClaim: the Jobs are told to use them', () => {
    const objects = helm3().existing;
    const config = loadConfig({ ...configMapData(objects), DATABASE_URL: 'postgres://x@y/z' });
    expect(config).toMatchObject({ databaseSecret: 'team-postgres', databaseSecretKey: 'uri', pvc: 'shared-task-files', taskServiceAccount: 'taskpod-runner' });
    const c = findOne(objects, 'Deployment').spec.template.spec.containers[0];
    expect(c.env).toContainEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'team-postgres', key: 'uri' } } });
    expect(findOne(objects, 'Deployment').spec.template.spec.serviceAccountName).toBe('taskpod-dispatcher');
  });

  it('the pod template loads with loadPodTemplate, and the Job built from this configuration is a valid Job', () => {
    const objects = helm3().allOn;
    const data = configMapData(objects);
    const file = path.join(tmp, path.basename(data.TASKPOD_POD_TEMPLATE_FILE));
    const templateMap = findOne(objects, 'ConfigMap', 'taskpod-pod-template');
    expect(Object.keys(templateMap.data)).toEqual([path.basename(data.TASKPOD_POD_TEMPLATE_FILE)]);
    writeFileSync(file, templateMap.data[path.basename(file)]);
    const template = loadPodTemplate(file);
    const values = yaml.load(readFileSync(path.join(repoRoot, ALL_ON), 'utf8')) as any;
    expect(template).toEqual(values.tasks.podTemplate);

    const config = loadConfig({ ...data, DATABASE_URL: 'postgres://x@y/z' });
    const task = { id: 12345, job_id: 'a'.repeat(32), task_type: 'seq_toolkit', timeout_seconds: 600, resources: null } as unknown as Task;
    const job = buildJob({ task, attempt: 1, config, podTemplate: template });
    expectValidObject(job);
    const spec = job.spec!.template.spec!;
    expect(job.metadata!.namespace).toBe('tasks');
    expect(job.metadata!.name).toBe('tp-12345-1');
    expect(spec.serviceAccountName).toBe('taskpod-task');
    expect(spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'taskpod-data' } });
    expect(spec.containers[0].resources).toEqual({ requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } });
    expect(spec.nodeSelector).toEqual({ workload: 'batch' });
    expect(spec.imagePullSecrets).toEqual([{ name: 'registry-credentials' }, { name: 'other-registry' }]);
  });

  it('extra variables in `config` are added; one the chart sets itself is refused with a message', async () => {
    const err = await renderError(bins['v4.1'], { values: [DEFAULT], set: { 'config.TASKPOD_NAMESPACE': 'elsewhere' } });
    expect(err).toContain('taskpod: config.TASKPOD_NAMESPACE is set by the chart from a typed value');
    const secret = await renderError(bins['v4.1'], { values: [DEFAULT], set: { 'config.DATABASE_URL': 'postgres://a@b/c' } });
    expect(secret).toContain('taskpod: config.DATABASE_URL is set by the chart');
  });
});

describe('the migration hook', () => {
  it('a pre-install,pre-upgrade Job running `migrate`, with its own hook Secret created before it', () => {
    const objects = helm3().default;
    const job = findOne(objects, 'Job', 'taskpod-migrate');
    const hookSecret = findOne(objects, 'Secret', 'taskpod-migrate');
    expect(job.metadata.annotations).toEqual({
      'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-weight': '0', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    expect(hookSecret.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' });
    expect(Number(hookSecret.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(Number(job.metadata.annotations['helm.sh/hook-weight']));
    expect(job.spec).toMatchObject({ backoffLimit: 3, activeDeadlineSeconds: 600 });
    const spec = job.spec.template.spec;
    expect(spec.containers[0].args).toEqual(['migrate']);
    expect(spec.containers[0].env).toContainEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'taskpod-migrate', key: 'DATABASE_URL' } } });
    expect(spec.containers[0].env).toContainEqual({ name: 'TASKPOD_SCHEMA', value: 'taskpod' });
    expect(hookSecret.data).toEqual(findOne(objects, 'Secret', 'taskpod-database').data);
  });

  it('depends on nothing a pre-install hook cannot have: no ConfigMap, no release Secret, ServiceAccount or claim', () => {
    for (const { name, objects } of all()) {
      const job = findOne(objects, 'Job', /-migrate$/);
      const hookObjects = new Set(objects.filter((o) => o.metadata.annotations?.['helm.sh/hook']?.includes('pre-install')).map((o) => `${o.kind}/${o.metadata.name}`));
      const spec = job.spec.template.spec;
      expect(spec.serviceAccountName, name).toBeUndefined();
      expect(spec.volumes.every((v: any) => v.emptyDir), name).toBe(true);
      const c = spec.containers[0];
      expect(c.envFrom, name).toBeUndefined();
      const secretName = c.env.find((e: any) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef.name;
      if (name === 'existing') expect(secretName).toBe('team-postgres'); // the operator's, there before the release
      else expect(hookObjects.has(`Secret/${secretName}`), name).toBe(true);
    }
  });

  it('migrations.enabled=false renders no hook', async () => {
    const objects = await renderChart(bins['v3.18'], { values: [DEFAULT], set: { migrations: { enabled: false } } });
    expect(objects.filter((o) => o.metadata.name.endsWith('-migrate'))).toEqual([]);
  });
});

describe('schedules', () => {
  it('submit mode: `submit TYPE --params JSON ... --dedupe-key $(TASKPOD_SCHEDULED_JOB)`, the key from the Job name label', () => {
    const cron = findOne(helm3().allOn, 'CronJob', 'taskpod-nightly-gc');
    expect(cron.spec).toMatchObject({
      schedule: '0 3 * * *', timeZone: 'Europe/Berlin', suspend: false, concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, startingDeadlineSeconds: 300,
    });
    expect(cron.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 3, activeDeadlineSeconds: 120 });
    expect(cron.spec.jobTemplate.spec.parallelism).toBeUndefined();
    const c = cron.spec.jobTemplate.spec.template.spec.containers[0];
    expect(c.args).toEqual([
      'submit', 'seq_toolkit', '--params', JSON.stringify({ ambiguous: 'weighted', operation: 'gc_content', sequence: 'ACGTGCGC' }),
      '--priority', '5', '--max-attempts', '2', '--timeout', '600', '--resources', '{"limits":{"memory":"512Mi"}}',
      '--attach', '/data/tasks/reference/genome.fa', '--dedupe-key', '$(TASKPOD_SCHEDULED_JOB)',
    ]);
    expect(c.env).toContainEqual({ name: 'TASKPOD_SCHEDULED_JOB', valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } } });
    expect(c.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
    // Files to attach are on the shared volume: it is mounted.
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }, { name: 'data', mountPath: '/data/tasks' }]);
    const weekly = findOne(helm3().allOn, 'CronJob', 'taskpod-weekly-report');
    // Without attachments a submit needs no task files.
    expect(weekly.spec.jobTemplate.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(weekly.spec.jobTemplate.spec.template.spec.volumes).toEqual([{ name: 'tmp', emptyDir: {} }]);
    expect(weekly.spec).toMatchObject({ schedule: '@weekly', suspend: true, concurrencyPolicy: 'Replace' });
    expect(weekly.spec.jobTemplate.spec.template.spec.containers[0].args).toEqual([
      'submit', 'command', '--params', '{"args":["--version"],"command":"samtools"}', '--dedupe-key', '$(TASKPOD_SCHEDULED_JOB)',
    ]);
  });

  it('drain mode: `run --next` in parallel pods with the shared volume, the database and the tasks\' resources', () => {
    const cron = findOne(helm3().allOn, 'CronJob', 'taskpod-drain');
    expect(cron.spec).toMatchObject({ concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 0, failedJobsHistoryLimit: 5 });
    expect(cron.spec.jobTemplate.spec).toMatchObject({ parallelism: 3, backoffLimit: 0, activeDeadlineSeconds: 3600 });
    const spec = cron.spec.jobTemplate.spec.template.spec;
    const c = spec.containers[0];
    expect(c.args).toEqual(['run', '--next']);
    expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data/tasks' });
    expect(spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'taskpod-data' } });
    expect(c.env).toContainEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'taskpod-database', key: 'DATABASE_URL' } } });
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'taskpod' } }]);
    expect(c.resources).toEqual({ requests: { cpu: '1', memory: '512Mi' }, limits: { memory: '2Gi' } });
    expect(spec.nodeSelector).toEqual({ workload: 'batch' }); // the schedule's own, over the chart's
    expect(findOne(helm3().drainOnly, 'CronJob').spec.jobTemplate.spec.parallelism).toBe(2);
  });

  it('defaults: concurrencyPolicy Forbid, parallelism 1 for drain', async () => {
    const objects = await renderChart(bins['v4.1'], { values: [DEFAULT], set: { schedules: [
      { name: 's', schedule: '* * * * *', type: 'seq_toolkit' }, { name: 'd', schedule: '* * * * *', mode: 'drain' },
    ] } });
    const [s, d] = ['taskpod-s', 'taskpod-d'].map((n) => findOne(objects, 'CronJob', n));
    expect(s.spec.concurrencyPolicy).toBe('Forbid');
    expect(s.spec.jobTemplate.spec.template.spec.containers[0].args).toEqual(['submit', 'seq_toolkit', '--params', '{}', '--dedupe-key', '$(TASKPOD_SCHEDULED_JOB)']);
    expect(d.spec.jobTemplate.spec.parallelism).toBe(1);
    expect(s.spec.timeZone).toBeUndefined();
    expect(s.spec.startingDeadlineSeconds).toBeUndefined();
  });
});

describe('the rest', () => {
  it('helm test: a pod submitting a seq_toolkit task with --wait', () => {
    const pod = findOne(helm3().default, 'Pod');
    expect(pod.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.containers[0].args).toEqual([
      'submit', 'seq_toolkit', '--params', '{"operation":"reverse_complement","sequence":"ACGT"}', '--wait', '--wait-timeout', '300', '--json',
    ]);
    expect(pod.spec.activeDeadlineSeconds).toBeGreaterThan(300);
  });

  it('NetworkPolicy: metrics in from the allowed peers only; out to DNS, the database, the API server and the extra rules', () => {
    const policy = findOne(helm3().allOn, 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([{
      ports: [{ port: 'metrics', protocol: 'TCP' }],
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    }]);
    expect(policy.spec.egress.map((r: any) => r.ports.map((p: any) => `${p.protocol}/${p.port}`).join(','))).toEqual(['UDP/53,TCP/53', 'TCP/5432', 'TCP/443', 'TCP/443']);
    expect(policy.spec.egress[1].to).toEqual([{ ipBlock: { cidr: '10.20.0.0/16' } }]);
    expect(policy.spec.egress[2].to).toEqual([{ ipBlock: { cidr: '10.0.0.1/32' } }]);
  });

  it('NetworkPolicy with the defaults: DNS to kube-dns; the database and API server ports to any destination', async () => {
    const policy = findOne(await renderChart(bins['v4.1'], { values: [DEFAULT], set: { 'networkPolicy.enabled': true } }), 'NetworkPolicy');
    expect(policy.spec.ingress).toEqual([{ ports: [{ port: 'metrics', protocol: 'TCP' }] }]);
    expect(policy.spec.egress).toEqual([
      {
        ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      },
      { ports: [{ port: 5432, protocol: 'TCP' }] },
      { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] },
    ]);
    expectValidObject(policy);
  });

  // helm 3's `install --dry-run=client` still asks a cluster for its version; helm 4's does not.
  it('NOTES.txt (helm 4): submit through node in the dispatcher (the entrypoint is the CLI), then watch', async () => {
    const r = await runHelm(bins['v4.1'], ['install', 'demo', chartDir, '-n', 'jobs', '-f', path.join(repoRoot, DEFAULT), '--dry-run=client', '-o', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const notes = (JSON.parse(r.stdout) as { info: { notes: string } }).info.notes;
    expect(notes).toContain("kubectl -n jobs exec deploy/demo-taskpod -- \\\n    node /app/dist/taskpod.js submit seq_toolkit --params '{\"operation\":\"reverse_complement\",\"sequence\":\"ACGT\"}' --json");
    expect(notes).toContain('kubectl -n jobs exec deploy/demo-taskpod -- node /app/dist/taskpod.js show <task_id>');
    expect(notes).toContain('helm test demo -n jobs');
    expect(notes).not.toMatch(/exec deploy\/\S+ -- taskpod /);
  });
});

describe('values.schema.json rejects bad values with a message naming the value', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a bad image.pullPolicy', { 'image.pullPolicy': 'Sometimes' }, /pullPolicy.*(must be one of|value must be one of).*Always.*IfNotPresent.*Never/],
    ['a bad concurrencyPolicy', { schedules: [{ name: 'a', schedule: '* * * * *', type: 'x', concurrencyPolicy: 'Sometimes' }] }, /schedules.0.concurrencyPolicy.*Allow.*Forbid.*Replace|\/schedules\/0\/concurrencyPolicy'.*Allow.*Forbid.*Replace/],
    ['a submit schedule without type', { schedules: [{ name: 'a', schedule: '* * * * *' }] }, /schedules.0: type is required|\/schedules\/0': missing property 'type'/],
    ['a drain schedule with a type', { schedules: [{ name: 'a', schedule: '* * * * *', mode: 'drain', type: 'x' }] }, /Property name of "type"|invalid propertyName 'type'/],
    ['an attachment that is not an absolute path', { schedules: [{ name: 'a', schedule: '* * * * *', type: 'x', attach: ['genome.fa'] }] }, /schedules.0.attach.0|\/schedules\/0\/attach\/0'/],
    ['a bad mode', { schedules: [{ name: 'a', schedule: '* * * * *', mode: 'sometimes' }] }, /mode.*(submit.*drain)/],
    ['a bad schedule name', { schedules: [{ name: 'Nightly_GC', schedule: '* * * * *', type: 'x' }] }, /schedules.0.name|\/schedules\/0\/name'/],
    ['a schedule name too long for the CronJob', { schedules: [{ name: 'x'.repeat(41), schedule: '* * * * *', type: 'x' }] }, /schedules.0.name|\/schedules\/0\/name'/],
    ['an empty cron schedule', { schedules: [{ name: 'a', schedule: '', type: 'x' }] }, /schedules.0.schedule|\/schedules\/0\/schedule'/],
    ['a bad quantity', { 'dispatcher.resources': { limits: { memory: '1 GB' } } }, /dispatcher.resources.limits.memory|\/dispatcher\/resources\/limits\/memory'/],
    ['a type resource taskpod would refuse', { 'tasks.typeResources': { seq_toolkit: { limits: { memory: '1e3' } } } }, /typeResources.seq_toolkit.limits.memory|\/tasks\/typeResources\/seq_toolkit\/limits\/memory'/],
    ['an unknown top-level key', { dispatchr: { replicas: 2 } }, /Additional property dispatchr is not allowed|additional properties 'dispatchr' not allowed/],
    ['an unknown nested key', { dispatcher: { replica: 2 } }, /replica/],
    ['a string replicas', { 'dispatcher.replicas': '2' }, /dispatcher.replicas|\/dispatcher\/replicas'/],
    ['a job prefix taskpod would refuse', { 'dispatcher.jobPrefix': 'x'.repeat(43) }, /jobPrefix/],
    ['a bad schema name', { 'database.schema': 'Task-Pod' }, /database.schema|\/database\/schema'/],
    ['a database URL that is not PostgreSQL', { 'database.url': 'mysql://x@y/z' }, /database.url|\/database\/url'/],
  ];
  for (const [what, set, message] of cases) {
    it(what, async () => {
      for (const h of HELMS) {
        const stderr = await renderError(bins[h.helm], { values: [DEFAULT], set }).catch((err: Error) => {
          throw new Error(`helm ${h.helm} accepted ${what}: ${err.message}`);
        });
        expect(stderr).toContain("values don't meet the specifications of the schema");
        expect(stderr, `helm ${h.helm}`).toMatch(message);
      }
    });
  }

  it('an unnamed existing ServiceAccount is refused: the Role would go to the namespace\'s default one', async () => {
    for (const h of HELMS) {
      const stderr = await renderError(bins[h.helm], { values: [DEFAULT], set: { 'serviceAccount.create': false } });
      expect(stderr).toContain('taskpod: serviceAccount.create is false but serviceAccount.name is empty');
    }
    const named = await renderChart(bins['v4.1'], { values: [DEFAULT], set: { serviceAccount: { create: false, name: 'ops-dispatcher' } } });
    expect(named.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name)).toEqual(['taskpod-task']);
    expect(findOne(named, 'RoleBinding').subjects[0].name).toBe('ops-dispatcher');
    expect(findOne(named, 'Deployment').spec.template.spec.serviceAccountName).toBe('ops-dispatcher');
  });

  it('no database: the chart\'s own message; both url and existingSecret: refused too', async () => {
    for (const h of HELMS) {
      const none = await renderError(bins[h.helm]);
      expect(none).toContain('taskpod: set database.url (a PostgreSQL connection string; the chart keeps it in a Secret) or database.existingSecret');
      const both = await renderError(bins[h.helm], { values: [DEFAULT], set: { 'database.existingSecret': 's' } });
      expect(both).toContain('taskpod: set only one of database.url and database.existingSecret');
    }
  });
});
