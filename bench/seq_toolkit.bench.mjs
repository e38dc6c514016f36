#!/usr/bin/env node
// seq_toolkit against seqkit on a 100 MB single-record FASTA (60-letter lines): wall time and
// peak RSS of each run, every side a separate process measured by /usr/bin/time -v.
// Needs `npm run build` first (imports dist/plugins/seq_toolkit/index.js) and the apt packages
// seqkit and time. Prints a table and writes docs/bench-seq_toolkit.md.
//   node bench/seq_toolkit.bench.mjs                 the benchmark
//   node bench/seq_toolkit.bench.mjs --child OP DIR FILE   (internal) one plugin run
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, writeSync, closeSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machineLine } from './machine.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const pluginPath = path.join(root, 'dist', 'plugins', 'seq_toolkit', 'index.js');

if (process.argv[2] === '--child') {
  const [, , , operation, taskDir, file, extra] = process.argv;
  const { default: plugin } = await import(pathToFileURL(pluginPath).href);
  const noop = () => {};
  const logger = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => logger };
  const params = plugin.params.parse({ operation, fasta_file: file, ...(extra ? JSON.parse(extra) : {}) });
  const out = await plugin.execute(params, { taskId: 0, jobId: '0'.repeat(32), attempt: 1, taskDir, signal: new AbortController().signal, logger, progress: noop });
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

const SEQ_LEN = 100_000_000;
const WIDTH = 60;
const RUNS = Number(process.env.SEQ_BENCH_RUNS ?? 3);

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The 500,000 short reads (150 letters, one line each) of the informational second input. */
const READS = 500_000;
const READ_LEN = 150;
function generateReads(file) {
  const fd = openSync(file, 'w');
  const letters = Buffer.from('ACGT');
  let x = 88172645;
  let parts = [];
  for (let r = 0; r < READS; r++) {
    const b = Buffer.allocUnsafe(READ_LEN);
    for (let i = 0; i < READ_LEN; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      b[i] = letters[x & 3];
    }
    parts.push(`>read${r} sample=bench lane=1\n${b.toString('latin1')}\n`);
    if (parts.length === 10_000) {
      writeSync(fd, parts.join(''));
      parts = [];
    }
  }
  if (parts.length) writeSync(fd, parts.join(''));
  closeSync(fd);
}

function generate(file) {
  // Random ACGT with a sprinkle of N and soft-masked (lower-case) stretches, xorshift32.
  const fd = openSync(file, 'w');
  writeSync(fd, '>chrBench synthetic 100 Mb record for seq_toolkit vs seqkit\n');
  const letters = Buffer.from('ACGTACGTACGTACGTacgtACGTACGTACGN');
  const linesPerBlock = 16384;
  const block = Buffer.allocUnsafe(linesPerBlock * (WIDTH + 1));
  let x = 2463534242;
  let left = SEQ_LEN;
  while (left > 0) {
    let o = 0;
    for (let l = 0; l < linesPerBlock && left > 0; l++) {
      const n = Math.min(WIDTH, left);
      for (let i = 0; i < n; i++) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        block[o++] = letters[x & 31];
      }
      block[o++] = 10;
      left -= n;
    }
    writeSync(fd, block, 0, o);
  }
  closeSync(fd);
}

/** Runs argv under /usr/bin/time -v; returns wall seconds, peak RSS in MB and stdout. */
function measure(argv, stdoutFile) {
  const timeOut = path.join(os.tmpdir(), `time-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const fd = openSync(stdoutFile ?? '/dev/null', 'w');
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', timeOut, ...argv], { stdio: ['ignore', fd, 'pipe'], maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  closeSync(fd);
  const report = readFileSync(timeOut, 'utf8');
  rmSync(timeOut, { force: true });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}\n${report}`);
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(report)?.[1]);
  const elapsed = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)/.exec(report)?.[1] ?? '';
  const parts = elapsed.split(':').map(Number);
  const timeWall = parts.reduce((a, p) => a * 60 + p, 0);
  return { seconds: Number.isFinite(timeWall) && timeWall > 0 ? timeWall : wall, rssMb: rssKb / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main() {
  if (!existsSync(pluginPath)) throw new Error(`${pluginPath} is missing: run npm run build first`);
  const seqkit = which('seqkit');
  if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is missing (apt-get install time)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seq-bench-'));
  try {
    const input = path.join(dir, 'bench.fa');
    const t0 = Date.now();
    generate(input);
    const size = statSync(input).size;
    console.log(`seq_toolkit bench: generated ${(size / 1e6).toFixed(1)} MB single-record FASTA in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const reads = path.join(dir, 'reads.fa');
    generateReads(reads);
    const readsSize = statSync(reads).size;

    const node = process.execPath;
    const self = fileURLToPath(import.meta.url);
    const cases = [
      {
        name: 'reverse complement',
        target: true,
        ours: () => measure([node, self, '--child', 'reverse_complement', dir, 'bench.fa']),
        seqkit: seqkit && (() => measure([seqkit, 'seq', '-r', '-p', '-t', 'dna', input, '-o', path.join(dir, 'seqkit_rc.fa')])),
      },
      {
        name: 'GC content',
        target: true,
        ours: () => measure([node, self, '--child', 'gc_content', dir, 'bench.fa'], path.join(dir, 'ours_gc.json')),
        seqkit: seqkit && (() => measure([seqkit, 'fx2tab', '-n', '-g', input], path.join(dir, 'seqkit_gc.tsv'))),
      },
      {
        name: 'reverse complement',
        ours: () => measure([node, self, '--child', 'reverse_complement', dir, 'reads.fa']),
        seqkit: seqkit && (() => measure([seqkit, 'seq', '-r', '-p', '-t', 'dna', reads, '-o', path.join(dir, 'seqkit_rc_reads.fa')])),
      },
      {
        name: 'GC content',
        ours: () => measure([node, self, '--child', 'gc_content', dir, 'reads.fa']),
        seqkit: seqkit && (() => measure([seqkit, 'fx2tab', '-n', '-g', reads])),
      },
    ];
    const rows = [];
    for (const c of cases) {
      const ours = [], theirs = [];
      for (let i = 0; i < RUNS; i++) {
        if (c.seqkit) theirs.push(c.seqkit());
        ours.push(c.ours());
      }
      rows.push({
        name: c.name,
        target: c.target,
        ours: { seconds: median(ours.map((m) => m.seconds)), rssMb: median(ours.map((m) => m.rssMb)) },
        seqkit: c.seqkit ? { seconds: median(theirs.map((m) => m.seconds)), rssMb: median(theirs.map((m) => m.rssMb)) } : undefined,
      });
    }

    // The answers must agree too.
    const checks = [];
    if (seqkit) {
      // The measured runs overwrite reverse_complement.fasta; make each output again to compare it.
      execFileSync(node, [self, '--child', 'reverse_complement', dir, 'bench.fa'], { stdio: 'ignore' });
      const same = spawnSync('cmp', ['-s', path.join(dir, 'reverse_complement.fasta'), path.join(dir, 'seqkit_rc.fa')]).status === 0;
      checks.push(`reverse complement output identical to seqkit's: ${same ? 'yes' : 'NO'}`);
      execFileSync(node, [self, '--child', 'reverse_complement', dir, 'reads.fa'], { stdio: 'ignore' });
      const sameReads = spawnSync('cmp', ['-s', path.join(dir, 'reverse_complement.fasta'), path.join(dir, 'seqkit_rc_reads.fa')]).status === 0;
      checks.push(`reverse complement of the reads identical to seqkit's: ${sameReads ? 'yes' : 'NO'}`);
      const ourGc = JSON.parse(readFileSync(path.join(dir, 'ours_gc.json'), 'utf8').trim()).result[0].result;
      const ignore = execFileSync(node, [self, '--child', 'gc_content', dir, 'bench.fa', '{"ambiguous":"ignore"}'], { encoding: 'utf8' });
      const ourIgnore = JSON.parse(ignore.trim()).result[0].result;
      const theirGc = readFileSync(path.join(dir, 'seqkit_gc.tsv'), 'utf8').trim().split('\t').pop();
      const agree = (ourIgnore * 100).toFixed(2) === Number(theirGc).toFixed(2);
      checks.push(`GC content: seq_toolkit ${ourGc} (ambiguous: remove, the default), ${ourIgnore} (ambiguous: ignore); seqkit ${theirGc} % — ignore mode agrees with seqkit to its 2 decimals: ${agree ? 'yes' : 'NO'}`);
    }

    const machine = `${machineLine()}, ` +
      (seqkit ? execFileSync(seqkit, ['version'], { encoding: 'utf8' }).trim() : 'seqkit not installed');
    const fmt = (m) => (m ? `${m.seconds.toFixed(2)} s | ${m.rssMb.toFixed(0)} MB` : 'n/a | n/a');
    const verdict = (r) => {
      if (!r.seqkit) return 'no seqkit';
      const fast = r.ours.seconds <= r.seqkit.seconds;
      const small = r.ours.rssMb <= r.seqkit.rssMb / 2;
      return `${(r.seqkit.seconds / r.ours.seconds).toFixed(2)}x speed, ${(r.ours.rssMb / r.seqkit.rssMb * 100).toFixed(0)}% RSS: ${fast && small ? 'meets target' : 'MISSES target'}`;
    };
    const head = (what) => [
      `| ${what} | seq_toolkit time | seq_toolkit peak RSS | seqkit time | seqkit peak RSS | result |`,
      '|---|---|---|---|---|---|',
    ];
    const ratio = (r) => (r.seqkit ? `${(r.seqkit.seconds / r.ours.seconds).toFixed(2)}x speed, ${(r.ours.rssMb / r.seqkit.rssMb * 100).toFixed(0)}% RSS` : 'no seqkit');
    const table = [
      ...head(`operation (${(size / 1e6).toFixed(0)} MB, 1 record)`),
      ...rows.filter((r) => r.target).map((r) => `| ${r.name} | ${fmt(r.ours)} | ${fmt(r.seqkit)} | ${verdict(r)} |`),
      '',
      `For information (no target): ${READS.toLocaleString('en')} reads of ${READ_LEN} letters, ${(readsSize / 1e6).toFixed(0)} MB. seq_toolkit's output.json then holds ${READS.toLocaleString('en')} entries, which is most of its memory and part of its time; its per-record cost in JavaScript is what keeps it behind seqkit here.`,
      '',
      ...head(`operation (${(readsSize / 1e6).toFixed(0)} MB, ${READS.toLocaleString('en')} records)`),
      ...rows.filter((r) => !r.target).map((r) => `| ${r.name} | ${fmt(r.ours)} | ${fmt(r.seqkit)} | ${ratio(r)} |`),
    ].join('\n');
    const text = [
      `Machine: ${machine}`,
      `Input: ${(size / 1e6).toFixed(1)} MB, one record of ${SEQ_LEN.toLocaleString('en')} letters, ${WIDTH} per line; median of ${RUNS} runs each, measured with /usr/bin/time -v (wall clock, maximum resident set size); each run a new process (node start-up and plugin import included).`,
      'seqkit commands: `seqkit seq -r -p -t dna IN -o OUT` and `seqkit fx2tab -n -g IN`; seq_toolkit: `execute({operation, fasta_file})` in a node child process (reverse complement written to reverse_complement.fasta).',
      'Target: at least as fast as seqkit, at most half its peak RSS.',
      '',
      table,
      '',
      ...checks.map((c) => `- ${c}`),
    ].join('\n');
    console.log(text);
    const doc = [
      '# seq_toolkit benchmark',
      '',
      'Written by `npm run bench` (bench/seq_toolkit.bench.mjs); the figures below are from the last run.',
      '',
      text,
      '',
    ].join('\n');
    writeFileSync(path.join(root, 'docs', 'bench-seq_toolkit.md'), doc);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
