// execute(params, ctx): inline sequences directly; FASTA files one record at a time, with
// progress by bytes read and sequence-valued results streamed to <operation>.fasta.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { PluginContext } from '../../src/plugins.js';
import { SeqToolkitError, inlineBytes, type Where } from './alphabet.js';
import { FastaReader, FastaWriter, type FastaRecord } from './fasta.js';
import {
  COUNT_BASED, SEQUENCE_VALUED, alphabetOf, composition, countBytes, findMotif, findOrfs,
  gcFraction, kmerCount, totalLength, transformInPlace, type Operation,
} from './operations.js';
import type { SeqToolkitParams } from './params.js';
import { resolveTaskFile } from './paths.js';
import { checkToStop, codonTable, translateBytes } from './translate.js';

type Ctx = Pick<PluginContext, 'taskDir' | 'signal' | 'progress' | 'logger'>;

export async function runSeqToolkit(params: SeqToolkitParams, ctx: Ctx): Promise<unknown> {
  ctx.signal.throwIfAborted();
  if (params.operation === 'translate') checkToStop(codonTable(params.table), params.to_stop);
  if (params.sequence !== undefined) {
    const bytes = inlineBytes(params.sequence, alphabetOf(params.operation), params.operation);
    return { operation: params.operation, result: computeOne(params, bytes, 'sequence', ctx.signal) };
  }
  return runFile(params, params.fasta_file!, ctx);
}

/** The result of a non-file operation on one sequence (sequences as strings). */
function computeOne(params: SeqToolkitParams, seq: Buffer, where: Where, signal?: AbortSignal): unknown {
  switch (params.operation) {
    case 'translate':
      return translateBytes(seq, { table: params.table, toStop: params.to_stop, where }).toString('latin1');
    case 'reverse_complement':
    case 'complement':
    case 'reverse':
    case 'transcribe':
    case 'back_transcribe': {
      const copy = Buffer.from(seq);
      transformInPlace(params.operation, copy, where);
      return copy.toString('latin1');
    }
    case 'gc_content':
    case 'composition':
    case 'length':
      return fromCounts(params, countBytes(seq));
    case 'kmer_count':
      return kmerCount(seq, params.k, signal);
    case 'find_orfs':
      return findOrfs(seq, { table: params.table, minLength: params.min_length, where, signal });
    case 'find_motif':
      return findMotif(seq, params.motif, signal);
  }
}

function fromCounts(params: SeqToolkitParams, counts: Float64Array): unknown {
  if (params.operation === 'gc_content') return gcFraction(counts, params.ambiguous);
  if (params.operation === 'composition') return composition(counts);
  return totalLength(counts);
}

async function runFile(params: SeqToolkitParams, fastaFile: string, ctx: Ctx): Promise<unknown> {
  const op: Operation = params.operation;
  const file = await resolveTaskFile(ctx.taskDir, fastaFile);
  const alphabet = alphabetOf(op);
  const started = Date.now();
  let lastReport = 0;
  let lastFraction = -1;
  let current = 0;
  const reader = await FastaReader.open(file, {
    signal: ctx.signal,
    onProgress: (done, total) => {
      const fraction = total > 0 ? done / total : 1;
      const now = Date.now();
      if (fraction >= 1 || fraction - lastFraction >= 0.01 || now - lastReport >= 1000) {
        lastFraction = fraction;
        lastReport = now;
        ctx.progress(Math.min(1, fraction), `${op}: ${Math.round(fraction * 100)}% of ${total} bytes${current ? `, record ${current}` : ''}`);
      }
    },
  });
  let writer: FastaWriter | undefined;
  const entries: unknown[] = [];
  try {
    let outputName: string | undefined;
    if (SEQUENCE_VALUED.has(op)) {
      outputName = `${op}.fasta`;
      if (path.join(await realpath(ctx.taskDir), outputName) === file) outputName = `${op}.out.fasta`;
      writer = await FastaWriter.create(path.join(ctx.taskDir, outputName), ctx.signal);
    }
    const w = writer;
    const onRecord = (record: FastaRecord, seq: Buffer): void | Promise<void> => {
      current = record.index;
      if (!w) {
        entries.push({ id: record.id, result: computeOne(params, seq, record, ctx.signal) });
        return undefined;
      }
      if (params.operation === 'translate') {
        const protein = translateBytes(seq, { table: params.table, toStop: params.to_stop, where: record });
        entries.push({ id: record.id, length: protein.length });
        return w.writeRecord(record.title, protein);
      }
      transformInPlace(op, seq, record);
      entries.push({ id: record.id, length: seq.length });
      return w.writeRecord(record.title, seq);
    };
    if (COUNT_BASED.has(op)) {
      await reader.read('counts', alphabet, op, (record, counts) => {
        current = record.index;
        entries.push({ id: record.id, result: fromCounts(params, counts) });
      });
    } else {
      await reader.read('sequence', alphabet, op, onRecord);
    }
    if (writer) await writer.finish();
    writer = undefined;
    ctx.progress(1, `${op}: done, ${entries.length} record(s)`);
    ctx.logger.info({ operation: op, records: entries.length, bytes: reader.size, ms: Date.now() - started }, 'seq_toolkit finished');
    const out: Record<string, unknown> = { operation: op, fasta_file: fastaFile, records: entries.length };
    if (outputName) out.output_file = outputName;
    out.result = entries;
    return out;
  } catch (err) {
    if (err instanceof SeqToolkitError && !err.message.startsWith('fasta_file')) {
      err.message = `fasta_file: ${err.message}`;
    }
    throw err;
  } finally {
    if (writer) await writer.discard();
    await reader.close();
  }
}
