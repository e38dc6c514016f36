// The plugin as the runner sees it: params validation, file input inside the task directory,
// output FASTA, progress, abort, and the errors users get for bad input.
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import plugin from '../../../plugins/seq_toolkit/index.js';
import { paramsJsonSchema } from '../../../src/plugins.js';
import { makeCtx, makeTaskDir, removeDir, run } from './helpers.js';

let dir: string;
let outside: string;
beforeAll(async () => {
  dir = await makeTaskDir();
  outside = await makeTaskDir();
  await writeFile(path.join(outside, 'secret.fa'), '>s\nACGT\n');
  await writeFile(path.join(dir, 'small.fa'), '>r1 first record\nACGTNacgtn\nGG\n>r2\nAUGGCC\n');
});
afterAll(async () => {
  await removeDir(dir);
  await removeDir(outside);
});

describe('plugin definition', () => {
  it('declares its type, description, schema and resources', () => {
    expect(plugin.type).toBe('seq_toolkit');
    expect(plugin.description).toMatch(/Biopython/);
    expect(plugin.resources?.requests?.memory).toBeDefined();
    const schema = JSON.stringify(paramsJsonSchema(plugin));
    for (const op of ['reverse_complement', 'translate', 'gc_content', 'kmer_count', 'find_orfs', 'find_motif']) expect(schema).toContain(op);
  });
});

describe('params', () => {
  const ctx = () => makeCtx(dir);
  it('refuses an unknown operation, naming the field', async () => {
    await expect(run({ operation: 'melt', sequence: 'ACGT' }, ctx())).rejects.toThrow(/operation: Invalid discriminator value/);
    await expect(run({ sequence: 'ACGT' }, ctx())).rejects.toThrow(/operation:/);
  });
  it('refuses a missing parameter, naming it', async () => {
    await expect(run({ operation: 'kmer_count', sequence: 'ACGT' }, ctx())).rejects.toThrow(/k: /);
    await expect(run({ operation: 'find_motif', sequence: 'ACGT' }, ctx())).rejects.toThrow(/motif: /);
    await expect(run({ operation: 'length' }, ctx())).rejects.toThrow(/sequence: required: give sequence \(inline\) or fasta_file/);
  });
  it('refuses an extra parameter, naming it', async () => {
    await expect(run({ operation: 'length', sequence: 'ACGT', k: 3 }, ctx())).rejects.toThrow(/Unrecognized key: "k"/);
    await expect(run({ operation: 'reverse_complement', sequence: 'ACGT', table: 11 }, ctx())).rejects.toThrow(/"table"/);
    await expect(run({ operation: 'length', sequence: 'A', fasta_file: 'small.fa' }, ctx())).rejects.toThrow(/fasta_file: give either sequence or fasta_file, not both/);
  });
  it('refuses bad values, naming the field', async () => {
    await expect(run({ operation: 'translate', sequence: 'ATG', table: 7 }, ctx())).rejects.toThrow(/table: /);
    await expect(run({ operation: 'translate', sequence: 'ATG', to_stop: 'yes' }, ctx())).rejects.toThrow(/to_stop: /);
    await expect(run({ operation: 'gc_content', sequence: 'ATG', ambiguous: 'some' }, ctx())).rejects.toThrow(/ambiguous: /);
    await expect(run({ operation: 'kmer_count', sequence: 'ATG', k: 0 }, ctx())).rejects.toThrow(/k: /);
    await expect(run({ operation: 'kmer_count', sequence: 'ATG', k: 2.5 }, ctx())).rejects.toThrow(/k: /);
    await expect(run({ operation: 'find_motif', sequence: 'ATG', motif: 'AT?G' }, ctx())).rejects.toThrow(/motif: /);
    await expect(run({ operation: 'find_orfs', sequence: 'ATG', min_length: -1 }, ctx())).rejects.toThrow(/min_length: /);
    await expect(run({ operation: 'length', sequence: 42 }, ctx())).rejects.toThrow(/sequence: /);
  });
  it('applies defaults: table 1, to_stop false, ambiguous remove, min_length 75', async () => {
    expect(await run({ operation: 'translate', sequence: 'ATGTAAGGG' }, ctx())).toEqual({ operation: 'translate', result: 'M*G' });
    expect(await run({ operation: 'gc_content', sequence: 'GCNN' }, ctx())).toEqual({ operation: 'gc_content', result: 1 });
    const orf = 'ATG' + 'GCC'.repeat(23) + 'TAA';
    expect((await run({ operation: 'find_orfs', sequence: orf }, ctx())).result).toHaveLength(1);
    expect((await run({ operation: 'find_orfs', sequence: orf.slice(3) }, ctx())).result).toHaveLength(0);
  });
  it('refuses to_stop with a table whose stop codons also code (as Biopython)', async () => {
    await expect(run({ operation: 'translate', sequence: 'ATG', table: 27, to_stop: true }, ctx())).rejects.toThrow(/to_stop: cannot be used with table 27/);
    expect(await run({ operation: 'translate', sequence: 'ATGTGA', table: 27 }, ctx())).toEqual({ operation: 'translate', result: 'MW' });
  });
});

describe('inline results', () => {
  const ctx = () => makeCtx(dir);
  it('gives each operation its result shape', async () => {
    const s = 'ATGaaaCCCgggTTTtagNRY-';
    expect(await run({ operation: 'reverse_complement', sequence: s }, ctx())).toEqual({ operation: 'reverse_complement', result: '-RYNctaAAAcccGGGtttCAT' });
    expect(await run({ operation: 'complement', sequence: 'ACGUacgu' }, ctx())).toEqual({ operation: 'complement', result: 'UGCAugca' });
    expect(await run({ operation: 'transcribe', sequence: 'ATtg' }, ctx())).toEqual({ operation: 'transcribe', result: 'AUug' });
    expect(await run({ operation: 'back_transcribe', sequence: 'AUug' }, ctx())).toEqual({ operation: 'back_transcribe', result: 'ATtg' });
    expect(await run({ operation: 'reverse', sequence: 'MKV*' }, ctx())).toEqual({ operation: 'reverse', result: '*VKM' });
    expect(await run({ operation: 'length', sequence: s }, ctx())).toEqual({ operation: 'length', result: 22 });
    expect(await run({ operation: 'composition', sequence: 'AaC-' }, ctx())).toEqual({ operation: 'composition', result: { '-': 1, A: 2, C: 1 } });
    expect(await run({ operation: 'kmer_count', sequence: 'ACGAC', k: 2 }, ctx())).toEqual({ operation: 'kmer_count', result: { AC: 2, CG: 1, GA: 1 } });
    expect(await run({ operation: 'find_motif', sequence: 'xGAATTCx'.replaceAll('x', 'A'), motif: 'GAATTC' }, ctx())).toEqual({
      operation: 'find_motif',
      result: [{ strand: '+', start: 1, end: 7, matched: 'GAATTC' }, { strand: '-', start: 1, end: 7, matched: 'GAATTC' }],
    });
  });
  it('refuses mixed T and U for complement as Biopython does', async () => {
    await expect(run({ operation: 'reverse_complement', sequence: 'ACGTU' }, ctx())).rejects.toThrow(/sequence: Mixed RNA\/DNA found/);
  });
  it('refuses characters that are not sequence letters with the position and the letter', async () => {
    await expect(run({ operation: 'length', sequence: 'ACG T' }, ctx())).rejects.toThrow("sequence: invalid character byte 0x20 at position 4");
    await expect(run({ operation: 'gc_content', sequence: 'ACGT7' }, ctx())).rejects.toThrow("sequence: invalid character '7' at position 5");
    await expect(run({ operation: 'length', sequence: 'ACGé' }, ctx())).rejects.toThrow(/invalid character 'é' \(U\+00E9\) at position 4/);
    await expect(run({ operation: 'length', sequence: 'AC🧬' }, ctx())).rejects.toThrow(/position 3/);
  });
  it('refuses a protein sequence for a DNA-only operation, and accepts it where it makes sense', async () => {
    for (const operation of ['reverse_complement', 'complement', 'transcribe', 'back_transcribe', 'translate', 'gc_content', 'find_orfs']) {
      await expect(run({ operation, sequence: 'MKVLAAGIE' }, ctx()), operation).rejects.toThrow(
        new RegExp(`sequence: letter 'L' at position 4 is not a nucleotide \\(IUPAC\\) code; operation ${operation} needs a DNA or RNA sequence`),
      );
    }
    await expect(run({ operation: 'find_motif', sequence: 'MKVLAAGIE', motif: 'A' }, ctx())).rejects.toThrow(/looks like a protein/);
    expect(await run({ operation: 'length', sequence: 'MKVLAAGIE*' }, ctx())).toEqual({ operation: 'length', result: 10 });
    expect(await run({ operation: 'reverse', sequence: 'MKV' }, ctx())).toEqual({ operation: 'reverse', result: 'VKM' });
  });
  it('refuses an invalid codon with its position, as Biopython raises', async () => {
    await expect(run({ operation: 'translate', sequence: 'ATGAT-' }, ctx())).rejects.toThrow("sequence: codon 'AT-' at position 4 is invalid");
    expect(await run({ operation: 'translate', sequence: 'ATG---AAA' }, ctx())).toEqual({ operation: 'translate', result: 'M-K' });
  });
});

describe('fasta_file input', () => {
  it('gives one entry per record with its id', async () => {
    expect(await run({ operation: 'length', fasta_file: 'small.fa' }, makeCtx(dir))).toEqual({
      operation: 'length', fasta_file: 'small.fa', records: 2, result: [{ id: 'r1', result: 12 }, { id: 'r2', result: 6 }],
    });
    expect(await run({ operation: 'gc_content', fasta_file: 'small.fa', ambiguous: 'ignore' }, makeCtx(dir))).toEqual({
      operation: 'gc_content', fasta_file: 'small.fa', records: 2, result: [{ id: 'r1', result: 6 / 12 }, { id: 'r2', result: 4 / 6 }],
    });
  });

  it('writes sequence-valued results to a FASTA file that output.json names, through a temp name', async () => {
    const out = await run({ operation: 'reverse_complement', fasta_file: 'small.fa' }, makeCtx(dir));
    expect(out).toEqual({
      operation: 'reverse_complement', fasta_file: 'small.fa', records: 2, output_file: 'reverse_complement.fasta',
      result: [{ id: 'r1', length: 12 }, { id: 'r2', length: 6 }],
    });
    expect(await readFile(path.join(dir, 'reverse_complement.fasta'), 'utf8')).toBe('>r1 first record\nCCnacgtNACGT\n>r2\nGGCCAU\n');
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
    const tr = await run({ operation: 'translate', fasta_file: 'small.fa' }, makeCtx(dir));
    expect(tr.output_file).toBe('translate.fasta');
    expect(await readFile(path.join(dir, 'translate.fasta'), 'utf8')).toBe('>r1 first record\nTXRX\n>r2\nMA\n');
  });

  it('wraps output at 60 letters a line', async () => {
    const seq = 'ACGT'.repeat(40);
    await writeFile(path.join(dir, 'wide.fa'), `>w\n${seq}\n`);
    await run({ operation: 'complement', fasta_file: 'wide.fa' }, makeCtx(dir));
    const lines = (await readFile(path.join(dir, 'complement.fasta'), 'utf8')).split('\n');
    expect(lines.map((l) => l.length)).toEqual([2, 60, 60, 40, 0]);
  });

  it('accepts a path in a subdirectory and a symlink that stays inside', async () => {
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'sub', 'x.fa'), '>x\nAC\n');
    await symlink(path.join(dir, 'sub', 'x.fa'), path.join(dir, 'link-inside.fa'));
    expect((await run({ operation: 'length', fasta_file: 'sub/x.fa' }, makeCtx(dir))).result).toEqual([{ id: 'x', result: 2 }]);
    expect((await run({ operation: 'length', fasta_file: './sub/../link-inside.fa' }, makeCtx(dir))).result).toEqual([{ id: 'x', result: 2 }]);
  });

  it('refuses a fasta_file outside the task directory', async () => {
    await symlink(path.join(outside, 'secret.fa'), path.join(dir, 'link-outside.fa'));
    await symlink(outside, path.join(dir, 'dir-outside'));
    const ctx = makeCtx(dir);
    await expect(run({ operation: 'length', fasta_file: path.join(outside, 'secret.fa') }, ctx)).rejects.toThrow(/fasta_file: must be a path relative to the task directory/);
    await expect(run({ operation: 'length', fasta_file: `../${path.basename(outside)}/secret.fa` }, ctx)).rejects.toThrow(/fasta_file: must stay inside the task directory/);
    await expect(run({ operation: 'length', fasta_file: 'sub/../../x.fa' }, ctx)).rejects.toThrow(/fasta_file: must stay inside/);
    await expect(run({ operation: 'length', fasta_file: 'link-outside.fa' }, ctx)).rejects.toThrow(/fasta_file: resolves \(through a symlink\) to a place outside/);
    await expect(run({ operation: 'length', fasta_file: 'dir-outside/secret.fa' }, ctx)).rejects.toThrow(/fasta_file: resolves \(through a symlink\)/);
    await expect(run({ operation: 'length', fasta_file: '.' }, ctx)).rejects.toThrow(/fasta_file: must stay inside/);
    await expect(run({ operation: 'length', fasta_file: 'sub' }, ctx)).rejects.toThrow(/fasta_file: not a regular file/);
    await expect(run({ operation: 'length', fasta_file: 'missing.fa' }, ctx)).rejects.toThrow(/fasta_file: file not found in the task directory: missing.fa/);
  });

  it('refuses an empty file, a non-FASTA file and a bad record, naming the file and the record', async () => {
    await writeFile(path.join(dir, 'empty.fa'), '');
    await writeFile(path.join(dir, 'reads.fq'), '@r\nACGT\n+\nIIII\n');
    await writeFile(path.join(dir, 'protein.fa'), '>dna\nACGT\n>prot some protein\nMKVLAAGIE\n');
    await writeFile(path.join(dir, 'digits.fa'), '>a\nACGT\nAC\nG9T\n');
    const ctx = makeCtx(dir);
    await expect(run({ operation: 'length', fasta_file: 'empty.fa' }, ctx)).rejects.toThrow('fasta_file: empty file, no FASTA record');
    await expect(run({ operation: 'length', fasta_file: 'reads.fq' }, ctx)).rejects.toThrow("fasta_file: not a FASTA file: line 1 does not start with '>'");
    for (const operation of ['reverse_complement', 'gc_content', 'find_orfs']) {
      await expect(run({ operation, fasta_file: 'protein.fa' }, ctx)).rejects.toThrow(
        `fasta_file: record 2 (prot): letter 'L' at position 4 is not a nucleotide (IUPAC) code; operation ${operation} needs a DNA or RNA sequence (this looks like a protein sequence)`,
      );
    }
    expect((await run({ operation: 'composition', fasta_file: 'protein.fa' }, ctx)).records).toBe(2);
    await expect(run({ operation: 'gc_content', fasta_file: 'digits.fa' }, ctx)).rejects.toThrow("fasta_file: record 1 (a): invalid character '9' at position 8");
    await expect(run({ operation: 'reverse_complement', fasta_file: 'digits.fa' }, ctx)).rejects.toThrow("fasta_file: record 1 (a): invalid character '9' at position 8");
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('reports progress for files, rising to 1', async () => {
    const big = `>big\n${'ACGTTGCA'.repeat(1_500_000).match(/.{1,60}/g)!.join('\n')}\n>tail\nAC\n`;
    await writeFile(path.join(dir, 'big.fa'), big);
    for (const operation of ['gc_content', 'reverse_complement']) {
      const ctx = makeCtx(dir);
      await run({ operation, fasta_file: 'big.fa' }, ctx);
      const fractions = ctx.reports.map((r) => r.fraction);
      expect(fractions.length, operation).toBeGreaterThan(1);
      expect(fractions.at(-1)).toBe(1);
      expect([...fractions].sort((a, b) => a - b)).toEqual(fractions);
      expect(ctx.reports[0].message).toContain(operation);
    }
  });

  it('stops when aborted, leaving no partial output', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(run({ operation: 'length', sequence: 'ACGT' }, makeCtx(dir, ac.signal))).rejects.toThrow(/abort/i);
    for (const operation of ['reverse_complement', 'gc_content', 'kmer_count']) {
      const ac2 = new AbortController();
      const ctx = makeCtx(dir, ac2.signal);
      ctx.progress = () => ac2.abort();
      await expect(run({ operation, fasta_file: 'big.fa', ...(operation === 'kmer_count' ? { k: 3 } : {}) }, ctx), operation).rejects.toThrow(/abort/i);
    }
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('does not overwrite its input when the input has the output name', async () => {
    await writeFile(path.join(dir, 'reverse.fasta'), '>a\nACG\n');
    const out = await run({ operation: 'reverse', fasta_file: 'reverse.fasta' }, makeCtx(dir));
    expect(out.output_file).toBe('reverse.out.fasta');
    expect(await readFile(path.join(dir, 'reverse.fasta'), 'utf8')).toBe('>a\nACG\n');
    expect(await readFile(path.join(dir, 'reverse.out.fasta'), 'utf8')).toBe('>a\nGCA\n');
  });
});

describe('large records agree with a plain reference', () => {
  it('writes outputs larger than the write buffers intact (records of 5 MB, many small ones, both)', async () => {
    let x = 99;
    const letters = Buffer.from('ACGTacgtNRY');
    const make = (n: number) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = letters[x % letters.length]; }
      return b;
    };
    const seqs = [make(5_000_003), ...Array.from({ length: 3000 }, (_, i) => make(1 + (i % 700))), make(4_999_999), make(7)];
    const wrap = (b: Buffer, w: number) => {
      const parts: Buffer[] = [];
      for (let i = 0; i < b.length; i += w) parts.push(b.subarray(i, i + w), Buffer.from('\n'));
      return Buffer.concat(parts);
    };
    await writeFile(path.join(dir, 'huge.fa'), Buffer.concat(seqs.flatMap((b, i) => [Buffer.from(`>s${i} d\n`), wrap(b, 80)])));
    const out = await run({ operation: 'reverse', fasta_file: 'huge.fa' }, makeCtx(dir));
    expect(out.records).toBe(seqs.length);
    const expected = Buffer.concat(seqs.flatMap((b, i) => [Buffer.from(`>s${i} d\n`), wrap(Buffer.from(b).reverse(), 60)]));
    const written = await readFile(path.join(dir, 'reverse.fasta'));
    expect(written.length).toBe(expected.length);
    expect(Buffer.compare(written, expected)).toBe(0);
  });

  it('reverse complement, complement and GC of a 3 MB soft-masked record with Ns, odd length', async () => {
    let x = 12345;
    const letters = 'ACGTACGTacgtNnRYSWKMBDHV-';
    const n = 3_000_001;
    const chars: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      chars[i] = letters[x % letters.length];
    }
    const seq = chars.join('');
    await writeFile(path.join(dir, 'large.fa'), `>large\r\n${seq.match(/.{1,70}/g)!.join('\r\n')}\r\n`);
    const comp: Record<string, string> = { A: 'T', C: 'G', G: 'C', T: 'A', N: 'N', R: 'Y', Y: 'R', S: 'S', W: 'W', K: 'M', M: 'K', B: 'V', V: 'B', D: 'H', H: 'D', '-': '-' };
    const c = (ch: string) => (ch === ch.toUpperCase() ? comp[ch] : comp[ch.toUpperCase()].toLowerCase());
    const expectedComp = [...seq].map(c).join('');
    const expectedRc = [...expectedComp].reverse().join('');
    const read = async (f: string) => (await readFile(path.join(dir, f), 'utf8')).split('\n').slice(1).join('');
    await run({ operation: 'reverse_complement', fasta_file: 'large.fa' }, makeCtx(dir));
    expect((await read('reverse_complement.fasta')) === expectedRc).toBe(true);
    await run({ operation: 'complement', fasta_file: 'large.fa' }, makeCtx(dir));
    expect((await read('complement.fasta')) === expectedComp).toBe(true);
    const count = (set: string) => [...seq].filter((ch) => set.includes(ch)).length;
    const gc = await run({ operation: 'gc_content', fasta_file: 'large.fa' }, makeCtx(dir));
    const g = count('GCSgcs');
    expect(gc.result[0].result).toBe(g / (g + count('ATWatw')));
    const inline = await run({ operation: 'reverse_complement', sequence: seq }, makeCtx(dir));
    expect(inline.result === expectedRc).toBe(true);
  });
});

void os;
