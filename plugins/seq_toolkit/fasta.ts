// Streaming FASTA: one record at a time, read with positional reads into a fixed chunk.
// Accepts any line width, LF or CRLF, blank lines, '>' headers with descriptions.
// Two ways to consume a record (call at most one):
//   - sequence(): the record's letters as one compact Buffer (whitespace removed, validated),
//     reused for the next record. A record that spans chunks is located first (a scan for
//     '>' at a line start), then read straight into that buffer and compacted in place, so a
//     100 MB record costs ~100 MB plus the chunk.
//   - counts(): a 256-entry histogram of the record's letters, streamed chunk by chunk,
//     without ever holding the record (length, composition and GC content need only this).
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { addHistogram, allLetters, stripLineBreaks } from './bytes.js';
import { CLASS, FORBIDDEN, LETTER, WHITESPACE, SeqToolkitError, invalidLetterError, type AlphabetName } from './alphabet.js';

const GT = 0x3e; // '>'
const LF = 0x0a;

export interface FastaRecord {
  /** 1-based position of the record in the file. */
  index: number;
  /** The header up to the first whitespace, as Biopython's record id. */
  id: string;
  /** The whole header line without '>' (trailing whitespace removed). */
  title: string;
  /** "record 3 (chr2)": how errors name this record. */
  where: string;
  /** The record's letters (no whitespace), checked against the alphabet; valid until the next record. */
  sequence(alphabet: AlphabetName, operation: string): Promise<Buffer>;
  /** Counts of each byte value among the record's letters, checked against the alphabet. */
  counts(alphabet: AlphabetName, operation: string): Promise<Float64Array>;
}

export interface FastaReaderOptions {
  signal?: AbortSignal;
  /** Called as the reader advances: bytes of the file consumed so far, and the file size. */
  onProgress?: (bytesDone: number, totalBytes: number) => void;
  /** Size of the read chunk (default 8 MiB). */
  chunkSize?: number;
  /** How errors name the file (default "fasta_file"). */
  label?: string;
}

export class FastaReader {
  private chunk: Buffer;
  private chunkStart = 0;
  private chunkLen = 0;
  private record: Buffer = Buffer.alloc(0);

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

  /** Makes the chunk hold file offset `at` (and as much after it as fits); false at end of file. */
  private async load(at: number): Promise<boolean> {
    if (at >= this.size) return false;
    if (at >= this.chunkStart && at < this.chunkStart + this.chunkLen) return true;
    this.opts.signal?.throwIfAborted();
    this.chunkStart = at;
    this.chunkLen = await this.readFully(this.chunk, 0, Math.min(this.chunk.length, this.size - at), at);
    this.opts.onProgress?.(at, this.size);
    return this.chunkLen > 0;
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

  async *records(): AsyncGenerator<FastaRecord> {
    // Leading blank lines are allowed; anything else before the first '>' is not FASTA.
    let at = 0;
    let line = 1;
    if (await this.load(0)) {
      // A UTF-8 byte order mark, as some editors write, is not part of the text.
      if (this.chunkLen >= 3 && this.chunk[0] === 0xef && this.chunk[1] === 0xbb && this.chunk[2] === 0xbf) at = 3;
    }
    for (;;) {
      if (!(await this.load(at))) throw new SeqToolkitError(`${this.label}: empty file, no FASTA record`);
      const b = this.chunk[at - this.chunkStart];
      if (b === GT) break;
      if (b === LF) line++;
      else if (b !== 0x0d && b !== 0x20 && b !== 0x09) {
        throw new SeqToolkitError(`${this.label}: not a FASTA file: line ${line} does not start with '>'`);
      }
      at++;
    }
    let index = 0;
    while (at < this.size) {
      index++;
      const { title, seqStart } = await this.readHeader(at, index);
      // Biopython: title.split(None, 1)[0], the first whitespace-separated word.
      const id = /\S+/.exec(title)?.[0] ?? '';
      if (id === '') throw new SeqToolkitError(`${this.label}: record ${index}: empty header (a '>' without an id)`);
      const where = `record ${index} (${id})`;
      let consumed = false;
      const self = this;
      let end = -1;
      const once = () => {
        if (consumed) throw new Error('a FASTA record can be consumed only once');
        consumed = true;
      };
      yield {
        index, id, title, where,
        async sequence(alphabet, operation) {
          once();
          end = await self.findEnd(seqStart);
          return self.readSequence(seqStart, end, alphabet, operation, where);
        },
        async counts(alphabet, operation) {
          once();
          const r = await self.countRecord(seqStart, alphabet, operation, where);
          end = r.end;
          return r.counts;
        },
      };
      at = end >= 0 ? end : await this.findEnd(seqStart);
    }
    this.opts.onProgress?.(this.size, this.size);
  }

  private async readHeader(at: number, index: number): Promise<{ title: string; seqStart: number }> {
    await this.load(at);
    let rel = at - this.chunkStart;
    let nl = this.chunk.indexOf(LF, rel);
    if (nl === -1 || nl >= this.chunkLen) {
      if (this.chunkStart + this.chunkLen < this.size && at !== this.chunkStart) {
        // The header straddles the chunk's end: reload from the header's start.
        this.chunkLen = 0;
        await this.load(at);
        rel = 0;
        nl = this.chunk.indexOf(LF, 0);
      }
      if (nl === -1 || nl >= this.chunkLen) {
        if (this.chunkStart + this.chunkLen < this.size) {
          throw new SeqToolkitError(`${this.label}: record ${index}: header line longer than ${this.chunk.length} bytes`);
        }
        nl = this.chunkLen; // the last line, without a newline
      }
    }
    const title = this.chunk.toString('utf8', rel + 1, nl).replace(/\s+$/, '');
    return { title, seqStart: Math.min(this.chunkStart + nl + 1, this.size) };
  }

  /** File offset where the record whose sequence starts at `from` ends: a '>' at a line start, or EOF. */
  private async findEnd(from: number): Promise<number> {
    let at = from;
    while (at < this.size) {
      await this.load(at);
      const rel = at - this.chunkStart;
      const gt = this.chunk.indexOf(GT, rel);
      if (gt !== -1 && gt < this.chunkLen) {
        const abs = this.chunkStart + gt;
        if (abs === from || (await this.byteBefore(abs)) === LF) return abs;
        at = abs + 1;
      } else {
        at = this.chunkStart + this.chunkLen;
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

  private async readSequence(start: number, end: number, alphabet: AlphabetName, operation: string, where: string): Promise<Buffer> {
    const raw = end - start;
    if (this.record.length < raw) {
      this.record = Buffer.alloc(0); // let the old one go before allocating
      this.record = Buffer.allocUnsafeSlow(Math.max(raw, 1 << 16));
    }
    const buf = this.record;
    if (start >= this.chunkStart && end <= this.chunkStart + this.chunkLen) {
      this.chunk.copy(buf, 0, start - this.chunkStart, end - this.chunkStart);
    } else {
      this.opts.signal?.throwIfAborted();
      const got = await this.readFully(buf, 0, raw, start);
      if (got !== raw) throw new SeqToolkitError(`${this.label}: ${where}: the file changed while it was read`);
    }
    this.opts.signal?.throwIfAborted();
    const cls = CLASS[alphabet];
    // Fast path: drop line breaks with native copies, then check two bytes a step; spaces,
    // tabs, stray CRs and bad letters take the byte-by-byte path, which names the position.
    let n = stripLineBreaks(buf, raw);
    if (!allLetters(buf, n, cls)) n = compactInPlace(buf, n, cls, where, alphabet, operation);
    this.opts.onProgress?.(end, this.size);
    return buf.subarray(0, n);
  }

  private async countRecord(start: number, alphabet: AlphabetName, operation: string, where: string): Promise<{ counts: Float64Array; end: number }> {
    const total = new Float64Array(256);
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
      addHistogram(this.chunk, rel, stop, total);
      if (end !== this.size) break;
      at = this.chunkStart + this.chunkLen;
    }
    const cls = CLASS[alphabet];
    for (let b = 0; b < 256; b++) {
      if (cls[b] === WHITESPACE) total[b] = 0; // line breaks and spaces are not letters
      else if (total[b] > 0 && cls[b] === FORBIDDEN) {
        // Rare path: find where the first bad letter is, for the message.
        await this.readSequence(start, end, alphabet, operation, where);
        throw new SeqToolkitError(`${where}: invalid character`); // not reached: readSequence throws
      }
    }
    this.opts.onProgress?.(end, this.size);
    return { counts: total, end };
  }
}

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
  private readonly out = Buffer.allocUnsafeSlow(4 << 20);
  private used = 0;
  private written = 0;

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

  private async flush(): Promise<void> {
    this.signal?.throwIfAborted();
    let off = 0;
    while (off < this.used) {
      const { bytesWritten } = await this.fh.write(this.out, off, this.used - off, this.written);
      off += bytesWritten;
      this.written += bytesWritten;
    }
    this.used = 0;
  }

  /** Writes one record, `width` letters a line. */
  async writeRecord(title: string, src: Buffer, width = 60): Promise<void> {
    const header = Buffer.from(`>${title}\n`, 'utf8');
    if (this.used + header.length > this.out.length) await this.flush();
    if (header.length > this.out.length) {
      await this.fh.write(header, 0, header.length, this.written);
      this.written += header.length;
    } else {
      this.used += header.copy(this.out, this.used);
    }
    const out = this.out;
    const n = src.length;
    let o = this.used;
    for (let i = 0; i < n; i += width) {
      const e = i + width < n ? i + width : n;
      if (o + (e - i) + 1 > out.length) {
        this.used = o;
        await this.flush();
        o = 0;
      }
      o += src.copy(out, o, i, e);
      out[o++] = LF;
    }
    this.used = o;
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.file);
  }

  async discard(): Promise<void> {
    await this.fh.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
  }
}
