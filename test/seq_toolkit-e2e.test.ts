// seq_toolkit through the whole path: submit --attach a FASTA file, run, output.json and the
// output FASTA in the task directory; bad input fails the task with a reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setupTestDb, type TestDb } from './support/db.js';
import { runCli } from './support/cli.js';

let db: TestDb;
let work: string;
beforeAll(async () => {
  db = await setupTestDb('seq_e2e');
  work = mkdtempSync(path.join(os.tmpdir(), 'taskpod-seq-'));
});
afterAll(async () => { await db?.cleanup(); });

const cli = (args: string[]) => runCli(args, db.env());

async function submitAndRun(params: object, attach: string[] = []) {
  const submitted = await cli(['submit', 'seq_toolkit', '--params', JSON.stringify(params), '--json', ...attach.flatMap((f) => ['--attach', f])]);
  expect(submitted.stderr).toBe('');
  const { task_id, job_id } = JSON.parse(submitted.stdout);
  const run = await cli(['run', '--task-id', String(task_id)]);
  const shown = JSON.parse((await cli(['show', String(task_id), '--json'])).stdout);
  return { run, shown, dir: db.files.taskDir(job_id) };
}

describe('seq_toolkit end to end', () => {
  it('reverse-complements every record of an attached FASTA file into a FASTA file that output.json names', async () => {
    const fasta = path.join(work, 'reads.fa');
    writeFileSync(fasta, '>r1 first read\r\nACGTN\r\nacg\r\n\r\n>r2\nGGGCCCAT\n');
    const { run, shown, dir } = await submitAndRun({ operation: 'reverse_complement', fasta_file: 'reads.fa' }, [fasta]);
    expect(run.exitCode).toBe(0);
    expect(shown.status).toBe('completed');
    expect(shown.output).toMatchObject({ operation: 'reverse_complement', output_file: 'reverse_complement.fasta', records: 2 });
    const records = readFileSync(path.join(dir, shown.output.output_file), 'utf8').split('>').filter(Boolean).map((chunk) => {
      const [header, ...lines] = chunk.split('\n');
      return [header, lines.join('')];
    });
    expect(records).toEqual([['r1 first read', 'cgtNACGT'], ['r2', 'ATGGGCCC']]);
  });

  it('gives one GC fraction per record, with the record id', async () => {
    const fasta = path.join(work, 'gc.fa');
    writeFileSync(fasta, '>a\nGGCC\n>b\nATAT\n>c\nGCAT\n');
    const { shown } = await submitAndRun({ operation: 'gc_content', fasta_file: 'gc.fa' }, [fasta]);
    expect(shown.output.result).toEqual([{ id: 'a', result: 1 }, { id: 'b', result: 0 }, { id: 'c', result: 0.5 }]);
  });

  it('translates inline with an NCBI table, as Biopython does', async () => {
    const { shown } = await submitAndRun({ operation: 'translate', sequence: 'ATGATAAGATAA', table: 2 });
    expect(shown.output).toEqual({ operation: 'translate', result: 'MM**' });
  });

  it.each([
    [{ operation: 'melt', sequence: 'ACGT' }, 'operation'],
    [{ operation: 'length' }, 'sequence'],
    [{ operation: 'gc_content', fasta_file: '../../../etc/passwd' }, 'fasta_file'],
    [{ operation: 'reverse_complement', sequence: 'ACGJT' }, 'J'],
  ])('fails the task with a reason naming what was wrong: %j', async (params, named) => {
    const task = await db.store.insert({ taskType: 'seq_toolkit', params, maxAttempts: 1 });
    const r = await cli(['run', '--task-id', String(task.id)]);
    expect(r.exitCode).toBe(1);
    const failed = (await db.task(task.id));
    expect(failed.status).toBe('failed');
    expect(failed.error_message).toContain(named);
  });
});
