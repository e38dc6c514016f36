// Checks a rendered Kubernetes object (from buildJob, `taskpod manifest`, `helm template`, examples/)
// the way the API server would: the kubernetes-models JSON schema of its apiVersion/kind, no unknown
// fields (kubectl's default strict field validation), valid names and labels, and for anything
// holding a pod spec: unique container and volume names, mounts that name a volume, and a Job
// restartPolicy the API accepts.
import * as admissionregistrationV1 from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV1 from 'kubernetes-models/autoscaling/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as coordinationV1 from 'kubernetes-models/coordination.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as schedulingV1 from 'kubernetes-models/scheduling.k8s.io/v1';
import * as storageV1 from 'kubernetes-models/storage.k8s.io/v1';
import { unknownFields } from '../../src/dispatcher/pod-template.js';

type ModelClass = { apiVersion?: string; kind?: string; new (data: unknown): { validate(): void } };

const MODELS = new Map<string, ModelClass>();
for (const group of [admissionregistrationV1, appsV1, autoscalingV1, autoscalingV2, batchV1, coordinationV1, coreV1,
  networkingV1, policyV1, rbacV1, schedulingV1, storageV1]) {
  for (const exported of Object.values(group) as unknown[]) {
    const model = exported as ModelClass;
    if (typeof model === 'function' && typeof model.apiVersion === 'string' && typeof model.kind === 'string') {
      MODELS.set(`${model.apiVersion}/${model.kind}`, model);
    }
  }
}

/** Kinds this helper knows, as "apiVersion/kind". */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `label key ${key}: bad prefix`;
  if (name.length > 63 || !QUALIFIED_NAME.test(name)) return `label key ${key}: bad name`;
  return undefined;
}

function metadataProblems(meta: Record<string, any> | undefined, where: string, nameRule?: 'label' | 'subdomain'): string[] {
  const problems: string[] = [];
  if (!meta) return nameRule ? [`${where}metadata.name is missing`] : [];
  if (nameRule) {
    const name = meta.name;
    const ok = typeof name === 'string' && (nameRule === 'label' ? name.length <= 63 && DNS_LABEL.test(name) : name.length <= 253 && DNS_SUBDOMAIN.test(name));
    if (!ok) problems.push(`${where}metadata.name ${JSON.stringify(name)} is not a valid ${nameRule === 'label' ? 'DNS label' : 'DNS subdomain'}`);
  }
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) problems.push(`${where}metadata.labels: ${keyProblem}`);
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) problems.push(`${where}metadata.labels[${key}]: bad value ${JSON.stringify(value)}`);
  }
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    if (typeof value !== 'string') problems.push(`${where}metadata.annotations[${key}] must be a string`);
  }
  return problems;
}

function podSpecProblems(spec: Record<string, any> | undefined, where: string, restartPolicies?: string[]): string[] {
  if (!spec) return [`${where} is missing`];
  const problems: string[] = [];
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Array<Record<string, any>>;
  if (!(spec.containers ?? []).length) problems.push(`${where}.containers must not be empty`);
  const seen = new Set<string>();
  for (const c of containers) {
    if (seen.has(c.name)) problems.push(`${where}: container name ${c.name} is used twice`);
    seen.add(c.name);
    if (typeof c.name !== 'string' || c.name.length > 63 || !DNS_LABEL.test(c.name)) problems.push(`${where}: container name ${JSON.stringify(c.name)} is not a DNS label`);
  }
  const volumes = new Set<string>();
  for (const v of (spec.volumes ?? []) as Array<Record<string, any>>) {
    if (volumes.has(v.name)) problems.push(`${where}.volumes: ${v.name} is defined twice`);
    volumes.add(v.name);
  }
  for (const c of containers) {
    const paths = new Set<string>();
    for (const m of (c.volumeMounts ?? []) as Array<Record<string, any>>) {
      if (!volumes.has(m.name)) problems.push(`${where}: container ${c.name} mounts ${m.name}, which is not a volume`);
      if (paths.has(m.mountPath)) problems.push(`${where}: container ${c.name} mounts two volumes at ${m.mountPath}`);
      paths.add(m.mountPath);
    }
  }
  // Jobs need one set (no default); elsewhere unset means Always.
  const policy = spec.restartPolicy ?? (restartPolicies?.includes('Always') ? 'Always' : undefined);
  if (restartPolicies && !restartPolicies.includes(policy)) {
    problems.push(`${where}.restartPolicy must be one of ${restartPolicies.join(', ')}, got ${JSON.stringify(spec.restartPolicy)}`);
  }
  return problems;
}

/** Every problem found, as readable lines; empty when the object would be accepted. */
export function objectProblems(obj: unknown): string[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return ['not an object'];
  const o = obj as Record<string, any>;
  const id = `${o.apiVersion}/${o.kind}`;
  const Model = MODELS.get(id);
  if (!Model) return [`unknown apiVersion/kind ${id}`];
  const problems: string[] = [];
  try {
    new Model(o).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  const group = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/')[1] : String(o.apiVersion);
  const clientType = `${group.charAt(0).toUpperCase()}${group.slice(1)}${o.kind}`;
  for (const field of unknownFields(o, clientType)) problems.push(`unknown field ${field}`);

  const kind = o.kind as string;
  problems.push(...metadataProblems(o.metadata, '', kind === 'Job' || kind === 'CronJob' || kind === 'Service' || kind === 'Namespace' ? 'label' : 'subdomain'));
  const jobPolicies = ['Never', 'OnFailure'];
  if (kind === 'Pod') problems.push(...podSpecProblems(o.spec, 'spec'));
  if (kind === 'Job') {
    problems.push(...metadataProblems(o.spec?.template?.metadata, 'spec.template.'));
    problems.push(...podSpecProblems(o.spec?.template?.spec, 'spec.template.spec', jobPolicies));
  }
  if (kind === 'CronJob') {
    const t = o.spec?.jobTemplate?.spec?.template;
    problems.push(...metadataProblems(t?.metadata, 'spec.jobTemplate.spec.template.'));
    problems.push(...podSpecProblems(t?.spec, 'spec.jobTemplate.spec.template.spec', jobPolicies));
  }
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(kind)) {
    problems.push(...metadataProblems(o.spec?.template?.metadata, 'spec.template.'));
    problems.push(...podSpecProblems(o.spec?.template?.spec, 'spec.template.spec', ['Always']));
    const selector = o.spec?.selector?.matchLabels ?? {};
    const labels = o.spec?.template?.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) problems.push(`spec.selector.matchLabels[${k}] does not match the pod template's labels`);
  }
  return problems;
}

/** Throws, listing every problem, unless the object is one the API server would accept. */
export function expectValidObject(obj: unknown): void {
  const problems = objectProblems(obj);
  if (problems.length) {
    const o = obj as Record<string, any> | null;
    throw new Error(`Invalid ${o?.kind ?? 'object'} ${o?.metadata?.name ?? ''}:\n  ${problems.join('\n  ')}`);
  }
}
