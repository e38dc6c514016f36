// NCBI genetic codes and translation exactly as Biopython 1.80's Seq.translate():
// the "ambiguous generic" codon table (DNA and RNA codons), ambiguous codons resolved the
// way Bio.Data.CodonTable.AmbiguousForwardTable does, possible stops as 'X', '---' as '-',
// a trailing partial codon ignored. Each table becomes a 19^3-entry byte lookup, built lazily.
import { SeqToolkitError, nameOf, type Where } from './alphabet.js';

/** NCBI id -> [amino acids for codons in TCAG order ('*' = not in the forward table), stop codons]. */
const NCBI: Record<number, [string, string]> = {
  1: ['FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG TGA'], // Standard
  2: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG', 'TAA TAG AGA AGG'], // Vertebrate Mitochondrial
  3: ['FFLLSSSSYY**CCWWTTTTPPPPHHQQRRRRIIMMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG'], // Yeast Mitochondrial
  4: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG'], // Mold Mitochondrial etc.
  5: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSSSSVVVVAAAADDEEGGGG', 'TAA TAG'], // Invertebrate Mitochondrial
  6: ['FFLLSSSSYYQQCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TGA'], // Ciliate Nuclear
  9: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNNKSSSSVVVVAAAADDEEGGGG', 'TAA TAG'], // Echinoderm Mitochondrial
  10: ['FFLLSSSSYY**CCCWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG'], // Euplotid Nuclear
  11: ['FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG TGA'], // Bacterial, Archaeal, Plant Plastid
  12: ['FFLLSSSSYY**CC*WLLLSPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG TGA'], // Alternative Yeast Nuclear
  13: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSSGGVVVVAAAADDEEGGGG', 'TAA TAG'], // Ascidian Mitochondrial
  14: ['FFLLSSSSYYY*CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNNKSSSSVVVVAAAADDEEGGGG', 'TAG'], // Alternative Flatworm Mitochondrial
  15: ['FFLLSSSSYY*QCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TGA'], // Blepharisma Macronuclear
  16: ['FFLLSSSSYY*LCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TGA'], // Chlorophycean Mitochondrial
  21: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNNKSSSSVVVVAAAADDEEGGGG', 'TAA TAG'], // Trematode Mitochondrial
  22: ['FFLLSS*SYY*LCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TCA TAA TGA'], // Scenedesmus obliquus Mitochondrial
  23: ['FF*LSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TTA TAA TAG TGA'], // Thraustochytrium Mitochondrial
  24: ['FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSSKVVVVAAAADDEEGGGG', 'TAA TAG'], // Pterobranchia Mitochondrial
  25: ['FFLLSSSSYY**CCGWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG'], // Candidate Division SR1, Gracilibacteria
  26: ['FFLLSSSSYY**CC*WLLLAPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG TGA'], // Pachysolen tannophilus Nuclear
  27: ['FFLLSSSSYYQQCCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TGA'], // Karyorelict Nuclear
  28: ['FFLLSSSSYYQQCCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG TGA'], // Condylostoma Nuclear
  29: ['FFLLSSSSYYYYCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TGA'], // Mesodinium Nuclear
  30: ['FFLLSSSSYYEECC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TGA'], // Peritrich Nuclear
  31: ['FFLLSSSSYYEECCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TAG'], // Blastocrithidia Nuclear
  32: ['FFLLSSSSYY*WCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG', 'TAA TGA'], // Balanophoraceae Plastid
  33: ['FFLLSSSSYYY*CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSSKVVVVAAAADDEEGGGG', 'TAG'], // Cephalodiscidae Mitochondrial
};

export const TABLE_IDS: readonly number[] = Object.keys(NCBI).map(Number);

/** The letters a codon position can hold in the lookup (after upper-casing); others make the codon invalid. */
export const CODON_LETTERS = 'ACGTURYSWKMBDHVNX-.';
const NL = CODON_LETTERS.length;
/** Byte -> index in CODON_LETTERS (case-folded), 255 for any other byte. */
export const CODON_INDEX = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let i = 0; i < NL; i++) {
    t[CODON_LETTERS.charCodeAt(i)] = i;
    t[CODON_LETTERS.toLowerCase().charCodeAt(i)] = i;
  }
  return t;
})();

// Bio.Data.IUPACData.ambiguous_rna_values with T -> "U": the generic table's `_merged_values`.
const MERGED_VALUES: Record<string, string> = {
  A: 'A', C: 'C', G: 'G', U: 'U', T: 'U', M: 'AC', R: 'AG', W: 'AU', S: 'CG', Y: 'CU', K: 'GU',
  V: 'ACG', H: 'ACU', D: 'AGU', B: 'CGU', X: 'GAUC', N: 'GAUC',
};
// IUPACData.extended_protein_values.
const PROTEIN_VALUES: Record<string, string> = {
  A: 'A', B: 'ND', C: 'C', D: 'D', E: 'E', F: 'F', G: 'G', H: 'H', I: 'I', J: 'IL', K: 'K', L: 'L', M: 'M',
  N: 'N', O: 'O', P: 'P', Q: 'Q', R: 'R', S: 'S', T: 'T', U: 'U', V: 'V', W: 'W',
  X: 'ACDEFGHIKLMNPQRSTVWY', Y: 'Y', Z: 'QE',
};
const INVERTED: Record<string, string[]> = (() => {
  const inv: Record<string, string[]> = {};
  for (const [name, val] of Object.entries(PROTEIN_VALUES)) {
    for (const c of val) (inv[c] ??= []).includes(name) || inv[c].push(name);
  }
  return inv;
})();
// ambiguous_dna_letters + ambiguous_rna_letters, upper case: what may become 'X' (possible stop).
const VALID_LETTERS = new Set('GATCRYWSMKHBVDNU');

export interface CodonTable {
  id: number;
  /** 19^3 entries: the amino-acid byte for a codon, or 0 when Biopython raises "Codon ... is invalid". */
  lookup: Uint8Array;
  /** True for tables where a stop codon also codes for an amino acid (Biopython forbids to_stop there). */
  dualCoding: string[];
}

const cache = new Map<number, CodonTable>();

export function codonTable(id: number): CodonTable {
  let table = cache.get(id);
  if (!table) {
    table = buildTable(id);
    cache.set(id, table);
  }
  return table;
}

function buildTable(id: number): CodonTable {
  const entry = NCBI[id];
  if (!entry) throw new SeqToolkitError(`table: unknown NCBI genetic code ${id}; known: ${TABLE_IDS.join(', ')}`);
  const [aas, stopList] = entry;
  const bases = 'TCAG';
  const forward = new Map<string, string>();
  const stops: string[] = [];
  for (const s of stopList.split(' ')) {
    stops.push(s);
    if (s.includes('T')) stops.push(s.replaceAll('T', 'U'));
  }
  let i = 0;
  for (const a of bases) for (const b of bases) for (const c of bases) {
    const codon = a + b + c;
    const aa = aas[i++];
    // Biopython's forward table holds every non-stop codon, and dual-coding stop codons too.
    if (aa !== '*') {
      forward.set(codon, aa);
      forward.set(codon.replaceAll('T', 'U'), aa);
    }
  }
  const stopList2 = listAmbiguousCodons(stops, MERGED_VALUES);
  const stopSet = new Set(stopList2);
  // Bio.Seq._translate_str: `[c for c in stop_codons if c in forward_table]`.
  const dualCoding = stopList2.filter((s) => forwardLookup(s, forward) !== undefined);
  const lookup = new Uint8Array(NL * NL * NL);
  for (let x = 0; x < NL; x++) for (let y = 0; y < NL; y++) for (let z = 0; z < NL; z++) {
    const codon = CODON_LETTERS[x] + CODON_LETTERS[y] + CODON_LETTERS[z];
    lookup[(x * NL + y) * NL + z] = translateCodon(codon, forward, stopSet).charCodeAt(0) || 0;
  }
  return { id, lookup, dualCoding };
}

/** One codon as Bio.Seq._translate_str does it; '' when Biopython raises TranslationError. */
function translateCodon(codon: string, forward: Map<string, string>, stops: Set<string>): string {
  const aa = forwardLookup(codon, forward);
  if (aa !== undefined) return aa;
  if (stops.has(codon)) return '*';
  if ([...codon].every((c) => VALID_LETTERS.has(c))) return 'X';
  if (codon === '---') return '-';
  return '';
}

/** AmbiguousForwardTable.__getitem__: an amino acid, or undefined for KeyError / TranslationError. */
function forwardLookup(codon: string, forward: Map<string, string>): string | undefined {
  const direct = forward.get(codon);
  if (direct !== undefined) return direct;
  const values = [...codon].map((c) => MERGED_VALUES[c]);
  if (values.some((v) => v === undefined)) return undefined; // KeyError
  const possible: string[] = [];
  let stop = false;
  for (const a of values[0]) for (const b of values[1]) for (const c of values[2]) {
    const aa = forward.get(a + b + c);
    if (aa === undefined) stop = true;
    else if (!possible.includes(aa)) possible.push(aa);
  }
  if (stop) return undefined; // a stop codon, or both stop and amino acid
  if (possible.length === 1) return possible[0];
  const counts = new Map<string, number>();
  for (const amino of possible) for (const term of INVERTED[amino] ?? []) counts.set(term, (counts.get(term) ?? 0) + 1);
  const candidates = [...counts].filter(([, n]) => n === possible.length).map(([t]) => t);
  if (candidates.length === 0) return undefined;
  candidates.sort((p, q) => PROTEIN_VALUES[p].length - PROTEIN_VALUES[q].length || (p < q ? -1 : p > q ? 1 : 0));
  return candidates[0];
}

/** Bio.Data.CodonTable.list_ambiguous_codons. */
function listAmbiguousCodons(codons: string[], values: Record<string, string>): string[] {
  const letters = Object.keys(values);
  const lists = [0, 1, 2].map((pos) => {
    const seen = new Set(codons.map((c) => c[pos]));
    return letters.filter((l) => [...values[l]].every((m) => seen.has(m))).sort();
  });
  const answer = [...codons];
  for (const a of lists[0]) for (const b of lists[1]) for (const c of lists[2]) {
    const amb = a + b + c;
    if (codons.includes(amb) || answer.includes(amb)) continue;
    let wanted = true;
    for (const x of values[a]) for (const y of values[b]) for (const z of values[c]) {
      if (!codons.includes(x + y + z)) wanted = false;
    }
    if (wanted) answer.push(amb);
  }
  return answer;
}

export interface TranslateOptions {
  table: number;
  toStop: boolean;
  /** Names the sequence in errors, e.g. "sequence" or "record 2 (chr1)". */
  where: Where;
}

/** Throws Biopython's error for to_stop on a dual-coding table (raised even before translating). */
export function checkToStop(table: CodonTable, toStop: boolean): void {
  if (toStop && table.dualCoding.length > 0) {
    throw new SeqToolkitError(
      `to_stop: cannot be used with table ${table.id}: it has ${table.dualCoding.length} codon(s) that can be both STOP and an amino acid (e.g. '${table.dualCoding[0]}'), as Biopython refuses`,
    );
  }
}

/** Translates nucleotide bytes into protein bytes (upper case; a trailing partial codon is ignored). */
export function translateBytes(seq: Uint8Array, opts: TranslateOptions): Buffer {
  const table = codonTable(opts.table);
  checkToStop(table, opts.toStop);
  const lookup = table.lookup;
  const idx = CODON_INDEX;
  const n = seq.length - (seq.length % 3);
  const out = Buffer.allocUnsafe(n / 3);
  let o = 0;
  for (let i = 0; i < n; i += 3) {
    const a = idx[seq[i]], b = idx[seq[i + 1]], c = idx[seq[i + 2]];
    const aa = a === 255 || b === 255 || c === 255 ? 0 : lookup[(a * NL + b) * NL + c];
    if (aa === 0) throw invalidCodon(seq, i, opts.where);
    if (aa === 0x2a && opts.toStop) break;
    out[o++] = aa;
  }
  return out.subarray(0, o);
}

/** The amino acid byte of the codon at seq[i..i+2] (0 if invalid). */
export function codonAt(lookup: Uint8Array, a: number, b: number, c: number): number {
  const x = CODON_INDEX[a], y = CODON_INDEX[b], z = CODON_INDEX[c];
  return x === 255 || y === 255 || z === 255 ? 0 : lookup[(x * NL + y) * NL + z];
}

export function invalidCodon(seq: Uint8Array, i: number, where: Where): SeqToolkitError {
  const codon = Buffer.from(seq.subarray(i, i + 3)).toString('latin1').toUpperCase();
  return new SeqToolkitError(`${nameOf(where)}: codon '${codon}' at position ${i + 1} is invalid (Biopython raises TranslationError)`);
}
