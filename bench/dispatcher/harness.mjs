// Helpers for bench/dispatcher.bench.mjs: the TypeScript modules it needs (bundled at bench
// time), a schema per benchmark, the Kubernetes API server double, and `taskpod dispatch`
// children with their RSS.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = path.join(root, 'dist', 'taskpod.js');

/** Bundles bench/dispatcher/entry.ts and imports it; `cleanup()` removes the bundle. */
export async function loadLib() {
  // Under node_modules so that bare imports (pg, client-node) resolve and paths.ts finds the package root.
  const cacheDir = path.join(root, 'node_modules', '.cache');
  mkdirSync(cacheDir, { recursive: true });
  const dir = mkdtempSync(path.join(cacheDir, 'taskpod-bench-dispatcher-'));
  const outfile = path.join(dir, 'entry.mjs');
  await build({
    entryPoints: [path.join(root, 'bench', 'dispatcher', 'entry.ts')],
    outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning',
  });
  const lib = await import(pathToFileURL(outfile).href);
  return { lib, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fresh, migrated schema; `drop()` removes it. */
export async function freshSchema(lib, client, name) {
  const schema = `bench_dispatcher_${name}`;
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await lib.migrate(client, schema);
  return { schema, t: `"${schema}".tasks`, drop: () => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`) };
}

/** Inserts n pending seq_toolkit tasks in one statement, without the per-row NOTIFY (nobody listens yet). */
export async function bulkInsert(client, t, n) {
  await client.query(`ALTER TABLE ${t} DISABLE TRIGGER tasks_notify_insert`);
  await client.query(`INSERT INTO ${t} (task_type, params) SELECT 'seq_toolkit', '{"operation":"length","sequence":"A"}' FROM generate_series(1, $1)`, [n]);
  await client.query(`ALTER TABLE ${t} ENABLE TRIGGER tasks_notify_insert`);
  await client.query(`ANALYZE ${t}`);
}

/**
 * The API server double. Pods of the Jobs reach ImagePullBackOff and stay there (the image is
 * not in the double's `images`; the PVC and the database Secret exist so that nothing fails
 * earlier). Each POST's request record gets `name`, the name of the object in its body.
 */
export async function startDouble(lib, dataDir, { controller = true } = {}) {
  const double = new lib.KubeApiDouble({ volumes: { 'taskpod-data': dataDir } });
  // Without the controller the double is an object store with watches: Jobs get no pods. Its Job
  // controller lists every pod for every Job change (O(jobs x pods)), which at thousands of Jobs
  // makes the double, not the dispatcher, the bottleneck of a throughput measurement.
  if (!controller) double.store.listeners.length = 0;
  const route = double.route.bind(double);
  // route() is private in the TypeScript class; wrapping it is the one way to pair a POST's arrival time with its body.
  double.route = (method, url, query, body, req, res, rec, send) => {
    if (method === 'POST' && body?.metadata?.name) rec.name = body.metadata.name;
    return route(method, url, query, body, req, res, rec, send);
  };
  await double.start();
  double.connections = 0; // TCP connections accepted: with keep-alive, a handful
  double.server.on('connection', () => double.connections++);
  double.putSecret('taskpod-database', { DATABASE_URL: 'postgres://unused' });
  return double;
}

/** Successful Job create requests in the double's log, in arrival order. */
export const jobCreates = (double) => double.requests.filter((r) => r.method === 'POST' && r.status === 201 && /\/jobs$/.test(r.path));
/** Job creates answered 409 AlreadyExists: the dispatcher created a Job it had already created. */
export const jobConflicts = (double) => double.requests.filter((r) => r.method === 'POST' && r.status === 409 && /\/jobs$/.test(r.path)).length;

/** Starts `taskpod dispatch`; resolves once it logged that it started (with its status port). */
/** nodeArgs: e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] (BENCH_DISPATCHER_NODE_ARGS in the bench). */
export async function startDispatcher(env, { timeoutMs = 30_000, cliPath = cli, nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, cliPath, 'dispatch', '--executor', 'kubernetes'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = { warn: 0, error: 0, sample: [] };
  let buffered = '';
  let started;
  const ready = new Promise((resolve, reject) => {
    started = resolve;
    child.once('exit', (code) => reject(new Error(`taskpod dispatch exited ${code} before starting:\n${lines.sample.join('\n')}`)));
    setTimeout(() => reject(new Error('taskpod dispatch did not start in time')), timeoutMs).unref();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let rec;
      try { rec = JSON.parse(line); } catch { rec = { level: 50, msg: line }; }
      if (rec.level >= 50) lines.error++;
      else if (rec.level >= 40) lines.warn++;
      if (rec.level >= 40 && lines.sample.length < 5) lines.sample.push(`${rec.msg ?? line}`);
      if (typeof rec.msg === 'string' && rec.msg.startsWith('Dispatcher started')) started({ port: rec.port });
    }
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const { port } = await ready;
  return {
    child, port, lines,
    /** SIGTERM, then SIGKILL if it has not exited within 10 s; resolves with its exit code. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** VmRSS and VmHWM of a process, in MiB (undefined once it is gone). */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1]);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Polls until `check()` is truthy or the timeout passes; returns whether it became true. */
export async function waitFor(check, timeoutMs, stepMs = 20) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(stepMs);
  }
  return Boolean(await check());
}

