// Byte-level alphabets and lookup tables (256 entries each), built once at import.
// Everything here works on Latin-1 bytes; sequences never become JS strings on the hot paths.

/** An input or computation error that the user must fix; its message names the record or field. */
export class SeqToolkitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeqToolkitError';
  }
}

/** Names the sequence in an error message: "sequence", or a record (its name built only when needed). */
export type Where = string | { readonly where: string };
export const nameOf = (w: Where): string => (typeof w === 'string' ? w : w.where);

/** Gap symbols accepted in sequences (Biopython passes them through complement and transcription). */
export const GAP_BYTES = '-.';

/** IUPAC nucleotide codes known to Biopython's complement tables (X as N), both cases. */
export const NUCLEOTIDE_LETTERS = 'ACGTURYSWKMBDHVNX';

export type AlphabetName = 'nucleotide' | 'any';

/** Class of a byte while reading a sequence: 0 forbidden, 1 sequence letter, 2 skipped whitespace (FASTA lines only). */
export const FORBIDDEN = 0;
export const LETTER = 1;
export const WHITESPACE = 2;

function classTable(letters: string): Uint8Array {
  const t = new Uint8Array(256);
  for (const ch of letters) {
    t[ch.toUpperCase().charCodeAt(0)] = LETTER;
    t[ch.toLowerCase().charCodeAt(0)] = LETTER;
  }
  // Biopython's FASTA parser drops trailing whitespace, spaces and embedded \r of sequence lines.
  for (const b of [0x0a, 0x0d, 0x20, 0x09]) t[b] = WHITESPACE;
  return t;
}

const ALL_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** nucleotide: IUPAC codes and gaps; any: every Latin letter (protein too), gaps and '*' (stop). */
export const CLASS: Record<AlphabetName, Uint8Array> = {
  nucleotide: classTable(NUCLEOTIDE_LETTERS + GAP_BYTES),
  any: classTable(ALL_LETTERS + GAP_BYTES + '*'),
};

function mapTable(pairs: Record<string, string>, withLower: boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) t[i] = i;
  for (const [from, to] of Object.entries(pairs)) {
    t[from.charCodeAt(0)] = to.charCodeAt(0);
    if (withLower) t[from.toLowerCase().charCodeAt(0)] = to.toLowerCase().charCodeAt(0);
  }
  return t;
}

// Bio.Data.IUPACData.ambiguous_dna_complement plus U->A (Bio.Seq._dna_complement_table).
const DNA_COMPLEMENT_PAIRS: Record<string, string> = {
  A: 'T', C: 'G', G: 'C', T: 'A', U: 'A', M: 'K', R: 'Y', W: 'W', S: 'S', Y: 'R', K: 'M',
  V: 'B', H: 'D', D: 'H', B: 'V', X: 'X', N: 'N',
};
// ambiguous_rna_complement plus T->A (Bio.Seq._rna_complement_table).
const RNA_COMPLEMENT_PAIRS: Record<string, string> = { ...DNA_COMPLEMENT_PAIRS, A: 'U' };

export const DNA_COMPLEMENT = mapTable(DNA_COMPLEMENT_PAIRS, true);
export const RNA_COMPLEMENT = mapTable(RNA_COMPLEMENT_PAIRS, true);
export const IDENTITY = mapTable({}, false);
/** Seq.transcribe: T->U, t->u. */
export const TRANSCRIBE = mapTable({ T: 'U' }, true);
/** Seq.back_transcribe: U->T, u->t. */
export const BACK_TRANSCRIBE = mapTable({ U: 'T' }, true);
/** ASCII upper case. */
export const UPPER = (() => {
  const t = mapTable({}, false);
  for (let b = 0x61; b <= 0x7a; b++) t[b] = b - 0x20;
  return t;
})();

const T_UPPER = 0x54, T_LOWER = 0x74, U_UPPER = 0x55, U_LOWER = 0x75;

/**
 * The complement table Biopython 1.80's Seq.complement()/reverse_complement() choose:
 * RNA when the sequence has a U (and no T), DNA otherwise; both T and U is refused
 * ("Mixed RNA/DNA found"), exactly as Biopython raises ValueError.
 */
export function complementTableFor(seq: Uint8Array, where: Where): Uint8Array {
  const buf = Buffer.isBuffer(seq) ? seq : Buffer.from(seq.buffer, seq.byteOffset, seq.byteLength);
  const hasU = buf.indexOf(U_UPPER) !== -1 || buf.indexOf(U_LOWER) !== -1;
  if (!hasU) return DNA_COMPLEMENT;
  if (buf.indexOf(T_UPPER) !== -1 || buf.indexOf(T_LOWER) !== -1) {
    throw new SeqToolkitError(`${nameOf(where)}: Mixed RNA/DNA found (the sequence has both T and U), as Biopython refuses to complement it`);
  }
  return RNA_COMPLEMENT;
}

/** A byte shown to a user: the letter itself when printable, else its code. */
export function showByte(b: number): string {
  if (b >= 0x21 && b <= 0x7e) return `'${String.fromCharCode(b)}'`;
  return `byte 0x${b.toString(16).padStart(2, '0')}`;
}

/** The error for a forbidden byte at 0-based sequence offset `index`. */
export function invalidLetterError(where: Where, byte: number, index: number, alphabet: AlphabetName, operation: string): SeqToolkitError {
  const position = index + 1;
  const isLetter = (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x2a;
  if (alphabet === 'nucleotide' && isLetter) {
    return new SeqToolkitError(
      `${nameOf(where)}: letter ${showByte(byte)} at position ${position} is not a nucleotide (IUPAC) code; ` +
        `operation ${operation} needs a DNA or RNA sequence (this looks like a protein sequence)`,
    );
  }
  return new SeqToolkitError(`${nameOf(where)}: invalid character ${showByte(byte)} at position ${position}; not a sequence letter`);
}

/** Checks an inline sequence; returns it as Latin-1 bytes. */
export function inlineBytes(sequence: string, alphabet: AlphabetName, operation: string): Buffer {
  const cls = CLASS[alphabet];
  for (let i = 0; i < sequence.length; i++) {
    const c = sequence.charCodeAt(i);
    if (c > 0xff || cls[c] !== LETTER) {
      if (c > 0x7e && c !== 0xa0 && !(c >= 0x80 && c < 0xa0)) {
        const cp = sequence.codePointAt(i)!;
        throw new SeqToolkitError(`sequence: invalid character '${String.fromCodePoint(cp)}' (U+${cp.toString(16).toUpperCase().padStart(4, '0')}) at position ${i + 1}; not a sequence letter`);
      }
      throw invalidLetterError('sequence', c, i, alphabet, operation);
    }
  }
  return Buffer.from(sequence, 'latin1');
}
