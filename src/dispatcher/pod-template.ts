// The pod template file (like Airflow's pod_template_file): read once, checked, handed to buildJob.
// Parsed as plain YAML/JSON (client-node's loadYaml would silently drop fields it does not know),
// then checked for unknown fields against client-node's models so that a typo is an error, not a no-op.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import * as k8s from '@kubernetes/client-node';
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { ConfigError } from '../config.js';

interface Attribute { baseName: string; type: string }
type Model = { getAttributeTypeMap(): Attribute[] };

/**
 * Paths of fields the Kubernetes API does not know, walking `value` as client-node's model `type`
 * (e.g. 'V1PodSpec'). Free-form parts (maps, IntOrString, raw objects) are not walked.
 */
export function unknownFields(value: unknown, type: string, at = ''): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1], `${at}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    return typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value).flatMap(([key, item]) => unknownFields(item, map[1], `${at}.${key}`))
      : [];
  }
  const model = (k8s as unknown as Record<string, Model | undefined>)[type];
  if (typeof model?.getAttributeTypeMap !== 'function' || typeof value !== 'object' || Array.isArray(value)) return [];
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, item]) => {
    const path = at ? `${at}.${key}` : key;
    const attrType = attributes.get(key);
    return attrType === undefined ? [path] : unknownFields(item, attrType, path);
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a pod template: a `kind: Pod`, a `kind: PodTemplate` (its `template`) or a bare
 * `{metadata, spec}`, in YAML or JSON. Every problem is a ConfigError naming the file.
 */
export function loadPodTemplate(file: string): V1PodTemplateSpec {
  const fail = (problem: string) => new ConfigError(`Invalid pod template file ${file} (podTemplateFile, env TASKPOD_POD_TEMPLATE_FILE): ${problem}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (err) {
    throw fail(`not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObject(doc)) throw fail(`expected an object (a Pod, a PodTemplate, or {metadata, spec}), got ${doc === null || doc === undefined ? 'an empty document' : Array.isArray(doc) ? 'a list' : typeof doc}`);

  let template: Record<string, unknown>;
  let where = '';
  if (doc.kind === 'PodTemplate') {
    if (!isObject(doc.template)) throw fail('a PodTemplate needs a template object');
    template = doc.template;
    where = 'template.';
  } else if (doc.kind === undefined || doc.kind === 'Pod') {
    const { metadata, spec } = doc;
    template = { ...(metadata !== undefined ? { metadata } : {}), ...(spec !== undefined ? { spec } : {}) };
    const extra = Object.keys(doc).filter((k) => !['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k));
    if (extra.length) throw fail(`unknown top-level field(s): ${extra.join(', ')}`);
  } else {
    throw fail(`kind must be Pod or PodTemplate (or absent), got ${JSON.stringify(doc.kind)}`);
  }
  if (template.metadata !== undefined && !isObject(template.metadata)) throw fail(`${where}metadata must be an object`);
  if (template.spec !== undefined && !isObject(template.spec)) throw fail(`${where}spec must be an object`);
  const spec = (template.spec ?? {}) as Record<string, unknown>;
  if (spec.containers !== undefined && !Array.isArray(spec.containers)) throw fail(`${where}spec.containers must be a list`);
  for (const [i, c] of ((spec.containers as unknown[]) ?? []).entries()) {
    if (!isObject(c) || typeof c.name !== 'string' || !c.name) throw fail(`${where}spec.containers[${i}] must be an object with a name`);
  }
  for (const key of ['volumes', 'initContainers', 'tolerations', 'imagePullSecrets'] as const) {
    if (spec[key] !== undefined && !Array.isArray(spec[key])) throw fail(`${where}spec.${key} must be a list`);
  }
  const unknown = unknownFields(template, 'V1PodTemplateSpec');
  if (unknown.length) throw fail(`unknown field(s): ${unknown.map((p) => where + p).join(', ')}`);
  // spec.containers is required in the API type, but a template may only set pod-level fields.
  return template as unknown as V1PodTemplateSpec;
}
