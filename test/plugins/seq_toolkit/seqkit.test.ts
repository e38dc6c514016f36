// Cross-checks with seqkit (apt package seqkit) where it has the operation: reverse complement,
// length, and GC content. seqkit's GC is (G+C)/length: ambiguous 'ignore' except that Biopython
// (and so seq_toolkit) also counts S (G or C) as GC.
// Skipped only when the seqkit binary is missing; CI installs it.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCtx, makeTaskDir, removeDir, run } from './helpers.js';

const seqkit = spawnSync('seqkit', ['version'], { encoding: 'utf8' }).status === 0;

function randomFasta(records: number, seed: number): string {
  let x = seed;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const letters = 'ACGTACGTACGTacgtNnRYKMSWBDHV';
  let text = '';
  for (let r = 0; r < records; r++) {
    const n = [0, 1, 59, 60, 61, 1000, 12_345][r % 7] + (next() % 50);
    let s = '';
    for (let i = 0; i < n; i++) s += letters[next() % letters.length];
    const width = [60, 70, 80, 13][r % 4];
    text += `>rec${r} sample ${r} description\n${s.match(new RegExp(`.{1,${width}}`, 'g'))?.join('\n') ?? ''}\n`;
  }
  return text;
}

describe.skipIf(!seqkit)('agreement with seqkit', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTaskDir();
    await writeFile(path.join(dir, 'in.fa'), randomFasta(60, 4242));
  });
  afterAll(async () => { await removeDir(dir); });

  it('reverse complement: the same FASTA as `seqkit seq -r -p -t dna`', async () => {
    const out = await run({ operation: 'reverse_complement', fasta_file: 'in.fa' }, makeCtx(dir));
    const theirs = spawnSync('seqkit', ['seq', '-r', '-p', '-t', 'dna', path.join(dir, 'in.fa')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(theirs.status).toBe(0);
    expect(await readFile(path.join(dir, out.output_file), 'utf8')).toBe(theirs.stdout);
  });

  it('GC content (ambiguous: ignore) and length: the figures of `seqkit fx2tab -n -l -g`', async () => {
    const gc = await run({ operation: 'gc_content', fasta_file: 'in.fa', ambiguous: 'ignore' }, makeCtx(dir));
    const len = await run({ operation: 'length', fasta_file: 'in.fa' }, makeCtx(dir));
    const comp = await run({ operation: 'composition', fasta_file: 'in.fa' }, makeCtx(dir));
    const theirs = spawnSync('seqkit', ['fx2tab', '-n', '-i', '-l', '-g', path.join(dir, 'in.fa')], { encoding: 'utf8' });
    expect(theirs.status).toBe(0);
    const rows = theirs.stdout.trim().split('\n').map((l) => l.split('\t').map((f) => f.trim()));
    expect(rows.map((r) => r[0])).toEqual(gc.result.map((e: { id: string }) => e.id));
    rows.forEach((r, i) => {
      expect(Number(r[1]), r[0]).toBe(len.result[i].result);
      const c = comp.result[i].result as Record<string, number>;
      const n = len.result[i].result as number;
      const s = c.S ?? 0;
      // Ours with S taken out is seqkit's figure.
      expect(Number(r[2]).toFixed(2), r[0]).toBe(n === 0 ? '0.00' : (((gc.result[i].result * n - s) / n) * 100).toFixed(2));
    });
  });
});
