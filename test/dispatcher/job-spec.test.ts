// buildJob and the pod template: pure, no database; every Job checked against the Kubernetes schemas.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Container, V1Job, V1PodTemplateSpec } from '@kubernetes/client-node';
import { loadConfig, ConfigError, type Config } from '../../src/config.js';
import type { Task } from '../../src/tasks/model.js';
import { LABELS, buildJob, instanceLabel, jobName, jobSelector } from '../../src/dispatcher/job-spec.js';
import { loadPodTemplate } from '../../src/dispatcher/pod-template.js';
import { LABEL_VALUE, expectValidObject, objectProblems } from '../support/k8s-schema.js';

const config = (env: Record<string, string> = {}): Config => loadConfig({ TASKPOD_SCHEMA: 'taskpod', ...env });

function task(over: Partial<Task> = {}): Task {
  const at = new Date('2024-01-01T00:00:00Z');
  return {
    id: 42, job_id: '0123456789abcdef0123456789abcdef', task_type: 'seq_toolkit', status: 'pending', params: null,
    error_message: null, attempts: 0, max_attempts: 3, priority: 0, timeout_seconds: 600, progress: null,
    progress_message: null, k8s_job_name: null, worker: null, created_at: at, updated_at: at, queued_at: null,
    started_at: null, finished_at: null, heartbeat_at: null, run_after: null, launches: 0, resources: null, log_tail: null, dedupe_key: null,
    ...over,
  };
}

const podSpec = (job: V1Job) => job.spec!.template.spec!;
const taskContainer = (job: V1Job) => podSpec(job).containers.find((c) => c.name === 'task')!;
const envOf = (c: V1Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('names and labels', () => {
  it('jobName is <prefix>-<task_id>-<attempt>', () => {
    expect(jobName('taskpod', 5, 1)).toBe('taskpod-5-1');
  });

  it('instanceLabel is the schema when it is a label value, else a short hash', () => {
    expect(instanceLabel('taskpod')).toBe('taskpod');
    expect(instanceLabel('t_1')).toBe('t_1');
    expect(instanceLabel('_x')).toMatch(/^s[0-9a-f]{12}$/);
    expect(instanceLabel('x_')).toMatch(/^s[0-9a-f]{12}$/);
    expect(instanceLabel('x_')).not.toBe(instanceLabel('_x'));
    expect(instanceLabel('x_')).toBe(instanceLabel('x_'));
  });

  it('jobSelector selects by managed-by and instance', () => {
    expect(jobSelector('taskpod')).toBe('app.kubernetes.io/managed-by=taskpod,taskpod.dev/instance=taskpod');
    expect(jobSelector('_odd_')).toBe(`app.kubernetes.io/managed-by=taskpod,taskpod.dev/instance=${instanceLabel('_odd_')}`);
  });
});

describe('buildJob', () => {
  it('shapes the Job: metadata, labels, annotations, spec and podFailurePolicy', () => {
    const job = buildJob({ task: task(), attempt: 2, config: config({ TASKPOD_NAMESPACE: 'work', TASKPOD_JOB_PREFIX: 'tp' }) });
    expectValidObject(job);
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.kind).toBe('Job');
    expect(job.metadata).toEqual({
      name: 'tp-42-2', namespace: 'work',
      labels: {
        'app.kubernetes.io/name': 'taskpod', 'app.kubernetes.io/component': 'task', 'app.kubernetes.io/managed-by': 'taskpod',
        'taskpod.dev/instance': 'taskpod', 'taskpod.dev/task-id': '42', 'taskpod.dev/attempt': '2', 'taskpod.dev/task-type': 'seq_toolkit',
      },
      annotations: { 'taskpod.dev/job-id': '0123456789abcdef0123456789abcdef', 'taskpod.dev/task-type': 'seq_toolkit', 'taskpod.dev/schema': 'taskpod' },
    });
    expect(job.spec!.backoffLimit).toBe(3);
    expect(job.spec!.ttlSecondsAfterFinished).toBe(86_400);
    expect(job.spec!.activeDeadlineSeconds).toBe(660);
    expect(job.spec!.suspend).toBeUndefined();
    expect(job.spec!.podFailurePolicy!.rules).toEqual([
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'Count', onExitCodes: { containerName: 'task', operator: 'In', values: [75] } },
      { action: 'FailJob', onExitCodes: { containerName: 'task', operator: 'NotIn', values: [75] } },
    ]);
    expect(job.spec!.template.metadata!.labels).toEqual(job.metadata!.labels);
  });

  it('shapes the pod and the task container', () => {
    const job = buildJob({ task: task(), attempt: 1, config: config({
      TASKPOD_IMAGE: 'registry.example/taskpod:1.2', TASKPOD_IMAGE_PULL_POLICY: 'Always', TASKPOD_IMAGE_PULL_SECRETS: 'regcred, other',
      TASKPOD_PVC: 'shared', TASKPOD_JOB_DATA_DIR: '/data', TASKPOD_DATABASE_SECRET: 'db', TASKPOD_DATABASE_SECRET_KEY: 'url',
      TASKPOD_TASK_SERVICE_ACCOUNT: 'runner', TASKPOD_LOG_LEVEL: 'debug', TASKPOD_HEARTBEAT_MS: '5000', TASKPOD_PROGRESS_MS: '250',
    }) });
    expectValidObject(job);
    const pod = podSpec(job);
    expect(pod).toMatchObject({
      restartPolicy: 'Never', serviceAccountName: 'runner', automountServiceAccountToken: false, enableServiceLinks: false,
      imagePullSecrets: [{ name: 'regcred' }, { name: 'other' }], terminationGracePeriodSeconds: 30,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'shared' } }, { name: 'tmp', emptyDir: {} }],
    });
    expect(pod.securityContext!.fsGroup).toBeUndefined();
    expect(pod.containers).toHaveLength(1);
    const c = taskContainer(job);
    expect(c.image).toBe('registry.example/taskpod:1.2');
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.args).toEqual(['run', '--task-id', '42']);
    expect(c.command).toBeUndefined();
    expect(c.env).toEqual([
      { name: 'TASKPOD_SCHEMA', value: 'taskpod' },
      { name: 'TASKPOD_DATA_DIR', value: '/data' },
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } },
      { name: 'TASKPOD_WORKER', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'TASKPOD_LOG_FORMAT', value: 'json' },
      { name: 'TASKPOD_LOG_LEVEL', value: 'debug' },
      { name: 'TASKPOD_HEARTBEAT_MS', value: '5000' },
      { name: 'TASKPOD_PROGRESS_MS', value: '250' },
    ]);
    expect(c.volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }, { name: 'tmp', mountPath: '/tmp' }]);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c.resources).toBeUndefined();
  });

  it('passes the command allow-list and plugin directories only when set', () => {
    const job = buildJob({ task: task(), attempt: 1, config: config({ TASKPOD_COMMAND_ALLOW: 'echo,/usr/bin/wc', TASKPOD_PLUGIN_DIRS: '/plugins/a,/plugins/b' }) });
    expect(envOf(taskContainer(job))).toMatchObject({ TASKPOD_COMMAND_ALLOW: 'echo,/usr/bin/wc', TASKPOD_PLUGIN_DIRS: '/plugins/a,/plugins/b' });
    const plain = envOf(taskContainer(buildJob({ task: task(), attempt: 1, config: config() })));
    expect(plain).not.toHaveProperty('TASKPOD_COMMAND_ALLOW');
    expect(plain).not.toHaveProperty('TASKPOD_PLUGIN_DIRS');
  });

  it('no timeout: no activeDeadlineSeconds', () => {
    const job = buildJob({ task: task({ timeout_seconds: null }), attempt: 1, config: config() });
    expect(job.spec).not.toHaveProperty('activeDeadlineSeconds');
    expectValidObject(job);
  });

  it('Kueue: the queue-name label and a suspended Job', () => {
    const job = buildJob({ task: task(), attempt: 1, config: config({ TASKPOD_KUEUE_QUEUE: 'team-a' }) });
    expect(job.metadata!.labels![LABELS.kueueQueue]).toBe('team-a');
    expect(job.spec!.suspend).toBe(true);
    expectValidObject(job);
  });

  it('resources: plugin hints, then the per-type configuration, then the task, key by key', () => {
    const cfg = config({ TASKPOD_TYPE_RESOURCES: JSON.stringify({ seq_toolkit: { requests: { memory: '1Gi' }, limits: { memory: '2Gi', cpu: '2' } } }) });
    const job = buildJob({
      task: task({ resources: { limits: { memory: '4Gi' } } }), attempt: 1, config: cfg,
      pluginResources: { requests: { cpu: '1', memory: '512Mi' } },
    });
    expect(taskContainer(job).resources).toEqual({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '4Gi', cpu: '2' } });
    expectValidObject(job);
    const other = buildJob({ task: task({ task_type: 'command' }), attempt: 1, config: cfg, pluginResources: { requests: { cpu: '100m' } } });
    expect(taskContainer(other).resources).toEqual({ requests: { cpu: '100m' } });
    const empty = buildJob({ task: task({ resources: { requests: {}, limits: {} } }), attempt: 1, config: config(), pluginResources: {} });
    expect(taskContainer(empty)).not.toHaveProperty('resources');
  });

  it('every label value is a valid label value and every name at most 63 characters, even at the limits', () => {
    const cases = [
      buildJob({ task: task({ id: 999_999_999_999_999, task_type: 'a'.repeat(63) }), attempt: 9999, config: config({ TASKPOD_JOB_PREFIX: 'p'.repeat(42), TASKPOD_SCHEMA: 'x'.repeat(63) }) }),
      buildJob({ task: task({ task_type: 'trailing_' }), attempt: 1, config: config({ TASKPOD_SCHEMA: '_leading' }) }),
    ];
    for (const job of cases) {
      expectValidObject(job);
      expect(job.metadata!.name!.length).toBeLessThanOrEqual(63);
      for (const labels of [job.metadata!.labels!, job.spec!.template.metadata!.labels!]) {
        for (const value of Object.values(labels)) {
          expect(value).toMatch(LABEL_VALUE);
          expect(value.length).toBeLessThanOrEqual(63);
        }
      }
    }
    expect(cases[1].metadata!.labels).not.toHaveProperty(LABELS.taskType);
    expect(cases[1].metadata!.annotations!['taskpod.dev/task-type']).toBe('trailing_');
    expect(cases[1].metadata!.labels![LABELS.instance]).toBe(instanceLabel('_leading'));
  });
});

const template: V1PodTemplateSpec = {
  metadata: { labels: { team: 'genomics', 'app.kubernetes.io/name': 'not-taskpod' }, annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } },
  spec: {
    nodeSelector: { pool: 'batch' },
    tolerations: [{ key: 'batch', operator: 'Exists', effect: 'NoSchedule' }],
    priorityClassName: 'low',
    securityContext: { fsGroup: 2000, runAsUser: 1000 },
    serviceAccountName: 'sneaky',
    restartPolicy: 'Always',
    automountServiceAccountToken: true,
    volumes: [
      { name: 'data', hostPath: { path: '/mnt/evil' } },
      { name: 'refs', configMap: { name: 'reference-genomes' } },
    ],
    containers: [
      { name: 'log-shipper', image: 'fluent-bit:3', volumeMounts: [{ name: 'refs', mountPath: '/refs' }] },
      {
        name: 'task', image: 'ignored', command: ['/bin/sh'],
        env: [{ name: 'EXTRA', value: 'yes' }, { name: 'TASKPOD_SCHEMA', value: 'wrong' }],
        volumeMounts: [{ name: 'refs', mountPath: '/refs', readOnly: true }],
        resources: { requests: { cpu: '250m', 'ephemeral-storage': '1Gi' }, limits: { memory: '8Gi' } },
      },
    ],
  },
};

describe('pod template merge', () => {
  it('keeps the template\'s scheduling, volumes, sidecars and task-container additions; taskpod wins on conflicts', () => {
    const job = buildJob({ task: task(), attempt: 1, config: config(), podTemplate: template, pluginResources: { requests: { cpu: '1' } } });
    expectValidObject(job);
    const pod = podSpec(job);
    expect(job.spec!.template.metadata!.labels).toMatchObject({ team: 'genomics', 'app.kubernetes.io/name': 'taskpod' });
    expect(job.spec!.template.metadata!.annotations).toMatchObject({ 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false', 'taskpod.dev/job-id': task().job_id });
    expect(pod.nodeSelector).toEqual({ pool: 'batch' });
    expect(pod.tolerations).toEqual([{ key: 'batch', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.priorityClassName).toBe('low');
    expect(pod.securityContext).toEqual({ fsGroup: 2000, runAsUser: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.serviceAccountName).toBe('taskpod-task');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.volumes).toEqual([
      { name: 'data', persistentVolumeClaim: { claimName: 'taskpod-data' } },
      { name: 'tmp', emptyDir: {} },
      { name: 'refs', configMap: { name: 'reference-genomes' } },
    ]);
    expect(pod.containers.map((c) => c.name)).toEqual(['task', 'log-shipper']);
    expect(pod.containers[1]).toEqual(template.spec!.containers[0]);
    const c = taskContainer(job);
    expect(c.image).toBe('taskpod:latest');
    expect(c.command).toBeUndefined();
    expect(c.args).toEqual(['run', '--task-id', '42']);
    expect(envOf(c)).toMatchObject({ EXTRA: 'yes', TASKPOD_SCHEMA: 'taskpod' });
    expect(c.env!.filter((e) => e.name === 'TASKPOD_SCHEMA')).toHaveLength(1);
    expect(c.volumeMounts).toEqual([
      { name: 'data', mountPath: '/var/lib/taskpod/data' }, { name: 'tmp', mountPath: '/tmp' }, { name: 'refs', mountPath: '/refs', readOnly: true },
    ]);
    expect(c.resources).toEqual({ requests: { cpu: '1', 'ephemeral-storage': '1Gi' }, limits: { memory: '8Gi' } });
  });

  it('a template may set terminationGracePeriodSeconds, enableServiceLinks and a Localhost seccomp profile, never Unconfined', () => {
    const mk = (spec: object) => buildJob({ task: task(), attempt: 1, config: config(), podTemplate: { spec: spec as V1PodTemplateSpec['spec'] } });
    const job = mk({ terminationGracePeriodSeconds: 120, enableServiceLinks: true, securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } });
    expectValidObject(job);
    expect(podSpec(job)).toMatchObject({ terminationGracePeriodSeconds: 120, enableServiceLinks: true, securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } });
    expect(podSpec(mk({ securityContext: { runAsNonRoot: false, seccompProfile: { type: 'Unconfined' } } })).securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('is pure: the same input twice gives deep-equal Jobs, and the inputs are untouched', () => {
    const t = task({ resources: { limits: { memory: '4Gi' } } });
    const cfg = config({ TASKPOD_TYPE_RESOURCES: '{"seq_toolkit": {"requests": {"cpu": "2"}}}', TASKPOD_IMAGE_PULL_SECRETS: 'regcred' });
    const hints = { requests: { cpu: '1' } };
    const before = structuredClone({ t, cfg, hints, template });
    const a = buildJob({ task: t, attempt: 3, config: cfg, pluginResources: hints, podTemplate: template });
    const b = buildJob({ task: t, attempt: 3, config: cfg, pluginResources: hints, podTemplate: template });
    expect(a).toEqual(b);
    expect({ t, cfg, hints, template }).toEqual(before);
    // nothing shared: changing the output leaves the template (and the next Job) alone
    podSpec(a).tolerations!.push({ key: 'x' });
    taskContainer(a).env!.push({ name: 'Y' });
    expect(template).toEqual(before.template);
    expect(buildJob({ task: t, attempt: 3, config: cfg, pluginResources: hints, podTemplate: template })).toEqual(b);
  });
});

describe('expectValidObject catches what the API server would reject', () => {
  const good = () => buildJob({ task: task(), attempt: 1, config: config() });

  it('a wrong type, an unknown field, a missing volume, a bad label, a Job with restartPolicy Always', () => {
    const wrongType = good(); (wrongType.spec as any).backoffLimit = 'three';
    const typo = good(); (podSpec(typo) as any).nodeSelecter = { pool: 'batch' };
    const missingVolume = good(); taskContainer(missingVolume).volumeMounts!.push({ name: 'nope', mountPath: '/nope' });
    const badLabel = good(); badLabel.metadata!.labels!.team = 'has space';
    const always = good(); podSpec(always).restartPolicy = 'Always';
    const dupContainer = good(); podSpec(dupContainer).containers.push({ name: 'task', image: 'x' });
    for (const [job, expected] of [
      [wrongType, /backoffLimit must be integer/], [typo, /unknown field spec.template.spec.nodeSelecter/],
      [missingVolume, /mounts nope, which is not a volume/], [badLabel, /labels\[team\]: bad value/],
      [always, /restartPolicy must be one of Never, OnFailure/], [dupContainer, /container name task is used twice/],
    ] as const) {
      expect(() => expectValidObject(job)).toThrow(expected);
    }
  });

  it('a hostile template that would break the Job is caught', () => {
    const hostile = {
      spec: {
        containers: [{ name: 'Bad_Name', image: 'x' }, { name: 'task', ports: [{ containerPort: 'http' }] }],
        volumes: [{ name: 'refs', configMap: { name: 'r' } }, { name: 'refs', emptyDir: {} }],
      },
    } as unknown as V1PodTemplateSpec;
    const problems = objectProblems(buildJob({ task: task(), attempt: 1, config: config(), podTemplate: hostile }));
    expect(problems.join('\n')).toMatch(/containerPort must be integer/);
    expect(problems.join('\n')).toMatch(/"Bad_Name" is not a DNS label/);
    expect(problems.join('\n')).toMatch(/refs is defined twice/);
  });

  it('knows the kinds a chart renders', () => {
    const meta = { name: 'x', namespace: 'n' };
    const objs = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: { a: 'b' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: meta, stringData: { a: 'b' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta, automountServiceAccountToken: false },
      { apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta, spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { containers: [{ name: 'a', image: 'i' }] } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta, rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['get'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' }, subjects: [{ kind: 'ServiceAccount', name: 'x' }] },
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta, spec: { podSelector: {} } },
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'a', image: 'i' }] } } } },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'a', image: 'i' }] } } } } } },
    ];
    for (const obj of objs) expect(objectProblems(obj), obj.kind).toEqual([]);
    expect(objectProblems({ apiVersion: 'v1', kind: 'Secret', metadata: meta, strinData: {} })).toEqual(['unknown field strinData']);
    expect(objectProblems({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta, spec: { selector: { matchLabels: { a: 'c' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'a', image: 'i' }] } } } }))
      .toEqual(['spec.selector.matchLabels[a] does not match the pod template\'s labels']);
    expect(objectProblems({ apiVersion: 'v9', kind: 'Nope' })).toEqual(['unknown apiVersion/kind v9/Nope']);
  });
});

describe('loadPodTemplate', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskpod-podtemplate-'));
  const file = (name: string, text: string) => { const f = path.join(dir, name); writeFileSync(f, text); return f; };
  const spec = 'spec:\n  nodeSelector: {pool: batch}\n  containers:\n  - name: task\n    env: [{name: A, value: "1"}]\n';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a Pod, a PodTemplate or a bare {metadata, spec}, in YAML or JSON', () => {
    const expected = { metadata: { labels: { a: 'b' } }, spec: { nodeSelector: { pool: 'batch' }, containers: [{ name: 'task', env: [{ name: 'A', value: '1' }] }] } };
    expect(loadPodTemplate(file('pod.yaml', `apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n${spec}`))).toEqual(expected);
    expect(loadPodTemplate(file('bare.yaml', `metadata: {labels: {a: b}}\n${spec}`))).toEqual(expected);
    expect(loadPodTemplate(file('pt.json', JSON.stringify({ apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'x' }, template: expected })))).toEqual(expected);
    expect(loadPodTemplate(file('only-spec.yaml', 'spec: {tolerations: [{key: a, operator: Exists}]}'))).toEqual({ spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } });
  });

  it('errors name the file and the problem', () => {
    const cases: Array<[string, RegExp]> = [
      [path.join(dir, 'missing.yaml'), /missing\.yaml.*no such file/],
      [file('bad.yaml', 'spec: [unclosed'), /bad\.yaml.*not valid YAML/],
      [file('list.yaml', '- a\n- b'), /list\.yaml.*got a list/],
      [file('empty.yaml', ''), /empty\.yaml.*empty document/],
      [file('containers.yaml', 'spec: {containers: {name: task}}'), /containers\.yaml.*spec\.containers must be a list/],
      [file('kind.yaml', 'kind: Deployment\nspec: {}'), /kind\.yaml.*kind must be Pod or PodTemplate/],
      [file('typo.yaml', 'spec: {nodeSelecter: {a: b}}'), /typo\.yaml.*unknown field\(s\): spec\.nodeSelecter/],
      [file('pt-typo.yaml', 'kind: PodTemplate\ntemplate: {spec: {containers: [{name: task, evn: []}]}}'), /unknown field\(s\): template\.spec\.containers\[0\]\.evn/],
    ];
    for (const [f, message] of cases) {
      let caught: unknown;
      try { loadPodTemplate(f); } catch (err) { caught = err; }
      expect(caught, f).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toMatch(message);
    }
  });

  it('a loaded template goes into a valid Job', () => {
    const t = loadPodTemplate(file('full.yaml', `apiVersion: v1
kind: Pod
metadata:
  labels: {team: genomics}
spec:
  nodeSelector: {pool: batch}
  tolerations: [{key: batch, operator: Exists, effect: NoSchedule}]
  volumes: [{name: refs, configMap: {name: refs}}, {name: data, emptyDir: {}}]
  containers:
  - name: task
    volumeMounts: [{name: refs, mountPath: /refs}]
  - name: sidecar
    image: busybox
`));
    const job = buildJob({ task: task(), attempt: 1, config: config(), podTemplate: t });
    expectValidObject(job);
    expect(podSpec(job).volumes!.find((v) => v.name === 'data')).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'taskpod-data' } });
  });
});
