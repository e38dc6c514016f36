// Runner overhead: whole-process wall time of `taskpod run` on a trivial task (seq_toolkit
// `length` of a short inline sequence) against `node -e 0`, interleaved in the same run.
// Target: within 3x. Uses DATABASE_URL when set, else the embedded server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine } from './machine.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'taskpod.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskpod-bench-'));
const env = { ...process.env, TASKPOD_SCHEMA: 'bench_runner', TASKPOD_DATA_DIR: dataDir, TASKPOD_LOG_LEVEL: 'warn', TASKPOD_LOG_FORMAT: 'json' };

function taskpod(args) {
  const r = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskpod ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function timed(argv) {
  const start = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return ms;
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

taskpod(['migrate']);
// Warm the file cache and, for the embedded default, make sure the server is up.
timed([process.execPath, '-e', '0']);
const baseline = [];
const runner = [];
for (let i = 0; i < ROUNDS; i++) {
  const { task_id } = JSON.parse(taskpod(['submit', 'seq_toolkit', '--json', '--params', JSON.stringify({ operation: 'length', sequence: 'ATGCGTACGTTAGC' })]));
  baseline.push(timed([process.execPath, '-e', '0']));
  runner.push(timed([process.execPath, cli, 'run', '--task-id', String(task_id)]));
}
rmSync(dataDir, { recursive: true, force: true });

const row = (name, xs) => `| ${name} | ${pct(xs, 0.5).toFixed(1)} | ${pct(xs, 0.9).toFixed(1)} | ${Math.min(...xs).toFixed(1)} |`;
const ratio = pct(runner, 0.5) / pct(baseline, 0.5);
const report = [
  '# Runner overhead',
  '',
  `Machine: ${machineLine()}. Database: ${process.env.DATABASE_URL ? 'DATABASE_URL (local PostgreSQL)' : 'embedded PostgreSQL'}. ${ROUNDS} rounds, interleaved.`,
  '',
  '| process | median ms | p90 ms | min ms |',
  '|---|---|---|---|',
  row('`node -e 0`', baseline),
  row('`taskpod run --task-id N` (seq_toolkit length)', runner),
  '',
  `Median ratio: **${ratio.toFixed(2)}x** (target: within 3x).`,
  '',
].join('\n');
console.log(report);
writeFileSync(path.join(root, 'docs', 'bench-runner-overhead.md'), report);
