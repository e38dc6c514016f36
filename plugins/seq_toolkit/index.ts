// seq_toolkit: Biopython-exact sequence operations on an inline sequence or a FASTA file.
//
// output.json:
//   inline:  { operation, result }
//            result: a string (sequence-valued operations), a number (gc_content, length),
//            an object (composition, kmer_count) or an array (find_orfs, find_motif).
//   file:    { operation, fasta_file, records, result: [{ id, result }, ...] }        one entry per record
//            sequence-valued operations instead write the sequences to a FASTA file in the
//            task directory and give { operation, fasta_file, records, output_file,
//            result: [{ id, length }, ...] }, output_file being e.g. "reverse_complement.fasta".
import { definePlugin } from '../../src/plugins.js';
import { paramsSchema } from './params.js';
import { runSeqToolkit } from './execute.js';

export default definePlugin({
  type: 'seq_toolkit',
  description:
    'Sequence operations that agree with Biopython 1.80: reverse_complement, complement, reverse, transcribe, ' +
    'back_transcribe, translate (table, to_stop), gc_content (ambiguous: remove|ignore|weighted), composition, ' +
    'length, kmer_count (k), find_orfs (min_length, table; both strands), find_motif (motif, IUPAC; both strands). ' +
    'Input: `sequence` inline, or `fasta_file` in the task directory (streamed, one record at a time). ' +
    'Output: { operation, result } inline; for files { operation, fasta_file, records, result: [{ id, result }] }, ' +
    'and for sequence-valued operations the sequences go to output_file (<operation>.fasta) with result [{ id, length }].',
  params: paramsSchema,
  resources: { requests: { cpu: '1', memory: '512Mi' } },
  execute: runSeqToolkit,
});
