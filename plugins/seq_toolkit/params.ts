// The params schema: a strict object per operation (extra keys refused), discriminated on
// `operation`, and exactly one of `sequence` / `fasta_file`.
import { z } from 'zod';
import { MOTIF_PATTERN } from './operations.js';
import { TABLE_IDS } from './translate.js';

const input = {
  sequence: z.string().optional().describe('The sequence itself (inline); give this or fasta_file'),
  fasta_file: z.string().min(1).optional().describe('A FASTA file, as a path relative to the task directory; give this or sequence'),
};

const table = z
  .literal(TABLE_IDS as [number, ...number[]])
  .default(1)
  .describe('NCBI genetic code id (1 standard, 2 vertebrate mitochondrial, 11 bacterial, ...)');

const plain = <const Op extends string>(operation: Op) => z.strictObject({ operation: z.literal(operation), ...input });

export const paramsSchema = z
  .discriminatedUnion('operation', [
    plain('reverse_complement'),
    plain('complement'),
    plain('reverse'),
    plain('transcribe'),
    plain('back_transcribe'),
    z.strictObject({
      operation: z.literal('translate'),
      ...input,
      table,
      to_stop: z.boolean().default(false).describe('Stop at the first in-frame stop codon (not included)'),
    }),
    z.strictObject({
      operation: z.literal('gc_content'),
      ...input,
      ambiguous: z.enum(['remove', 'ignore', 'weighted']).default('remove').describe("As Biopython's gc_fraction(seq, ambiguous)"),
    }),
    plain('composition'),
    plain('length'),
    z.strictObject({
      operation: z.literal('kmer_count'),
      ...input,
      k: z.number().int().min(1).max(32).describe('k-mer length, 1..32'),
    }),
    z.strictObject({
      operation: z.literal('find_orfs'),
      ...input,
      min_length: z.number().int().min(3).default(75).describe('Minimum ORF length in nucleotides, stop codon included'),
      table,
    }),
    z.strictObject({
      operation: z.literal('find_motif'),
      ...input,
      motif: z
        .string()
        .min(1)
        .max(10_000)
        .regex(MOTIF_PATTERN, 'motif: only IUPAC nucleotide codes (ACGTU RYSWKM BDHV N)')
        .describe('IUPAC nucleotide motif, searched on both strands'),
    }),
  ])
  .superRefine((p, ctx) => {
    const hasSeq = p.sequence !== undefined;
    const hasFile = p.fasta_file !== undefined;
    if (hasSeq && hasFile) {
      ctx.addIssue({ code: 'custom', path: ['fasta_file'], message: 'give either sequence or fasta_file, not both' });
    } else if (!hasSeq && !hasFile) {
      ctx.addIssue({ code: 'custom', path: ['sequence'], message: 'required: give sequence (inline) or fasta_file' });
    }
  });

export type SeqToolkitParams = z.infer<typeof paramsSchema>;
