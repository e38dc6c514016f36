// The streaming FASTA reader: Biopython's parse of the same texts, read through tiny chunks so that
// headers, record boundaries and CRLFs straddle chunk ends; and the files it must refuse.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastaReader } from '../../../plugins/seq_toolkit/fasta.js';
import { fixtures, makeTaskDir, removeDir } from './helpers.js';

const data = JSON.parse(readFileSync(path.join(fixtures, 'fasta.json'), 'utf8')) as {
  files: { name: string; text: string; records: { id: string; title: string; sequence: string }[] }[];
};

let dir: string;
beforeAll(async () => { dir = await makeTaskDir(); });
afterAll(async () => { await removeDir(dir); });

async function readAll(text: string | Buffer, chunkSize: number, how: 'sequence' | 'counts' = 'sequence') {
  const file = path.join(dir, `f-${Math.random().toString(36).slice(2)}.fa`);
  await writeFile(file, text);
  const reader = await FastaReader.open(file, { chunkSize });
  const out: { id: string; title: string; sequence?: string; length?: number }[] = [];
  try {
    let n: number;
    if (how === 'sequence') {
      n = await reader.read('sequence', 'any', 'test', (rec, seq) => {
        out.push({ id: rec.id, title: rec.title, sequence: seq.toString('latin1') });
      });
    } else {
      n = await reader.read('counts', 'any', 'test', async (rec, counts) => {
        await new Promise((resolve) => setImmediate(resolve)); // a consumer that awaits
        out.push({ id: rec.id, title: rec.title, length: counts.reduce((a, b) => a + b, 0) });
      });
    }
    expect(n).toBe(out.length);
  } finally {
    await reader.close();
  }
  return out;
}

describe('FASTA reader', () => {
  for (const f of data.files) {
    for (const chunkSize of [16, 17, 23, 64, 1 << 20]) {
      it(`${f.name} (chunk ${chunkSize}) reads as Biopython's SimpleFastaParser`, async () => {
        expect(await readAll(f.text, chunkSize)).toEqual(f.records.map((r) => ({ id: r.id, title: r.title, sequence: r.sequence })));
        expect(await readAll(f.text, chunkSize, 'counts')).toEqual(f.records.map((r) => ({ id: r.id, title: r.title, length: r.sequence.length })));
      });
    }
  }

  it('reads headers without sequence lines, at the end of the file too', async () => {
    for (const how of ['sequence', 'counts'] as const) {
      const empty = how === 'sequence' ? { sequence: '' } : { length: 0 };
      expect(await readAll('>abc', 16, how)).toEqual([{ id: 'abc', title: 'abc', ...empty }]);
      expect(await readAll('>a\n>b', 16, how)).toEqual([{ id: 'a', title: 'a', ...empty }, { id: 'b', title: 'b', ...empty }]);
    }
  });

  it('reads random files the way a line-by-line parser does, whatever the chunk size', async () => {
    let x = 7;
    const rnd = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
    for (let round = 0; round < 12; round++) {
      const records: { id: string; title: string; sequence: string }[] = [];
      let text = '\n'.repeat(rnd(3));
      const count = 1 + rnd(40);
      for (let r = 0; r < count; r++) {
        const nl = rnd(3) === 0 ? '\r\n' : '\n';
        const id = `r${round}_${r}`;
        const title = rnd(2) ? `${id} desc ${'x'.repeat(rnd(50))}` : id;
        let seq = '';
        const len = [0, 1, 2, 59, 60, 61, 300, 2000][rnd(8)];
        for (let i = 0; i < len; i++) seq += 'ACGTNacgtn-'[rnd(11)];
        const width = 1 + rnd(90);
        text += `>${title}${nl}`;
        for (let i = 0; i < seq.length; i += width) text += seq.slice(i, i + width) + nl + (rnd(10) === 0 ? nl : '');
        records.push({ id, title: title.trimEnd(), sequence: seq });
      }
      for (const chunkSize of [97, 256, 1000, 4099, 1 << 16]) {
        expect(await readAll(text, chunkSize), `round ${round}, chunk ${chunkSize}`).toEqual(records);
        expect(await readAll(text, chunkSize, 'counts')).toEqual(records.map((r) => ({ id: r.id, title: r.title, length: r.sequence.length })));
      }
    }
  });

  it('skips a UTF-8 byte order mark', async () => {
    expect(await readAll(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('>a\nAC\n')]), 64)).toEqual([{ id: 'a', title: 'a', sequence: 'AC' }]);
  });

  it('handles a large record with long lines across many chunks, both ways of reading', async () => {
    const seq = 'ACGTNacgtn'.repeat(50_000);
    const lines = seq.match(/.{1,997}/g)!.join('\r\n');
    const text = `>big one\r\n${lines}\r\n>small\r\nAC\r\n`;
    expect(await readAll(text, 4096)).toEqual([
      { id: 'big', title: 'big one', sequence: seq },
      { id: 'small', title: 'small', sequence: 'AC' },
    ]);
    expect(await readAll(text, 4096, 'counts')).toEqual([
      { id: 'big', title: 'big one', length: seq.length },
      { id: 'small', title: 'small', length: 2 },
    ]);
  });

  it('refuses an empty file, a blank file and a file that is not FASTA', async () => {
    await expect(readAll('', 64)).rejects.toThrow(/empty file/);
    await expect(readAll('\n\r\n  \n', 64)).rejects.toThrow(/empty file/);
    await expect(readAll('@read1\nACGT\n+\nIIII\n', 64)).rejects.toThrow(/not a FASTA file: line 1/);
    await expect(readAll('\n\nhello world\n>a\nAC\n', 64)).rejects.toThrow(/not a FASTA file: line 3/);
    await expect(readAll(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]), 64)).rejects.toThrow(/not a FASTA file/);
  });

  it("refuses a '>' without an id", async () => {
    await expect(readAll('>', 64)).rejects.toThrow(/record 1: empty header/);
    await expect(readAll('>\nACGT\n', 64)).rejects.toThrow(/record 1: empty header/);
    await expect(readAll('>a\nAC\n>  \t\nGG\n', 64)).rejects.toThrow(/record 2: empty header/);
  });

  it('names the record, the position among its letters and the letter of a bad character', async () => {
    const text = '>ok\nACGT\n>bad desc\nACGT\nAC1T\n';
    await expect(readAll(text, 16)).rejects.toThrow("record 2 (bad): invalid character '1' at position 7");
    await expect(readAll(text, 16, 'counts')).rejects.toThrow("record 2 (bad): invalid character '1' at position 7");
    await expect(readAll('>x\nAC>GT\n', 16)).rejects.toThrow("record 1 (x): invalid character '>' at position 3");
  });

  it('refuses a header longer than the chunk', async () => {
    await expect(readAll(`>${'h'.repeat(100)}\nACGT\n>b\nA\n`, 32)).rejects.toThrow(/header line longer than 32 bytes/);
  });

  it('stops promptly when aborted', async () => {
    const file = path.join(dir, 'abort.fa');
    await writeFile(file, `>a\n${'ACGT\n'.repeat(10_000)}`);
    const ac = new AbortController();
    const reader = await FastaReader.open(file, { chunkSize: 64, signal: ac.signal, onProgress: () => ac.abort(new Error('stop now')) });
    await expect(reader.read('counts', 'nucleotide', 'gc_content', () => {})).rejects.toThrow('stop now');
    await reader.close();
  });
});
