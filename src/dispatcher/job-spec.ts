// The only place a task's Job is shaped. Pure: no I/O, no clock, no randomness, inputs untouched,
// so that the dispatcher and `taskpod manifest` produce exactly the same object.
import { createHash } from 'node:crypto';
import type {
  V1Container, V1EnvVar, V1Job, V1PodSecurityContext, V1PodSpec, V1PodTemplateSpec, V1ResourceRequirements,
  V1Volume, V1VolumeMount,
} from '@kubernetes/client-node';
import type { Config, ResourceRequirements } from '../config.js';
import type { ResourceHints } from '../plugins.js';
import type { Task } from '../tasks/model.js';
import { EXIT } from '../runner.js';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  instance: 'taskpod.dev/instance',
  taskId: 'taskpod.dev/task-id',
  attempt: 'taskpod.dev/attempt',
  taskType: 'taskpod.dev/task-type',
  kueueQueue: 'kueue.x-k8s.io/queue-name',
} as const;

export const ANNOTATIONS = {
  jobId: 'taskpod.dev/job-id',
  taskType: 'taskpod.dev/task-type',
  schema: 'taskpod.dev/schema',
} as const;

/** The container running `taskpod run`; podFailurePolicy rules name it. */
export const TASK_CONTAINER = 'task';
export const DATA_VOLUME = 'data';
export const TMP_VOLUME = 'tmp';

const LABEL_VALUE = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;

/** True when the value can be used as a Kubernetes label value as is (taskpod keeps to lowercase). */
export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}

export function jobName(prefix: string, taskId: number, attempt: number): string {
  return `${prefix}-${taskId}-${attempt}`;
}

/** The label value naming this taskpod installation: the schema, or a hash of it when it is not a valid label value. */
export function instanceLabel(schema: string): string {
  if (isLabelValue(schema)) return schema;
  return 's' + createHash('sha256').update(schema).digest('hex').slice(0, 12);
}

/** The label selector of every Job and pod this installation manages. */
export function jobSelector(schema: string): string {
  return `${LABELS.managedBy}=taskpod,${LABELS.instance}=${instanceLabel(schema)}`;
}

export interface BuildJobInput {
  task: Task;
  attempt: number;
  config: Config;
  pluginResources?: ResourceHints;
  podTemplate?: V1PodTemplateSpec;
}

const clone = <T>(value: T): T => (value === undefined ? value : structuredClone(value));

/** Requests and limits merged separately, key by key; later layers win; empty parts omitted. */
export function mergeResources(...layers: Array<ResourceRequirements | V1ResourceRequirements | undefined | null>): V1ResourceRequirements | undefined {
  const out: V1ResourceRequirements = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (key === 'requests' || key === 'limits') {
        if (value && typeof value === 'object') out[key] = { ...(out[key] ?? {}), ...(value as Record<string, string>) };
      } else if (value !== undefined) {
        (out as Record<string, unknown>)[key] = clone(value); // e.g. claims, from a template
      }
    }
  }
  if (out.requests && Object.keys(out.requests).length === 0) delete out.requests;
  if (out.limits && Object.keys(out.limits).length === 0) delete out.limits;
  return Object.keys(out).length ? out : undefined;
}

function taskLabels(task: Task, attempt: number, config: Config): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.name]: 'taskpod',
    [LABELS.component]: 'task',
    [LABELS.managedBy]: 'taskpod',
    [LABELS.instance]: instanceLabel(config.schema),
    [LABELS.taskId]: String(task.id),
    [LABELS.attempt]: String(attempt),
  };
  if (isLabelValue(task.task_type)) labels[LABELS.taskType] = task.task_type;
  if (config.kueueQueue) labels[LABELS.kueueQueue] = config.kueueQueue;
  return labels;
}

function taskEnv(config: Config): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: 'TASKPOD_SCHEMA', value: config.schema },
    { name: 'TASKPOD_DATA_DIR', value: config.jobDataDir },
    { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: config.databaseSecret, key: config.databaseSecretKey } } },
    { name: 'TASKPOD_WORKER', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'TASKPOD_LOG_FORMAT', value: 'json' },
    { name: 'TASKPOD_LOG_LEVEL', value: config.logLevel },
    { name: 'TASKPOD_HEARTBEAT_MS', value: String(config.heartbeatMs) },
    { name: 'TASKPOD_PROGRESS_MS', value: String(config.progressMs) },
  ];
  if (config.commandAllow.length) env.push({ name: 'TASKPOD_COMMAND_ALLOW', value: config.commandAllow.join(',') });
  if (config.pluginDirs.length) env.push({ name: 'TASKPOD_PLUGIN_DIRS', value: config.pluginDirs.join(',') });
  return env;
}

function taskContainer(input: BuildJobInput, base: V1Container | undefined): V1Container {
  const { task, config } = input;
  const env = taskEnv(config);
  const ours = new Set(env.map((e) => e.name));
  const mounts: V1VolumeMount[] = [
    { name: DATA_VOLUME, mountPath: config.jobDataDir },
    { name: TMP_VOLUME, mountPath: '/tmp' },
  ];
  const ourPaths = new Set(mounts.map((m) => m.mountPath));
  const container: V1Container = { ...clone(base ?? { name: TASK_CONTAINER }) };
  // The image's ENTRYPOINT is the taskpod CLI: a template's command would break `run --task-id N`.
  delete container.command;
  container.name = TASK_CONTAINER;
  container.image = config.image;
  container.imagePullPolicy = config.imagePullPolicy;
  container.args = ['run', '--task-id', String(task.id)];
  // Ours first, so that a template variable can refer to them as $(TASKPOD_DATA_DIR).
  container.env = [...env, ...(base?.env ?? []).filter((e) => !ours.has(e.name)).map(clone)];
  container.volumeMounts = [...mounts, ...(base?.volumeMounts ?? []).filter((m) => !ourPaths.has(m.mountPath)).map(clone)];
  const resources = mergeResources(base?.resources, input.pluginResources, config.typeResources[task.task_type], task.resources);
  if (resources) container.resources = resources;
  else delete container.resources;
  container.securityContext = {
    ...clone(base?.securityContext ?? {}),
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  };
  return container;
}

function podSecurityContext(template: V1PodSecurityContext | undefined): V1PodSecurityContext {
  const seccomp = template?.seccompProfile;
  return {
    ...clone(template ?? {}),
    runAsNonRoot: true,
    // A template may pick a stricter (Localhost) profile; never Unconfined.
    seccompProfile: seccomp && (seccomp.type === 'RuntimeDefault' || seccomp.type === 'Localhost') ? clone(seccomp) : { type: 'RuntimeDefault' },
  };
}

/** The Job for one launch of a task. */
export function buildJob(input: BuildJobInput): V1Job {
  const { task, attempt, config, podTemplate } = input;
  const name = jobName(config.jobPrefix, task.id, attempt);
  const labels = taskLabels(task, attempt, config);
  const annotations: Record<string, string> = {
    [ANNOTATIONS.jobId]: task.job_id,
    [ANNOTATIONS.taskType]: task.task_type,
    [ANNOTATIONS.schema]: config.schema,
  };
  const templateSpec: Partial<V1PodSpec> = podTemplate?.spec ?? {};
  const templateContainers = templateSpec.containers ?? [];
  const base = templateContainers.find((c) => c.name === TASK_CONTAINER);
  const sidecars = templateContainers.filter((c) => c.name !== TASK_CONTAINER).map(clone);

  const volumes: V1Volume[] = [
    { name: DATA_VOLUME, persistentVolumeClaim: { claimName: config.pvc } },
    { name: TMP_VOLUME, emptyDir: {} },
    ...(templateSpec.volumes ?? []).filter((v) => v.name !== DATA_VOLUME && v.name !== TMP_VOLUME).map(clone),
  ];
  const pullSecrets = [...(templateSpec.imagePullSecrets ?? []).map(clone)];
  for (const secret of config.imagePullSecrets) {
    if (!pullSecrets.some((s) => s.name === secret)) pullSecrets.push({ name: secret });
  }

  const spec: V1PodSpec = {
    ...clone(templateSpec),
    restartPolicy: 'Never',
    serviceAccountName: config.taskServiceAccount,
    automountServiceAccountToken: false,
    enableServiceLinks: templateSpec.enableServiceLinks ?? false,
    terminationGracePeriodSeconds: templateSpec.terminationGracePeriodSeconds ?? 30,
    securityContext: podSecurityContext(templateSpec.securityContext),
    containers: [taskContainer(input, base), ...sidecars],
    volumes,
  };
  delete spec.serviceAccount; // the deprecated alias would contradict serviceAccountName
  if (pullSecrets.length) spec.imagePullSecrets = pullSecrets;
  else delete spec.imagePullSecrets;

  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: config.namespace, labels: { ...labels }, annotations: { ...annotations } },
    spec: {
      backoffLimit: config.jobBackoffLimit,
      ttlSecondsAfterFinished: config.jobTtlSeconds,
      podFailurePolicy: {
        rules: [
          // Evictions, preemptions, node drains: not the task's fault, not counted.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          // The runner's "database unreachable, nothing recorded": the Job tries again (up to backoffLimit).
          { action: 'Count', onExitCodes: { containerName: TASK_CONTAINER, operator: 'In', values: [EXIT.tempfail] } },
          // Anything else (1 failed, 2 usage, 137 OOM, ...): the Job fails now; the dispatcher decides.
          { action: 'FailJob', onExitCodes: { containerName: TASK_CONTAINER, operator: 'NotIn', values: [EXIT.tempfail] } },
        ],
      },
      template: {
        metadata: {
          labels: { ...(podTemplate?.metadata?.labels ?? {}), ...labels },
          annotations: { ...(podTemplate?.metadata?.annotations ?? {}), ...annotations },
        },
        spec,
      },
    },
  };
  if (task.timeout_seconds !== null && task.timeout_seconds !== undefined && task.timeout_seconds > 0) {
    job.spec!.activeDeadlineSeconds = task.timeout_seconds + config.jobDeadlineGraceSeconds;
  }
  if (config.kueueQueue) job.spec!.suspend = true;
  return job;
}
