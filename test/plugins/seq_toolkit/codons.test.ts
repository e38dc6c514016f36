// Every codon over ACGTURYSWKMBDHVNX-. (19^3 = 6859) in every NCBI table Biopython 1.80 has,
// against Seq(codon).translate(table) computed by Biopython ('!' where it raises).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeqToolkitError } from '../../../plugins/seq_toolkit/alphabet.js';
import { CODON_LETTERS, TABLE_IDS, checkToStop, codonTable, translateBytes } from '../../../plugins/seq_toolkit/translate.js';
import { fixtures } from './helpers.js';

const data = JSON.parse(readFileSync(path.join(fixtures, 'codons.json'), 'utf8')) as {
  letters: string; tables: Record<string, string>; to_stop_refused: Record<string, boolean>;
};

describe('codon tables', () => {
  it('cover the same letters and tables as Biopython', () => {
    expect(data.letters).toBe(CODON_LETTERS);
    expect(TABLE_IDS.map(String).sort()).toEqual(Object.keys(data.tables).sort());
    for (const id of [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 16, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33]) {
      expect(TABLE_IDS).toContain(id);
    }
  });

  for (const id of Object.keys(data.tables)) {
    it(`table ${id}: all ${data.tables[id].length} codons, upper and lower case, as Biopython`, () => {
      const expected = data.tables[id];
      const L = data.letters;
      const mismatches: string[] = [];
      let k = 0;
      for (const a of L) for (const b of L) for (const c of L) {
        for (const codon of [a + b + c, (a + b + c).toLowerCase()]) {
          let got: string;
          try {
            got = translateBytes(Buffer.from(codon, 'latin1'), { table: Number(id), toStop: false, where: 'test' }).toString('latin1');
          } catch (err) {
            expect(err).toBeInstanceOf(SeqToolkitError);
            got = '!';
          }
          if (got !== expected[k]) mismatches.push(`${codon}: ${got} != ${expected[k]}`);
        }
        k++;
      }
      expect(mismatches.slice(0, 20)).toEqual([]);
      expect(codonTable(Number(id)).dualCoding.length > 0).toBe(data.to_stop_refused[id]);
      if (data.to_stop_refused[id]) expect(() => checkToStop(codonTable(Number(id)), true)).toThrow(/to_stop/);
    });
  }
});
