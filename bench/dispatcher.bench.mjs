// Dispatcher benchmarks: `taskpod dispatch` (Kubernetes executor) against the API server double
// (test/support/kube-api-double.ts, in this process; pods never start: ImagePullBackOff), and
// the store's claim. Each benchmark has its own schema, dropped at the end.
//   1. submit → Job create request latency (target p99 < 100 ms)
//   2. Jobs created per second, rate limit lifted (target 500/s on 2 cores), and the share of a
//      configured QPS used when it binds (target 95 %)
//   3. dispatcher RSS with 100,000 pending tasks (target < 150 MB)
//   4. claim latency with 1,000 and 1,000,000 pending rows (target within 2x)
// Targets are reported, not asserted. Uses DATABASE_URL when set, else the embedded server.
// Sizes: BENCH_LATENCY_TASKS (300), BENCH_THROUGHPUT_TASKS (5000), BENCH_RSS_TASKS (100000),
// BENCH_CLAIM_LARGE (1000000). Writes docs/bench-dispatcher.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineLine } from './machine.mjs';
import {
  bulkInsert, cli, freshSchema, jobConflicts, jobCreates, loadLib, memoryOf, pct, root, sleep, startDispatcher, startDouble, waitFor,
} from './dispatcher/harness.mjs';

const LATENCY_TASKS = Number(process.env.BENCH_LATENCY_TASKS ?? 300);
const LATENCY_GAP_MS = 20;
const THROUGHPUT_TASKS = Number(process.env.BENCH_THROUGHPUT_TASKS ?? 5000);
const BOUND_QPS = 50;
const BOUND_WINDOW_MS = 10_000;
const RSS_TASKS = Number(process.env.BENCH_RSS_TASKS ?? 100_000);
const RSS_RUN_MS = 10_000;
const CLAIM_SMALL = 1000;
const CLAIM_LARGE = Number(process.env.BENCH_CLAIM_LARGE ?? 1_000_000);
const CLAIM_BATCH = 20;
const CLAIM_ROUNDS = 200;
const PARAMS = '{"operation":"length","sequence":"A"}';

const started = Date.now();
const { lib, cleanup: removeBundle } = await loadLib();
const cliPath = cli;
const nodeArgs = (process.env.BENCH_DISPATCHER_NODE_ARGS ?? '').split(' ').filter(Boolean); // e.g. --cpu-prof
const config = lib.loadConfig({ ...process.env, TASKPOD_LOG_LEVEL: 'warn' });
const databaseUrl = await lib.resolveDatabaseUrl(config);
const client = await lib.connectClient(lib.loadConfig({ ...process.env, DATABASE_URL: databaseUrl }), 'taskpod bench');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskpod-bench-dispatcher-'));
const pgVersion = (await client.query('SHOW server_version')).rows[0].server_version;

const dispatcherEnv = (schema, kubeconfig, extra) => ({
  ...process.env,
  DATABASE_URL: databaseUrl,
  TASKPOD_SCHEMA: schema,
  TASKPOD_KUBECONFIG: kubeconfig,
  TASKPOD_NAMESPACE: 'default',
  TASKPOD_DATA_DIR: dataDir,
  TASKPOD_PORT: '0',
  TASKPOD_LISTEN_HOST: '127.0.0.1',
  TASKPOD_LOG_FORMAT: 'json',
  TASKPOD_LOG_LEVEL: 'info',
  TASKPOD_START_DEADLINE_SECONDS: '86400',
  ...extra,
});

/** A schema, the double and a dispatcher for `fn`; everything is stopped and dropped after. */
async function withDispatcher(name, extraEnv, { before, run, controller = true }) {
  const s = await freshSchema(lib, client, name);
  const double = await startDouble(lib, dataDir, { controller });
  let dispatcher;
  try {
    await before?.(s);
    const kubeconfig = double.writeKubeconfig(path.join(dataDir, `kubeconfig-${name}`));
    const t0 = Date.now();
    dispatcher = await startDispatcher(dispatcherEnv(s.schema, kubeconfig, extraEnv), { cliPath, nodeArgs });
    return await run({ s, double, dispatcher, t0 });
  } finally {
    await dispatcher?.stop();
    await double.stop();
    await s.drop();
  }
}

const log = (msg) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}\n`);

// ---- 1. submit → Job create request latency ---------------------------------------------------
async function latency() {
  return withDispatcher('latency', { TASKPOD_CONCURRENCY: '1000000', TASKPOD_KUBE_QPS: '0' }, {
    async run({ s, double, dispatcher }) {
      await sleep(500); // past the start-up reconcile
      const committed = new Map();
      for (let i = 0; i < LATENCY_TASKS; i++) {
        const { rows } = await client.query(`INSERT INTO ${s.t} (task_type, params) VALUES ('seq_toolkit', $1) RETURNING id`, [PARAMS]);
        committed.set(`taskpod-${rows[0].id}-1`, Date.now());
        await sleep(LATENCY_GAP_MS);
      }
      await waitFor(() => jobCreates(double).length >= LATENCY_TASKS, 15_000);
      const received = new Map(jobCreates(double).map((r) => [r.name, r.time]));
      const ms = [...committed].filter(([name]) => received.has(name)).map(([name, at]) => received.get(name) - at);
      return { n: LATENCY_TASKS, created: ms.length, ms, conflicts: jobConflicts(double), connections: double.connections, warnings: dispatcher.lines.warn + dispatcher.lines.error, failed: ms.length ? undefined : dispatcher.lines.sample };
    },
  });
}

// ---- 2a. creates per second, no API latency, rate limit lifted ----------------------------------
async function throughput() {
  return withDispatcher('throughput', { TASKPOD_CONCURRENCY: '1000000', TASKPOD_KUBE_QPS: '0' }, {
    controller: false, // see startDouble: at thousands of Jobs the double's controller would be what is measured
    before: (s) => bulkInsert(client, s.t, THROUGHPUT_TASKS),
    async run({ double, dispatcher, t0 }) {
      let seen = 0;
      let progressAt = Date.now();
      const done = await waitFor(() => {
        const n = jobCreates(double).length;
        if (n > seen) { seen = n; progressAt = Date.now(); }
        return n >= THROUGHPUT_TASKS || Date.now() - progressAt > 10_000; // stalled
      }, 120_000, 100) && seen >= THROUGHPUT_TASKS;
      const creates = jobCreates(double);
      if (creates.length < 2) return { n: THROUGHPUT_TASKS, created: creates.length, done, failed: dispatcher.lines.sample };
      const first = creates[0].time;
      const last = creates.at(-1).time;
      const perSecond = [];
      for (let at = first; at < last; at += 1000) perSecond.push(creates.filter((r) => r.time >= at && r.time < at + 1000).length);
      return {
        n: THROUGHPUT_TASKS, created: creates.length, done,
        startToFirstMs: first - t0, spanMs: last - first,
        rate: (creates.length - 1) / ((last - first) / 1000),
        perSecond,
        requests: double.requests.filter((r) => r.time >= first && r.time <= last).length,
        conflicts: jobConflicts(double), connections: double.connections,
        warnings: dispatcher.lines.warn + dispatcher.lines.error,
      };
    },
  });
}

// ---- 2b. share of a binding QPS ------------------------------------------------------------------
async function boundQps() {
  const tasks = Math.ceil((BOUND_QPS * (BOUND_WINDOW_MS + 3000)) / 1000) + 200;
  return withDispatcher('qps', { TASKPOD_CONCURRENCY: '1000000', TASKPOD_KUBE_QPS: String(BOUND_QPS), TASKPOD_KUBE_BURST: '1' }, {
    before: (s) => bulkInsert(client, s.t, tasks),
    async run({ double, dispatcher }) {
      if (!(await waitFor(() => jobCreates(double).length > 0, 10_000))) return { qps: BOUND_QPS, failed: dispatcher.lines.sample };
      const from = jobCreates(double)[0].time + 1000; // steady state: past start-up and the first create
      const to = from + BOUND_WINDOW_MS;
      await sleep(to - Date.now() + 200);
      const inWindow = (r) => r.time >= from && r.time < to;
      const creates = jobCreates(double).filter(inWindow).length;
      const all = double.requests.filter(inWindow);
      const kinds = {};
      for (const r of all) {
        const kind = `${r.method} ${r.path.split('/').at(-1)}${r.watch ? ' (watch)' : ''}`;
        kinds[kind] = (kinds[kind] ?? 0) + 1;
      }
      return {
        qps: BOUND_QPS, windowMs: BOUND_WINDOW_MS,
        createsPerSecond: creates / (BOUND_WINDOW_MS / 1000),
        allPerSecond: all.length / (BOUND_WINDOW_MS / 1000),
        kinds, conflicts: jobConflicts(double), warnings: dispatcher.lines.warn + dispatcher.lines.error,
      };
    },
  });
}

// ---- 3. RSS with many pending tasks ------------------------------------------------------------------
async function rss() {
  return withDispatcher('rss', { TASKPOD_CONCURRENCY: '20', TASKPOD_KUBE_QPS: '0', TASKPOD_RECONCILE_MS: '500', TASKPOD_POLL_MS: '1000' }, {
    before: (s) => bulkInsert(client, s.t, RSS_TASKS),
    async run({ double, dispatcher, t0 }) {
      const samples = [];
      const end = Date.now() + RSS_RUN_MS;
      let nextScrape = Date.now();
      let scrapes = 0;
      while (Date.now() < end) {
        const m = memoryOf(dispatcher.child.pid);
        if (m) samples.push(m);
        if (Date.now() >= nextScrape) { // like Prometheus, every second
          nextScrape += 1000;
          await fetch(`http://127.0.0.1:${dispatcher.port}/metrics`).then((r) => r.text()).then(() => scrapes++, () => undefined);
        }
        await sleep(100);
      }
      const last = memoryOf(dispatcher.child.pid);
      return {
        n: RSS_TASKS, runMs: RSS_RUN_MS, startMs: Date.now() - t0 - RSS_RUN_MS,
        maxRss: Math.max(...samples.map((m) => m.rss)), lastRss: last?.rss, hwm: last?.hwm,
        created: jobCreates(double).length, scrapes, warnings: dispatcher.lines.warn + dispatcher.lines.error,
      };
    },
  });
}

// ---- 4. claim latency --------------------------------------------------------------------------------
async function claimLatency(pending) {
  const s = await freshSchema(lib, client, `claim_${pending}`);
  const pool = lib.createPool(databaseUrl, config, 2);
  try {
    const insertStart = Date.now();
    await bulkInsert(client, s.t, pending);
    const insertMs = Date.now() - insertStart;
    const store = new lib.TaskStore(pool, s.schema);
    const limits = { total: 1_000_000_000, perType: {}, jobPrefix: 'taskpod', batch: CLAIM_BATCH };
    const ms = [];
    for (let i = 0; i < CLAIM_ROUNDS + 20; i++) {
      const t = performance.now();
      const claimed = await store.claim(limits);
      const elapsed = performance.now() - t;
      if (claimed.length !== CLAIM_BATCH) throw new Error(`claim returned ${claimed.length} tasks`);
      if (i >= 20) ms.push(elapsed); // the first 20 warm the connection and the caches
      // Keep the number of pending rows constant (untimed).
      await client.query(`INSERT INTO ${s.t} (task_type, params) SELECT 'seq_toolkit', $1 FROM generate_series(1, $2)`, [PARAMS, CLAIM_BATCH]);
    }
    return { pending, insertMs, ms };
  } finally {
    await pool.end();
    await s.drop();
  }
}

let results;
try {
  log('1. submit → Job create latency');
  const lat = await latency();
  log('2. creates per second, rate limit lifted');
  const thr = await throughput();
  log(`2. share of a binding QPS (${BOUND_QPS})`);
  const bound = await boundQps();
  log(`3. RSS with ${RSS_TASKS} pending tasks`);
  const mem = await rss();
  log(`4. claim latency with ${CLAIM_SMALL} pending rows`);
  const small = await claimLatency(CLAIM_SMALL);
  log(`4. claim latency with ${CLAIM_LARGE} pending rows`);
  const large = await claimLatency(CLAIM_LARGE);
  results = { lat, thr, bound, mem, small, large };
} finally {
  await client.end();
  rmSync(dataDir, { recursive: true, force: true });
  removeBundle();
}
const { lat, thr, bound, mem, small, large } = results;
const f1 = (x) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(1));
const f0 = (x) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(0));
const failed = (r) => `**no Job created** (dispatcher said: ${r.failed?.[0] ?? 'nothing'})`;
const claimRow = (r) => `| ${r.pending.toLocaleString('en-US')} | ${pct(r.ms, 0.5).toFixed(2)} | ${pct(r.ms, 0.99).toFixed(2)} | ${Math.max(...r.ms).toFixed(2)} | ${(r.insertMs / 1000).toFixed(1)} s |`;
const claimRatio = pct(large.ms, 0.5) / pct(small.ms, 0.5);
const totalS = ((Date.now() - started) / 1000).toFixed(0);
const measured = '`dist/taskpod.js`';

const report = [
  '# Dispatcher benchmarks',
  '',
  `Machine: ${machineLine()}. Database: ${process.env.DATABASE_URL ? 'DATABASE_URL (local PostgreSQL' : 'embedded PostgreSQL ('} ${pgVersion.split(' ')[0]}). ` +
    `Kubernetes: the API server double (test/support/kube-api-double.ts) in the benchmark's process, no added latency, plain HTTP; pods never start (ImagePullBackOff). ` +
    `Dispatcher: \`taskpod dispatch --executor kubernetes\` from ${measured}, in its own process, log level info. Whole run: ${totalS} s.`,
  '',
  '| benchmark | result | target |',
  '|---|---|---|',
  `| submit → Job create request, p50 / p99 (${lat.n} tasks inserted one at a time, ${LATENCY_GAP_MS} ms apart) | ${lat.failed ? failed(lat) : `${f1(pct(lat.ms, 0.5))} ms / **${f1(pct(lat.ms, 0.99))} ms** (max ${f1(Math.max(...lat.ms))} ms, ${lat.created} of ${lat.n} created)`} | p99 < 100 ms |`,
  `| Jobs created per second, rate limit lifted, no API latency (${thr.n} pending at start) | ${thr.failed ? failed(thr) : `**${f0(thr.rate)}/s** (${thr.created} in ${(thr.spanMs / 1000).toFixed(1)} s, first to last create)`} | 500/s |`,
  `| share of a binding QPS (TASKPOD_KUBE_QPS=${bound.qps}, BURST=1, ${BOUND_WINDOW_MS / 1000} s steady window) | ${bound.failed ? failed(bound) : `creates **${f1(bound.createsPerSecond)}/s = ${f0((100 * bound.createsPerSecond) / bound.qps)} %**; all requests ${f1(bound.allPerSecond)}/s = ${f0((100 * bound.allPerSecond) / bound.qps)} %`} | 95 % |`,
  `| dispatcher RSS with ${mem.n.toLocaleString('en-US')} pending tasks (concurrency 20, reconcile every 500 ms, /metrics scraped every 1 s, ${mem.runMs / 1000} s) | max VmRSS **${f1(mem.maxRss)} MiB** (${mem.created} Jobs created) | < 150 MB |`,
  `| claim of ${CLAIM_BATCH}, median, ${CLAIM_LARGE.toLocaleString('en-US')} vs ${CLAIM_SMALL.toLocaleString('en-US')} pending rows | ${pct(large.ms, 0.5).toFixed(2)} ms vs ${pct(small.ms, 0.5).toFixed(2)} ms = **${claimRatio.toFixed(2)}x** | within 2x |`,
  '',
  `Claim latency (\`TaskStore.claim\`, batch ${CLAIM_BATCH}, limits lifted, ${CLAIM_ROUNDS} timed claims after 20 untimed; ${CLAIM_BATCH} new pending rows inserted after each claim, untimed, so the pending count stays put):`,
  '',
  '| pending rows | p50 ms | p99 ms | max ms | bulk INSERT (no NOTIFY trigger) + ANALYZE |',
  '|---|---|---|---|---|',
  claimRow(small),
  claimRow(large),
  '',
  'Details of this run:',
  '',
  thr.failed ? '- Throughput run: no Job created.'
    : `- Throughput run: start to first create ${f0(thr.startToFirstMs)} ms; creates per second: ${thr.perSecond.join(', ')}; ` +
      `${thr.requests} API requests between the first and last create, of which ${thr.conflicts} Job creates answered 409 AlreadyExists; ` +
      `${thr.connections} TCP connections accepted by the double; ${thr.warnings} warnings/errors logged.`,
  bound.failed ? '- Binding-QPS run: no Job created.'
    : `- Binding-QPS window, requests by kind: ${Object.entries(bound.kinds).map(([k, v]) => `${k} ${v}`).join(', ')}; 409 AlreadyExists in the whole run: ${bound.conflicts}.`,
  lat.failed ? '- Latency run: no Job created.'
    : `- Latency run: ${lat.conflicts} Job creates answered 409 AlreadyExists; ${lat.connections} TCP connections for ${lat.n} creates; ${lat.warnings} warnings/errors logged.`,
  `- RSS run: last VmRSS ${f1(mem.lastRss)} MiB, VmHWM ${f1(mem.hwm)} MiB, ${mem.scrapes} /metrics scrapes, ${mem.warnings} warnings/errors logged.`,
  '',
].join('\n');
console.log(report);
const out = process.env.BENCH_DISPATCHER_OUT ?? path.join(root, 'docs', 'bench-dispatcher.md');
// How to reproduce and what limits the figures: bench/dispatcher/notes.md, appended as it is.
writeFileSync(out, report + '\n' + readFileSync(path.join(root, 'bench', 'dispatcher', 'notes.md'), 'utf8'));
