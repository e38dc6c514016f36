// Every fixture case generated with Biopython 1.80 (scripts/gen-seq-fixtures.py), through the
// plugin's params validation and execute, for inline sequences and for the same sequences in a
// multi-record FASTA file (random line widths, CRLF on some records).
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, makeCtx, makeTaskDir, removeDir, run } from './helpers.js';

interface Op { operation: string; params: Record<string, unknown>; result?: unknown; error?: string }
interface Case { kind: string; sequence: string; ops: Op[] }
const data = JSON.parse(readFileSync(path.join(fixtures, 'cases.json'), 'utf8')) as { biopython: string; cases: Case[] };

const SEQUENCE_VALUED = new Set(['reverse_complement', 'complement', 'reverse', 'transcribe', 'back_transcribe', 'translate']);

describe(`agreement with Biopython ${data.biopython} (inline sequences)`, () => {
  let dir: string;
  beforeAll(async () => { dir = await makeTaskDir(); });
  afterAll(async () => { await removeDir(dir); });

  it('has many fixture cases of every operation', () => {
    const ops = new Set(data.cases.flatMap((c) => c.ops.map((o) => o.operation)));
    expect(ops.size).toBe(12);
    expect(data.cases.length).toBeGreaterThan(150);
  });

  data.cases.forEach((c, i) => {
    it(`case ${i}: ${c.kind}, ${c.sequence.length} letters`, async () => {
      for (const op of c.ops) {
        const params = { operation: op.operation, sequence: c.sequence, ...op.params };
        const label = `${op.operation} ${JSON.stringify(op.params)} on ${JSON.stringify(c.sequence)}`;
        if (op.error !== undefined) {
          await expect(run(params, makeCtx(dir)), label).rejects.toThrow();
        } else {
          const out = await run(params, makeCtx(dir)).catch((err) => { throw new Error(`${label}: ${err.message}`); });
          expect(out, label).toEqual({ operation: op.operation, result: op.result });
        }
      }
    });
  });
});

function toFasta(cases: Case[], width: (i: number) => number, crlf: (i: number) => boolean): string {
  return cases.map((c, i) => {
    const nl = crlf(i) ? '\r\n' : '\n';
    const w = width(i);
    const lines = [];
    for (let p = 0; p < c.sequence.length; p += w) lines.push(c.sequence.slice(p, p + w));
    return `>case${i} ${c.kind} description${nl}${lines.map((l) => l + nl).join('')}`;
  }).join('');
}

function parseFasta(text: string): { id: string; seq: string }[] {
  return text.split('>').slice(1).map((chunk) => {
    const [header, ...lines] = chunk.split('\n');
    return { id: header.split(' ')[0], seq: lines.join('') };
  });
}

describe(`agreement with Biopython ${data.biopython} (FASTA file, one entry per record)`, () => {
  let dir: string;
  // Sequences without an error for this op, as records of one file.
  beforeAll(async () => { dir = await makeTaskDir(); });
  afterAll(async () => { await removeDir(dir); });

  const opKeys = new Map<string, { operation: string; params: Record<string, unknown> }>();
  for (const c of data.cases) for (const op of c.ops) opKeys.set(`${op.operation}${JSON.stringify(op.params)}`, op);

  for (const [key, op] of opKeys) {
    const members = data.cases
      .map((c) => ({ c, o: c.ops.find((x) => x.operation === op.operation && JSON.stringify(x.params) === JSON.stringify(op.params)) }))
      .filter((m): m is { c: Case; o: Op } => m.o !== undefined && m.o.error === undefined);
    if (members.length < 2) continue;
    it(`${key} over ${members.length} records`, async () => {
      const file = `in-${members.length}-${Math.random().toString(36).slice(2)}.fa`;
      const text = toFasta(members.map((m) => m.c), (i) => [1, 7, 60, 61, 80, 1000][i % 6], (i) => i % 3 === 1);
      await writeFile(path.join(dir, file), text);
      const out = await run({ operation: op.operation, fasta_file: file, ...op.params }, makeCtx(dir));
      expect(out.operation).toBe(op.operation);
      expect(out.records).toBe(members.length);
      if (SEQUENCE_VALUED.has(op.operation)) {
        expect(out.output_file).toBe(`${op.operation}.fasta`);
        const written = parseFasta(await readFile(path.join(dir, out.output_file), 'utf8'));
        expect(written.map((r) => r.id)).toEqual(members.map((_, i) => `case${i}`));
        expect(written.map((r) => r.seq)).toEqual(members.map((m) => m.o.result));
        expect(out.result).toEqual(members.map((m, i) => ({ id: `case${i}`, length: (m.o.result as string).length })));
      } else {
        expect(out.output_file).toBeUndefined();
        expect(out.result).toEqual(members.map((m, i) => ({ id: `case${i}`, result: m.o.result })));
      }
    });
  }
});
