// Streaming FASTA: one record at a time, read with positional reads into a fixed chunk.
// Accepts any line width, LF or CRLF, blank lines, '>' headers with descriptions.
// FastaReader.read(mode, ...) hands each record to a callback, in one of two modes:
//   - 'sequence': the record's letters as one compact Buffer (whitespace removed, validated).
//     A one-line record is handed over in place in the chunk; others are copied into one
//     reused record buffer. A record that runs past the chunk is located first (a scan for
//     '>' at a line start), then read straight into that buffer and compacted in place, so a
//     100 MB record costs ~100 MB plus the chunk.
//   - 'counts': a 256-entry histogram of the record's letters, streamed chunk by chunk,
//     without ever holding the record (length, composition and GC content need only this).
// Records that lie wholly in the chunk (most records of most files) are handled without
// awaiting anything. FastaWriter writes records back out, 60 letters a line.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { addHistogram, allLetters, countLetters, stripLineBreaks } from './bytes.js';
import { CLASS, FORBIDDEN, LETTER, SeqToolkitError, invalidLetterError, type AlphabetName } from './alphabet.js';

const GT = 0x3e; // '>'
const LF = 0x0a;
const CR = 0x0d;

/** One record's header; its letters or letter counts are handed over beside it. */
export class FastaRecord {
  constructor(
    /** 1-based position of the record in the file. */
    readonly index: number,
    /** The header up to the first whitespace, as Biopython's record id. */
    readonly id: string,
    /** The whole header line without '>' (trailing whitespace removed). */
    readonly title: string,
  ) {}

  /** "record 3 (chr2)": how errors name this record. */
  get where(): string {
    return `record ${this.index} (${this.id})`;
  }
}

export type ReadMode = 'sequence' | 'counts';
/** Receives each record; `data` is only valid during the call (and until a returned promise settles). */
export type OnRecord<D> = (record: FastaRecord, data: D) => void | Promise<void>;

export interface FastaReaderOptions {
  signal?: AbortSignal;
  /** Called as the reader advances: bytes of the file consumed so far, and the file size. */
  onProgress?: (bytesDone: number, totalBytes: number) => void;
  /** Size of the read chunk (default 8 MiB). */
  chunkSize?: number;
  /** How errors name the file (default "fasta_file"). */
  label?: string;
}

const ASCII_SPACE = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

export class FastaReader {
  private readonly chunk: Buffer;
  private chunkStart = 0;
  private chunkLen = 0;
  private record: Buffer = Buffer.alloc(0);
  // One histogram for the reader, cleared for each record (a typed array this size lives
  // outside the JS heap: allocating one per record would cost more than counting a short read).
  private readonly histogram = new Float64Array(256);

  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly opts: FastaReaderOptions,
  ) {
    this.chunk = Buffer.allocUnsafeSlow(Math.max(16, opts.chunkSize ?? 8 << 20));
  }

  static async open(file: string, opts: FastaReaderOptions = {}): Promise<FastaReader> {
    const fh = await open(file, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new SeqToolkitError(`${opts.label ?? 'fasta_file'}: not a regular file`);
      return new FastaReader(fh, st.size, opts);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private get label(): string {
    return this.opts.label ?? 'fasta_file';
  }

  private get chunkEnd(): number {
    return this.chunkStart + this.chunkLen;
  }

  /** Makes the chunk start at file offset `at` (as much as fits); false at end of file. */
  private async loadAt(at: number): Promise<boolean> {
    if (at >= this.size) return false;
    this.opts.signal?.throwIfAborted();
    this.chunkStart = at;
    this.chunkLen = 0;
    this.chunkLen = await this.readFully(this.chunk, 0, Math.min(this.chunk.length, this.size - at), at);
    this.opts.onProgress?.(at, this.size);
    return this.chunkLen > 0;
  }

  /** Makes the chunk hold file offset `at`, reading only if it does not; false at end of file. */
  private async load(at: number): Promise<boolean> {
    if (at >= this.chunkStart && at < this.chunkEnd) return true;
    return this.loadAt(at);
  }

  private async readFully(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, offset + done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /**
   * Reads every record in order: `sequence` mode hands over its letters (one compact Buffer,
   * reused), `counts` mode a 256-entry histogram of its letters (streamed, never holding the
   * record). Both check the letters against `alphabet`. Returns the number of records.
   */
  read(mode: 'sequence', alphabet: AlphabetName, operation: string, onRecord: OnRecord<Buffer>): Promise<number>;
  read(mode: 'counts', alphabet: AlphabetName, operation: string, onRecord: OnRecord<Float64Array>): Promise<number>;
  async read(mode: ReadMode, alphabet: AlphabetName, operation: string, onRecord: OnRecord<never>): Promise<number> {
    const signal = this.opts.signal;
    let at = await this.firstRecord();
    let index = 0;
    while (at < this.size) {
      index++;
      if (signal?.aborted) signal.throwIfAborted();
      // The header line, whole in the chunk (reloading from its start if it straddles the end).
      let rel = at - this.chunkStart;
      let nl = rel >= 0 && rel < this.chunkLen ? this.chunk.indexOf(LF, rel) : -1;
      if (nl >= this.chunkLen) nl = -1;
      if (nl === -1 && !(rel >= 0 && rel < this.chunkLen && this.chunkEnd >= this.size)) {
        await this.loadAt(at);
        rel = 0;
        nl = this.chunk.indexOf(LF, 0);
        if (nl >= this.chunkLen) nl = -1;
        if (nl === -1 && this.chunkEnd < this.size) {
          throw new SeqToolkitError(`${this.label}: record ${index}: header line longer than ${this.chunk.length} bytes`);
        }
      }
      const lineEnd = nl === -1 ? this.chunkLen : nl;
      const record = this.header(rel + 1, lineEnd, index);
      const seqStart = Math.min(this.chunkStart + lineEnd + 1, this.size);
      let end = this.endInChunk(seqStart);
      let data: Buffer | Float64Array;
      if (end >= 0) {
        // The whole record is in the chunk: no awaiting (most records of most files).
        data = mode === 'counts'
          ? this.countInChunk(seqStart, end, alphabet, operation, record)
          : this.oneLine(seqStart, end, alphabet) ?? this.compact(this.copyFromChunk(seqStart, end), end - seqStart, alphabet, operation, record);
      } else if (mode === 'counts') {
        end = await this.countAcross(seqStart, alphabet, operation, record);
        data = this.histogram;
      } else {
        end = await this.findEnd(seqStart);
        data = await this.readAcross(seqStart, end, alphabet, operation, record);
      }
      const pending = onRecord(record, data as never);
      if (pending) await pending;
      at = end;
    }
    this.opts.onProgress?.(this.size, this.size);
    return index;
  }

  /** Offset of the first '>': blank lines (and a UTF-8 BOM) may come first, nothing else. */
  private async firstRecord(): Promise<number> {
    let at = 0;
    let line = 1;
    if (!(await this.loadAt(0))) throw new SeqToolkitError(`${this.label}: empty file, no FASTA record`);
    if (this.chunkLen >= 3 && this.chunk[0] === 0xef && this.chunk[1] === 0xbb && this.chunk[2] === 0xbf) at = 3;
    for (;;) {
      if (!(await this.load(at))) throw new SeqToolkitError(`${this.label}: empty file, no FASTA record`);
      const b = this.chunk[at - this.chunkStart];
      if (b === GT) return at;
      if (b === LF) line++;
      else if (b !== 0x0d && b !== 0x20 && b !== 0x09) {
        throw new SeqToolkitError(`${this.label}: not a FASTA file: line ${line} does not start with '>'`);
      }
      at++;
    }
  }

  /** The record for the header text chunk[from..to): title right-trimmed, id its first word (Biopython). */
  private header(from: number, to: number, index: number): FastaRecord {
    while (to > from && ASCII_SPACE(this.chunk[to - 1])) to--;
    let title = this.chunk.toString('utf8', from, to);
    let ascii = true;
    for (let i = 0; i < title.length; i++) if (title.charCodeAt(i) > 0x7f) { ascii = false; break; }
    let id: string;
    if (ascii) {
      let a = 0;
      while (a < title.length && ASCII_SPACE(title.charCodeAt(a))) a++;
      let b = a;
      while (b < title.length && !ASCII_SPACE(title.charCodeAt(b))) b++;
      id = title.slice(a, b);
    } else {
      title = title.replace(/\s+$/u, '');
      id = /\S+/u.exec(title)?.[0] ?? '';
    }
    if (id === '') throw new SeqToolkitError(`${this.label}: record ${index}: empty header (a '>' without an id)`);
    return new FastaRecord(index, id, title);
  }

  /** Where the record whose letters start at `from` ends, if the chunk shows it: a '>' at a line start, or EOF; else -1. */
  private endInChunk(from: number): number {
    if (from >= this.size) return this.size;
    const rel = from - this.chunkStart;
    if (rel < 0 || rel > this.chunkLen) return -1;
    let search = rel;
    for (;;) {
      const gt = this.chunk.indexOf(GT, search);
      if (gt === -1 || gt >= this.chunkLen) return this.chunkEnd >= this.size ? this.size : -1;
      if (gt === rel || this.chunk[gt - 1] === LF) return this.chunkStart + gt;
      search = gt + 1;
    }
  }

  /** File offset where the record whose letters start at `from` ends, reading on as needed. */
  private async findEnd(from: number): Promise<number> {
    let at = from;
    while (at < this.size) {
      await this.load(at);
      const gt = this.chunk.indexOf(GT, at - this.chunkStart);
      if (gt !== -1 && gt < this.chunkLen) {
        const abs = this.chunkStart + gt;
        if (abs === from || (await this.byteBefore(abs)) === LF) return abs;
        at = abs + 1;
      } else {
        at = this.chunkEnd;
      }
    }
    return this.size;
  }

  private async byteBefore(abs: number): Promise<number> {
    if (abs - 1 >= this.chunkStart) return this.chunk[abs - 1 - this.chunkStart];
    const one = Buffer.alloc(1);
    await this.fh.read(one, 0, 1, abs - 1);
    return one[0];
  }

  /**
   * A record whose letters are one line, handed over in place in the chunk (no copy; the
   * consumer may change it, as the reader never reads those bytes again); undefined otherwise.
   */
  private oneLine(start: number, end: number, alphabet: AlphabetName): Buffer | undefined {
    const from = start - this.chunkStart;
    let to = end - this.chunkStart;
    if (to > from && this.chunk[to - 1] === LF) to--;
    if (to > from && this.chunk[to - 1] === CR) to--;
    const nl = this.chunk.indexOf(LF, from);
    if (nl !== -1 && nl < to) return undefined;
    const line = this.chunk.subarray(from, to);
    return allLetters(line, line.length, CLASS[alphabet]) ? line : undefined;
  }

  private recordBuffer(raw: number): Buffer {
    if (this.record.length < raw) {
      this.record = Buffer.alloc(0); // let the old one go before allocating
      this.record = Buffer.allocUnsafeSlow(Math.max(raw, 1 << 16));
    }
    return this.record;
  }

  private copyFromChunk(start: number, end: number): Buffer {
    const buf = this.recordBuffer(end - start);
    this.chunk.copy(buf, 0, start - this.chunkStart, end - this.chunkStart);
    return buf;
  }

  /** A record larger than what the chunk shows: read straight into the record buffer. */
  private async readAcross(start: number, end: number, alphabet: AlphabetName, operation: string, record: FastaRecord): Promise<Buffer> {
    const raw = end - start;
    let buf: Buffer;
    if (start >= this.chunkStart && end <= this.chunkEnd) {
      buf = this.copyFromChunk(start, end);
    } else {
      this.opts.signal?.throwIfAborted();
      buf = this.recordBuffer(raw);
      const got = await this.readFully(buf, 0, raw, start);
      if (got !== raw) throw new SeqToolkitError(`${this.label}: ${record.where}: the file changed while it was read`);
      this.opts.signal?.throwIfAborted();
    }
    const seq = this.compact(buf, raw, alphabet, operation, record);
    this.opts.onProgress?.(end, this.size);
    return seq;
  }

  /**
   * The letters of buf[0..raw): line breaks dropped with native copies, then checked two bytes a
   * step; spaces, tabs, stray CRs and bad letters take the byte-by-byte path, which names the position.
   */
  private compact(buf: Buffer, raw: number, alphabet: AlphabetName, operation: string, record: FastaRecord): Buffer {
    const cls = CLASS[alphabet];
    let n = stripLineBreaks(buf, raw);
    if (!allLetters(buf, n, cls)) n = compactInPlace(buf, n, cls, record.where, alphabet, operation);
    return buf.subarray(0, n);
  }

  private countInChunk(start: number, end: number, alphabet: AlphabetName, operation: string, record: FastaRecord): Float64Array {
    const counts = this.histogram;
    counts.fill(0);
    if (!countLetters(this.chunk, start - this.chunkStart, end - this.chunkStart, counts, ACCEPTED[alphabet], FORBIDDEN_BYTES[alphabet])) {
      this.refuse(this.copyFromChunk(start, end), end - start, alphabet, operation, record);
    }
    zeroWhitespace(counts);
    return counts;
  }

  /** A record that runs past the chunk: histogram chunk by chunk; returns where it ends. */
  private async countAcross(start: number, alphabet: AlphabetName, operation: string, record: FastaRecord): Promise<number> {
    const counts = this.histogram;
    counts.fill(0);
    let at = start;
    let end = this.size;
    while (at < this.size) {
      await this.load(at);
      const rel = at - this.chunkStart;
      let stop = this.chunkLen;
      let search = rel;
      for (;;) {
        const gt = this.chunk.indexOf(GT, search);
        if (gt === -1 || gt >= this.chunkLen) break;
        const abs = this.chunkStart + gt;
        if (abs === start || (await this.byteBefore(abs)) === LF) {
          stop = gt;
          end = abs;
          break;
        }
        search = gt + 1;
      }
      addHistogram(this.chunk, rel, stop, counts);
      if (end !== this.size) break;
      at = this.chunkEnd;
    }
    const forbidden = FORBIDDEN_BYTES[alphabet];
    for (let i = 0; i < forbidden.length; i++) {
      if (counts[forbidden[i]] > 0) {
        // Rare path: read the record to say where its first bad character is.
        const buf = this.recordBuffer(end - start);
        await this.readFully(buf, 0, end - start, start);
        this.refuse(buf, end - start, alphabet, operation, record);
      }
    }
    zeroWhitespace(counts);
    this.opts.onProgress?.(end, this.size);
    return end;
  }

  /** Throws the error naming the first bad character of the raw record text buf[0..raw). */
  private refuse(buf: Buffer, raw: number, alphabet: AlphabetName, operation: string, record: FastaRecord): never {
    this.compact(buf, raw, alphabet, operation, record);
    throw new SeqToolkitError(`${this.label}: ${record.where}: invalid character`);
  }
}

function zeroWhitespace(counts: Float64Array): void {
  counts[0x0a] = 0;
  counts[0x0d] = 0;
  counts[0x20] = 0;
  counts[0x09] = 0;
}

/** Bytes an alphabet lets through a FASTA record (its letters and whitespace). */
const ACCEPTED: Record<AlphabetName, Uint8Array> = {
  nucleotide: CLASS.nucleotide.map((c) => (c === FORBIDDEN ? 0 : 1)),
  any: CLASS.any.map((c) => (c === FORBIDDEN ? 0 : 1)),
};

/** The byte values an alphabet refuses (whitespace excluded), for checking a histogram. */
const FORBIDDEN_BYTES: Record<AlphabetName, Uint8Array> = (() => {
  const make = (cls: Uint8Array) => Uint8Array.from([...Array(256).keys()].filter((b) => cls[b] === FORBIDDEN));
  return { nucleotide: make(CLASS.nucleotide), any: make(CLASS.any) };
})();

/** Removes whitespace from buf[0..len) in place, refusing forbidden bytes; returns the new length. */
export function compactInPlace(buf: Uint8Array, len: number, cls: Uint8Array, where: string, alphabet: AlphabetName, operation: string): number {
  let o = 0;
  for (let i = 0; i < len; i++) {
    const b = buf[i];
    const c = cls[b];
    if (c === LETTER) buf[o++] = b;
    else if (c === FORBIDDEN) throw invalidLetterError(where, b, o, alphabet, operation);
  }
  return o;
}

/** Writes FASTA (60 letters a line) to a temp file, renamed into place by finish(). */
export class FastaWriter {
  // Two buffers: one is filled while the other is being written.
  private out = Buffer.allocUnsafeSlow(4 << 20);
  private spare = Buffer.allocUnsafeSlow(4 << 20);
  private used = 0;
  private written = 0;
  private pending: Promise<void> | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    readonly file: string,
    private readonly signal?: AbortSignal,
  ) {}

  static async create(file: string, signal?: AbortSignal): Promise<FastaWriter> {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx');
    return new FastaWriter(fh, tmp, file, signal);
  }

  /** Starts writing the filled buffer (after the previous write) and goes on in the other one. */
  private async flush(): Promise<void> {
    this.signal?.throwIfAborted();
    if (this.pending) await this.pending;
    this.pending = undefined;
    if (this.used === 0) return;
    const filled = this.out.subarray(0, this.used);
    const at = this.written;
    this.written += this.used;
    const writing = this.writeAt(filled, at);
    writing.catch(() => {}); // awaited by the next flush, finish or discard
    this.pending = writing;
    [this.out, this.spare] = [this.spare, this.out];
    this.used = 0;
  }

  /**
   * Writes one record, `width` letters a line. Synchronous (returns nothing) when it fits in the
   * output buffer, which is the common case; otherwise returns the promise of the flushing write.
   */
  writeRecord(title: string, src: Buffer, width = 60): void | Promise<void> {
    const n = src.length;
    const lines = Math.ceil(n / width);
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
    if (this.used + title.length * 3 + 2 + n + lines <= this.out.length) {
      this.used = this.put(title, src, width, this.used);
      return undefined;
    }
    return this.writeLarge(title, src, width);
  }

  private put(title: string, src: Buffer, width: number, at: number): number {
    const out = this.out;
    let o = at;
    out[o++] = GT;
    o += out.write(title, o, 'utf8');
    out[o++] = LF;
    const n = src.length;
    for (let i = 0; i < n; i += width) {
      const e = i + width < n ? i + width : n;
      o += src.copy(out, o, i, e);
      out[o++] = LF;
    }
    return o;
  }

  private async writeLarge(title: string, source: Buffer, width: number): Promise<void> {
    const header = Buffer.from(`>${title}\n`, 'utf8');
    if (this.used + header.length > this.out.length) await this.flush();
    if (header.length > this.out.length) {
      await this.flush();
      await this.pending;
      this.pending = undefined;
      const at = this.written;
      this.written += header.length;
      await this.writeAt(header, at);
    } else {
      this.used += header.copy(this.out, this.used);
    }
    let out = this.out;
    const n = source.length;
    let o = this.used;
    for (let i = 0; i < n; i += width) {
      const e = i + width < n ? i + width : n;
      if (o + (e - i) + 1 > out.length) {
        this.used = o;
        await this.flush();
        out = this.out; // the other buffer now
        o = 0;
      }
      o += source.copy(out, o, i, e);
      out[o++] = LF;
    }
    this.used = o;
  }

  private async writeAt(buf: Buffer, position: number): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, position + off);
      off += bytesWritten;
    }
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.pending;
    this.pending = undefined;
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.file);
  }

  async discard(): Promise<void> {
    await this.pending?.catch(() => {});
    await this.fh.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
  }
}
