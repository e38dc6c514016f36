// The object store of the API server double: a global resourceVersion, an event history
// window for watch resumption, and the open watches.
import { clone, newUid, now, RESOURCES, type KObj } from './util.js';

export type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent { rv: number; resource: string; type: WatchType; object: KObj }

export interface WatchSink {
  resource: string;
  namespace: string | null;
  matches(obj: KObj): boolean;
  send(type: string, object: unknown): void;
}

const key = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

export class Store {
  rv = 0;
  /** Events at or below this resourceVersion are no longer available to watches. */
  floor = 0;
  private readonly objects = new Map<string, Map<string, KObj>>();
  private history: StoredEvent[] = [];
  readonly sinks = new Set<WatchSink>();
  /** Called after each change, for the controllers. */
  readonly listeners: ((ev: StoredEvent, old: KObj | undefined) => void)[] = [];

  constructor(private readonly historySize: number) {
    for (const r of Object.keys(RESOURCES)) this.objects.set(r, new Map());
  }

  private map(resource: string): Map<string, KObj> {
    const m = this.objects.get(resource);
    if (!m) throw new Error(`unknown resource ${resource}`);
    return m;
  }

  get(resource: string, ns: string | undefined, name: string): KObj | undefined {
    return this.map(resource).get(key(ns, name));
  }

  list(resource: string, ns?: string | null): KObj[] {
    const all = [...this.map(resource).values()];
    return (ns ? all.filter((o) => o.metadata.namespace === ns) : all).sort(
      (a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion),
    );
  }

  /** Stores a new object (the caller checked it does not exist); returns the stored object. */
  create(resource: string, obj: KObj): KObj {
    const info = RESOURCES[resource];
    const o = clone(obj);
    o.apiVersion = info.apiVersion;
    o.kind = info.kind;
    o.metadata.uid = o.metadata.uid ?? newUid();
    o.metadata.creationTimestamp = now();
    if (resource === 'jobs') o.metadata.generation = 1;
    o.metadata.resourceVersion = String(++this.rv);
    this.map(resource).set(key(o.metadata.namespace, o.metadata.name), o);
    this.emit({ rv: this.rv, resource, type: 'ADDED', object: o }, undefined);
    return o;
  }

  /** Replaces a stored object with `obj` (same name); bumps resourceVersion (and generation when spec changed). */
  update(resource: string, obj: KObj): KObj {
    const m = this.map(resource);
    const k = key(obj.metadata.namespace, obj.metadata.name);
    const old = m.get(k);
    if (!old) throw new Error(`update of missing ${resource} ${k}`);
    const o = clone(obj);
    o.metadata.uid = old.metadata.uid;
    o.metadata.creationTimestamp = old.metadata.creationTimestamp;
    if (resource === 'jobs' && JSON.stringify(o.spec) !== JSON.stringify(old.spec)) o.metadata.generation = (old.metadata.generation ?? 1) + 1;
    else if (old.metadata.generation !== undefined) o.metadata.generation = old.metadata.generation;
    o.metadata.resourceVersion = String(++this.rv);
    m.set(k, o);
    this.emit({ rv: this.rv, resource, type: 'MODIFIED', object: o }, old);
    return o;
  }

  /** Mutates a stored object through `fn` and stores it if anything changed. */
  mutate(resource: string, ns: string | undefined, name: string, fn: (o: KObj) => void): KObj | undefined {
    const cur = this.get(resource, ns, name);
    if (!cur) return undefined;
    const next = clone(cur);
    fn(next);
    if (JSON.stringify(next) === JSON.stringify(cur)) return cur;
    return this.update(resource, next);
  }

  remove(resource: string, ns: string | undefined, name: string): KObj | undefined {
    const m = this.map(resource);
    const k = key(ns, name);
    const old = m.get(k);
    if (!old) return undefined;
    m.delete(k);
    const o = clone(old);
    o.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, resource, type: 'DELETED', object: o }, old);
    return o;
  }

  /** Events after `rv` for a resource, or 'expired' when some of them are gone. */
  since(rv: number): StoredEvent[] | 'expired' {
    if (rv < this.floor) return 'expired';
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forgets the whole history: every resourceVersion before now becomes too old. */
  compact(): void {
    this.rv++;
    this.floor = this.rv;
    this.history = [];
  }

  private emit(ev: StoredEvent, old: KObj | undefined): void {
    this.history.push(ev);
    while (this.history.length > this.historySize) this.floor = this.history.shift()!.rv;
    for (const s of this.sinks) {
      if (s.resource !== ev.resource) continue;
      if (s.namespace && s.namespace !== ev.object.metadata.namespace) continue;
      const now = s.matches(ev.object);
      const before = old !== undefined && s.matches(old);
      if (now) s.send(ev.type === 'MODIFIED' && !before ? 'ADDED' : ev.type, ev.object);
      else if (before && ev.type === 'MODIFIED') s.send('DELETED', ev.object);
    }
    for (const l of this.listeners) l(ev, old);
  }
}
