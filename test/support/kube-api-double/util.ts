// Helpers of the Kubernetes API server double: selectors, quantities, Status bodies, names.
import { randomBytes, randomUUID } from 'node:crypto';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface KObj {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    generation?: number;
    generateName?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Json[];
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    finalizers?: string[];
  };
  spec?: Json;
  status?: Json;
  [k: string]: Json;
}

export interface ResourceInfo {
  plural: string;
  group: string; // '' for core
  version: string;
  kind: string;
  apiVersion: string;
}

export const RESOURCES: Record<string, ResourceInfo> = {
  jobs: { plural: 'jobs', group: 'batch', version: 'v1', kind: 'Job', apiVersion: 'batch/v1' },
  pods: { plural: 'pods', group: '', version: 'v1', kind: 'Pod', apiVersion: 'v1' },
  secrets: { plural: 'secrets', group: '', version: 'v1', kind: 'Secret', apiVersion: 'v1' },
  events: { plural: 'events', group: '', version: 'v1', kind: 'Event', apiVersion: 'v1' },
};

/** `jobs.batch`, `pods` — the resource name as the API server spells it in messages. */
export function qualified(r: ResourceInfo): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export interface StatusCause { reason?: string; message: string; field?: string }

export function statusBody(code: number, reason: string, message: string, details?: Json): Json {
  const body: Json = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) body.details = details;
  return body;
}

export function notFound(r: ResourceInfo, name: string): Json {
  return statusBody(404, 'NotFound', `${qualified(r)} "${name}" not found`, { name, group: r.group || undefined, kind: r.plural });
}

export function alreadyExists(r: ResourceInfo, name: string): Json {
  return statusBody(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, { name, group: r.group || undefined, kind: r.plural });
}

export function invalid(r: ResourceInfo, name: string, causes: StatusCause[]): Json {
  const msg = `${r.kind}${r.group ? '.' + r.group : ''} "${name}" is invalid: ` + causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return statusBody(422, 'Invalid', msg, { name, group: r.group || undefined, kind: r.kind, causes });
}

export function successStatus(r: ResourceInfo, name: string, uid?: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: r.group || undefined, kind: r.plural, uid } };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export function validateLabelName(name: string, field = 'metadata.name'): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!DNS1123_LABEL.test(name)) {
    causes.push({
      reason: 'FieldValueInvalid', field,
      message: `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    });
  }
  if (name.length > 63) causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: "${name}": must be no more than 63 characters` });
  return causes;
}

const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** Five random characters from the alphabet Kubernetes uses for generateName. */
export function randomSuffix(n = 5): string {
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += SUFFIX_ALPHABET[b % SUFFIX_ALPHABET.length];
  return s;
}

export const newUid = (): string => randomUUID();
export const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
export const clone = <T>(x: T): T => structuredClone(x);

// ---- selectors --------------------------------------------------------------------------------

type Req = (labels: Record<string, string>) => boolean;

/** Parses a label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`, comma-joined. */
export function parseLabelSelector(sel: string | undefined | null): Req {
  if (!sel || !sel.trim()) return () => true;
  const parts: string[] = [];
  let depth = 0, cur = '';
  for (const ch of sel) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { parts.push(cur); cur = ''; } else cur += ch;
  }
  parts.push(cur);
  const reqs: Req[] = parts.map((raw) => {
    const p = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m;
      const values = list.split(',').map((v) => v.trim()).filter(Boolean);
      return op === 'in' ? (l) => key in l && values.includes(l[key]) : (l) => !(key in l) || !values.includes(l[key]);
    }
    if ((m = p.match(/^([^\s!=]+)\s*!=\s*(\S*)$/))) { const [, k, v] = m; return (l) => l[k] !== v; }
    if ((m = p.match(/^([^\s!=]+)\s*==?\s*(\S*)$/))) { const [, k, v] = m; return (l) => l[k] === v; }
    if ((m = p.match(/^!\s*(\S+)$/))) { const k = m[1]; return (l) => !(k in l); }
    if ((m = p.match(/^(\S+)$/))) { const k = m[1]; return (l) => k in l; }
    throw new SelectorError(`unable to parse requirement: ${p}`);
  });
  return (labels) => reqs.every((r) => r(labels ?? {}));
}

export class SelectorError extends Error {}

function getPath(obj: Json, path: string): unknown {
  let cur = obj;
  for (const k of path.split('.')) { if (cur == null) return undefined; cur = cur[k]; }
  return cur;
}

/** Field selectors: `a.b=c`, `a.b==c`, `a.b!=c`, comma-joined (any dotted path into the object). */
export function parseFieldSelector(sel: string | undefined | null): (obj: KObj) => boolean {
  if (!sel || !sel.trim()) return () => true;
  const reqs = sel.split(',').map((raw) => {
    const m = raw.trim().match(/^([^!=]+?)\s*(!=|==|=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid field selector: ${raw}`);
    const [, path, op, value] = m;
    return (o: KObj) => {
      const v = getPath(o, path.trim());
      const s = v === undefined || v === null ? '' : String(v);
      return op === '!=' ? s !== value : s === value;
    };
  });
  return (o) => reqs.every((r) => r(o));
}

/** Kubernetes quantity → number (bytes for memory). */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = String(q).trim().match(/^([0-9.]+(?:[eE][-+]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/);
  if (!m) throw new Error(`invalid quantity ${q}`);
  const mult: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
  };
  return Number(m[1]) * mult[m[2] ?? ''];
}

/** JSON merge patch (RFC 7386); also used for strategic-merge patches (close enough for a double). */
export function mergePatch(target: Json, patch: Json): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
