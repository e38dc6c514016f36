// The two-bytes-a-step kernels against plain byte loops, on sizes and offsets that hit every edge.
import { describe, expect, it } from 'vitest';
import { CLASS, DNA_COMPLEMENT, RNA_COMPLEMENT, TRANSCRIBE, UPPER } from '../../../plugins/seq_toolkit/alphabet.js';
import { addHistogram, allLetters, mapInPlace, reverseMapInPlace, stripLineBreaks } from '../../../plugins/seq_toolkit/bytes.js';

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
}
const LETTERS = Buffer.from('ACGTURYSWKMBDHVNXacgturyswkmbdhvnx-.');
function randomSeq(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = LETTERS[r() % LETTERS.length];
  return b;
}
/** The same bytes at an odd byte offset inside a larger buffer. */
function atOffset(b: Buffer, offset: number): Buffer {
  const host = Buffer.alloc(b.length + offset + 1);
  b.copy(host, offset);
  return host.subarray(offset, offset + b.length);
}

const SIZES = [0, 1, 2, 3, 4095, 4096, 4097, 4098, 10_001, 65_536, 100_003];

describe('byte kernels', () => {
  for (const n of SIZES) {
    for (const offset of [0, 1]) {
      it(`agree with byte loops: ${n} bytes at offset ${offset}`, () => {
        const src = randomSeq(n, n + 17 + offset);
        for (const map of [DNA_COMPLEMENT, RNA_COMPLEMENT, TRANSCRIBE, UPPER]) {
          const expected = Buffer.from(src).reverse().map((b) => map[b]);
          const rev = atOffset(src, offset);
          reverseMapInPlace(rev, rev.length, map);
          expect(Buffer.compare(rev, Buffer.from(expected))).toBe(0);
          const fwd = atOffset(src, offset);
          mapInPlace(fwd, fwd.length, map);
          expect(Buffer.compare(fwd, Buffer.from(src.map((b) => map[b])))).toBe(0);
        }
        const counts = new Float64Array(256);
        addHistogram(atOffset(src, offset), 0, n, counts);
        const plain = new Float64Array(256);
        for (const b of src) plain[b]++;
        expect([...counts]).toEqual([...plain]);
        expect(allLetters(atOffset(src, offset), n, CLASS.nucleotide)).toBe(true);
        if (n > 0) {
          for (const bad of [0, n - 1, n >> 1]) {
            const b = atOffset(src, offset);
            b[bad] = 0x45; // 'E'
            expect(allLetters(b, n, CLASS.nucleotide)).toBe(false);
            expect(allLetters(b, n, CLASS.any)).toBe(true);
          }
        }
      });
    }
  }

  it('strip line breaks of any width, LF or CRLF, keeping other bytes', () => {
    const seq = randomSeq(5000, 3).toString('latin1');
    for (const width of [1, 2, 59, 60, 61, 4999, 5000, 6000]) {
      for (const nl of ['\n', '\r\n']) {
        const lines: string[] = [];
        for (let i = 0; i < seq.length; i += width) lines.push(seq.slice(i, i + width));
        const text = Buffer.from(lines.join(nl) + nl + nl, 'latin1');
        const n = stripLineBreaks(text, text.length);
        expect(text.toString('latin1', 0, n)).toBe(seq);
      }
    }
  });
});
