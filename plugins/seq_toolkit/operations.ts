// The operations on one sequence held as bytes. Each is defined as the Biopython 1.80 call
// (or the short Python reference in scripts/gen-seq-fixtures.py) it must agree with.
import {
  BACK_TRANSCRIBE, DNA_COMPLEMENT, IDENTITY, TRANSCRIBE, UPPER, SeqToolkitError, complementTableFor, type AlphabetName, type Where,
} from './alphabet.js';
import { addHistogram, mapInPlace, reverseMapInPlace } from './bytes.js';
import { codonAt, codonTable, invalidCodon } from './translate.js';

export const OPERATIONS = [
  'reverse_complement', 'complement', 'reverse', 'transcribe', 'back_transcribe', 'translate',
  'gc_content', 'composition', 'length', 'kmer_count', 'find_orfs', 'find_motif',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Operations whose result is a sequence (for files: written to a FASTA file). */
export const SEQUENCE_VALUED: ReadonlySet<Operation> = new Set([
  'reverse_complement', 'complement', 'reverse', 'transcribe', 'back_transcribe', 'translate',
]);
/** Operations computed from the letter counts alone (for files: streamed, the record never held). */
export const COUNT_BASED: ReadonlySet<Operation> = new Set(['gc_content', 'composition', 'length']);

/** Which letters an operation accepts: DNA/RNA only, or any sequence (protein too). */
export function alphabetOf(op: Operation): AlphabetName {
  return op === 'reverse' || op === 'length' || op === 'composition' || op === 'kmer_count' ? 'any' : 'nucleotide';
}

/**
 * The byte map and direction of a simple sequence-valued operation:
 * Seq.reverse_complement(), .complement(), [::-1], .transcribe(), .back_transcribe().
 */
export function transformOf(op: Operation, seq: Uint8Array, where: Where): { table: Uint8Array; reverse: boolean } {
  switch (op) {
    case 'reverse_complement': return { table: complementTableFor(seq, where), reverse: true };
    case 'complement': return { table: complementTableFor(seq, where), reverse: false };
    case 'reverse': return { table: IDENTITY, reverse: true };
    case 'transcribe': return { table: TRANSCRIBE, reverse: false };
    case 'back_transcribe': return { table: BACK_TRANSCRIBE, reverse: false };
    default: throw new Error(`not a simple transform: ${op}`);
  }
}

/** Applies a simple sequence-valued operation to `buf` in place. */
export function transformInPlace(op: Operation, buf: Buffer, where: Where): void {
  const { table, reverse } = transformOf(op, buf, where);
  if (reverse) {
    if (table === IDENTITY) buf.reverse();
    else reverseMapInPlace(buf, buf.length, table);
  } else {
    mapInPlace(buf, buf.length, table);
  }
}

export function countBytes(seq: Uint8Array): Float64Array {
  const counts = new Float64Array(256);
  addHistogram(seq, 0, seq.length, counts);
  return counts;
}

const GC_WEIGHTS: [string, number][] = [
  ['B', 2 / 3], ['D', 1 / 3], ['H', 1 / 3], ['K', 0.5], ['M', 0.5], ['N', 0.5], ['R', 0.5], ['V', 2 / 3], ['X', 0.5], ['Y', 0.5],
];
export type GcMode = 'remove' | 'ignore' | 'weighted';

/** Bio.SeqUtils.gc_fraction(seq, ambiguous), the same arithmetic in the same order. */
export function gcFraction(counts: Float64Array, mode: GcMode): number {
  const c = (s: string) => counts[s.charCodeAt(0)];
  let gc = c('C') + c('G') + c('S') + c('c') + c('g') + c('s');
  let length: number;
  if (mode === 'remove') length = gc + c('A') + c('T') + c('W') + c('a') + c('t') + c('w');
  else length = counts.reduce((a, b) => a + b, 0);
  if (mode === 'weighted') {
    let sum = 0;
    for (const [x, w] of GC_WEIGHTS) sum += (c(x) + c(x.toLowerCase())) * w;
    gc += sum;
  }
  if (length === 0) return 0;
  return gc / length;
}

/** Letter counts, case folded to upper case, keys sorted: Counter(seq.upper()). */
export function composition(counts: Float64Array): Record<string, number> {
  const folded = new Float64Array(256);
  for (let b = 0; b < 256; b++) folded[UPPER[b]] += counts[b];
  const out: Record<string, number> = {};
  for (let b = 0; b < 256; b++) if (folded[b] > 0) out[String.fromCharCode(b)] = folded[b];
  return out;
}

export function totalLength(counts: Float64Array): number {
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Overlapping k-mers of the upper-cased sequence, skipping windows that contain a gap ('-' or '.'),
 * keys sorted. Memory grows with the number of distinct k-mers. Upper-cases `seq` in place.
 */
export function kmerCount(seq: Buffer, k: number, signal?: AbortSignal): Record<string, number> {
  const n = seq.length;
  const counts = new Map<string, number>();
  if (n >= k) {
    mapInPlace(seq, n, UPPER);
    const up = seq;
    const s = up.toString('latin1');
    let lastGap = -1;
    for (let i = 0; i < n; i++) {
      if ((i & 0xfffff) === 0) signal?.throwIfAborted();
      const b = up[i];
      if (b === 0x2d || b === 0x2e) lastGap = i;
      const startAt = i - k + 1;
      if (startAt >= 0 && lastGap < startAt) {
        const key = s.slice(startAt, i + 1);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  }
  const out: Record<string, number> = {};
  for (const key of [...counts.keys()].sort()) out[key] = counts.get(key)!;
  return out;
}

export interface Orf {
  strand: '+' | '-';
  /** Reading frame on its strand: 0, 1 or 2 (offset from that strand's 5' end). */
  frame: number;
  /** 0-based, end exclusive, on the forward strand; the stop codon included. */
  start: number;
  end: number;
  /** end - start, in nucleotides. */
  length: number;
  /** The translation from the ATG up to the stop codon, without the '*'. */
  protein: string;
}

function isAtg(a: number, b: number, c: number): boolean {
  return (a === 0x41 || a === 0x61) && (b === 0x54 || b === 0x74 || b === 0x55 || b === 0x75) && (c === 0x47 || c === 0x67);
}

/**
 * ORFs on both strands, every frame: from an ATG (case-insensitive, U as T) to the first in-frame
 * codon that Biopython translates as '*' (with `table`), stop included; the next search starts
 * after that stop, so ATGs inside an ORF do not start others; ORFs without a stop are not reported;
 * kept when length >= minLength. The '-' strand is Seq.reverse_complement(). Sorted by start, end, strand.
 * Every codon of every frame must translate (Biopython raises on an invalid codon, and so does this).
 */
export function findOrfs(seq: Uint8Array, opts: { table: number; minLength: number; where: Where; signal?: AbortSignal }): Orf[] {
  const lookup = codonTable(opts.table).lookup;
  const comp = complementTableFor(seq, opts.where);
  const L = seq.length;
  const orfs: Orf[] = [];
  for (const strand of ['+', '-'] as const) {
    // Byte j of this strand.
    const at = strand === '+' ? (j: number) => seq[j] : (j: number) => comp[seq[L - 1 - j]];
    for (let frame = 0; frame < 3; frame++) {
      opts.signal?.throwIfAborted();
      let startIdx = -1;
      for (let i = frame; i + 3 <= L; i += 3) {
        const a = at(i), b = at(i + 1), c = at(i + 2);
        const aa = codonAt(lookup, a, b, c);
        if (aa === 0) {
          const bytes = Uint8Array.of(a, b, c);
          const err = invalidCodon(bytes, 0, opts.where);
          throw new SeqToolkitError(err.message.replace('at position 1', `at position ${strand === '+' ? i + 1 : L - i - 2} (${strand} strand)`));
        }
        if (startIdx < 0) {
          if (isAtg(a, b, c)) startIdx = i;
        } else if (aa === 0x2a) {
          const length = i + 3 - startIdx;
          if (length >= opts.minLength) {
            const protein = Buffer.allocUnsafe((i - startIdx) / 3);
            for (let p = startIdx, o = 0; p < i; p += 3) protein[o++] = codonAt(lookup, at(p), at(p + 1), at(p + 2));
            const [s, e] = strand === '+' ? [startIdx, i + 3] : [L - (i + 3), L - startIdx];
            orfs.push({ strand, frame, start: s, end: e, length, protein: protein.toString('latin1') });
          }
          startIdx = -1;
        }
      }
    }
  }
  orfs.sort((x, y) => x.start - y.start || x.end - y.end || (x.strand < y.strand ? -1 : x.strand > y.strand ? 1 : 0));
  return orfs;
}

export interface MotifHit {
  strand: '+' | '-';
  /** 0-based, end exclusive, on the forward strand. */
  start: number;
  end: number;
  /** The forward-strand letters at that place, as given. */
  matched: string;
}

// Bio.Data.IUPACData.ambiguous_dna_values (as used by Bio.SeqUtils.nt_search).
const IUPAC_DNA: Record<string, string> = {
  A: 'A', C: 'C', G: 'G', T: 'T', M: 'AC', R: 'AG', W: 'AT', S: 'CG', Y: 'CT', K: 'GT',
  V: 'ACG', H: 'ACT', D: 'AGT', B: 'CGT', X: 'GATC', N: 'GATC',
};
export const MOTIF_PATTERN = /^[ACGTURYSWKMBDHVN]+$/i;

/** The motif upper-cased with U as T, as used for matching. */
export function normalizeMotif(motif: string): string {
  return motif.toUpperCase().replaceAll('U', 'T');
}

/**
 * Overlapping matches of `motif` (IUPAC codes) on both strands: '+' is
 * nt_search(S, motif) and '-' is nt_search(S, reverse_complement(motif)), with
 * S = seq.upper() and U read as T. A motif code matches the plain bases it stands for and
 * nothing else, so an ambiguity code in the sequence (an N, say) matches no motif letter, as in nt_search.
 * A palindromic motif is reported on both strands. Sorted by start, then strand.
 */
export function findMotif(seq: Uint8Array, motif: string, signal?: AbortSignal): MotifHit[] {
  const m = normalizeMotif(motif);
  const rc = [...m].reverse().map((ch) => String.fromCharCode(DNA_COMPLEMENT[ch.charCodeAt(0)])).join('');
  const norm = new Uint8Array(256);
  for (let b = 0; b < 256; b++) norm[b] = UPPER[b] === 0x55 ? 0x54 : UPPER[b];
  const masks = (pattern: string) => [...pattern].map((code) => {
    const ok = new Uint8Array(256);
    for (const base of IUPAC_DNA[code]) ok[base.charCodeAt(0)] = 1;
    return ok;
  });
  const fwd = masks(m), rev = masks(rc);
  const k = m.length;
  const hits: MotifHit[] = [];
  const buf = Buffer.from(seq.buffer, seq.byteOffset, seq.byteLength);
  for (let i = 0; i + k <= seq.length; i++) {
    if ((i & 0xfffff) === 0) signal?.throwIfAborted();
    for (const [strand, ms] of [['+', fwd], ['-', rev]] as const) {
      let j = 0;
      while (j < k && ms[j][norm[seq[i + j]]] === 1) j++;
      if (j === k) hits.push({ strand, start: i, end: i + k, matched: buf.toString('latin1', i, i + k) });
    }
  }
  return hits;
}
