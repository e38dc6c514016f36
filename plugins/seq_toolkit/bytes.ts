// Word-at-a-time byte kernels for large sequences: JS loops cost ~1-2 ns a byte, so the hot
// paths read two bytes per step through 65536-entry pair tables (built lazily, on first use),
// and leave moving memory to native copies (indexOf, copyWithin, copy, reverse).
const LF = 0x0a;
const CR = 0x0d;

const pairValid = new WeakMap<Uint8Array, Uint8Array>();
const pairMap = new WeakMap<Uint8Array, Uint16Array>();
const pairMapSwapped = new WeakMap<Uint8Array, Uint16Array>();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u16(buf: Uint8Array, from: number, to: number): Uint16Array {
  return new Uint16Array(buf.buffer, buf.byteOffset + from, (to - from) >> 1);
}

/** For a class table (1 = letter): pair -> 1 when both bytes are letters. */
function validPairs(cls: Uint8Array): Uint8Array {
  let t = pairValid.get(cls);
  if (!t) {
    t = new Uint8Array(65536);
    for (let i = 0; i < 65536; i++) t[i] = cls[i & 0xff] === 1 && cls[i >> 8] === 1 ? 1 : 0;
    pairValid.set(cls, t);
  }
  return t;
}

/** pair -> both bytes mapped through `map`, in place (swapped: also exchanged, for reversing). */
function mappedPairs(map: Uint8Array, swapped: boolean): Uint16Array {
  const cache = swapped ? pairMapSwapped : pairMap;
  let t = cache.get(map);
  if (!t) {
    t = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) {
      // The pair as a little- or big-endian word: first byte in memory is the low byte on LE.
      const first = LITTLE_ENDIAN ? i & 0xff : i >> 8;
      const second = LITTLE_ENDIAN ? i >> 8 : i & 0xff;
      const [a, b] = swapped ? [map[second], map[first]] : [map[first], map[second]];
      t[i] = LITTLE_ENDIAN ? a | (b << 8) : (a << 8) | b;
    }
    cache.set(map, t);
  }
  return t;
}

/** Whether every byte of buf[0..n) has class 1 in `cls`. */
export function allLetters(buf: Uint8Array, n: number, cls: Uint8Array): boolean {
  if (n < 4096) {
    for (let i = 0; i < n; i++) if (cls[buf[i]] !== 1) return false;
    return true;
  }
  let start = 0;
  if ((buf.byteOffset & 1) !== 0 && n > 0) {
    if (cls[buf[0]] !== 1) return false;
    start = 1;
  }
  const pairs = (n - start) >> 1;
  const v = validPairs(cls);
  const w = u16(buf, start, start + pairs * 2);
  let ok = 1;
  for (let i = 0; i < pairs; i++) ok &= v[w[i]];
  if (ok === 0) return false;
  const tail = start + pairs * 2;
  return tail === n || cls[buf[tail]] === 1;
}

/** Adds the byte histogram of buf[from..to) into counts (Float64Array(256)). */
export function addHistogram(buf: Uint8Array, from: number, to: number, counts: Float64Array): void {
  if (to - from < 4096) {
    for (let i = from; i < to; i++) counts[buf[i]]++;
    return;
  }
  if (((buf.byteOffset + from) & 1) !== 0) counts[buf[from++]]++;
  if (((to - from) & 1) !== 0) counts[buf[--to]]++;
  const w = u16(buf, from, to);
  const h = new Uint32Array(65536);
  // Chunks stay far below 2^32 pairs, so the 32-bit counters cannot overflow.
  for (let i = 0; i < w.length; i++) h[w[i]]++;
  for (let i = 0; i < 65536; i++) {
    const c = h[i];
    if (c !== 0) {
      counts[i & 0xff] += c;
      counts[i >> 8] += c;
    }
  }
}

/**
 * Adds the histogram of buf[from..to) into counts; false if a byte with ok[b] === 0 is among them
 * (`forbidden` lists those bytes, to check a large range's histogram instead of each byte).
 */
export function countLetters(buf: Uint8Array, from: number, to: number, counts: Float64Array, ok: Uint8Array, forbidden: Uint8Array): boolean {
  if (to - from < 4096) {
    let good = 1;
    for (let i = from; i < to; i++) {
      const b = buf[i];
      counts[b]++;
      good &= ok[b];
    }
    return good === 1;
  }
  addHistogram(buf, from, to, counts);
  for (let i = 0; i < forbidden.length; i++) if (counts[forbidden[i]] > 0) return false;
  return true;
}

/**
 * Removes line breaks (LF, and a CR before it) from buf[0..len) in place, line by line with
 * native copies; returns the new length. Other whitespace is left for the careful path.
 */
export function stripLineBreaks(buf: Buffer, len: number): number {
  let o = 0;
  let i = 0;
  while (i < len) {
    let nl = buf.indexOf(LF, i);
    if (nl === -1 || nl > len) nl = len;
    let e = nl;
    if (e > i && buf[e - 1] === CR) e--;
    if (o !== i && e > i) buf.copyWithin(o, i, e);
    o += e - i;
    i = nl + 1;
  }
  return o;
}

/** Maps buf[0..n) through `map` in place. */
export function mapInPlace(buf: Uint8Array, n: number, map: Uint8Array): void {
  if (n < 4096) {
    for (let i = 0; i < n; i++) buf[i] = map[buf[i]];
    return;
  }
  let start = 0;
  if ((buf.byteOffset & 1) !== 0) {
    buf[0] = map[buf[0]];
    start = 1;
  }
  const pairs = (n - start) >> 1;
  const t = mappedPairs(map, false);
  const w = u16(buf, start, start + pairs * 2);
  for (let i = 0; i < pairs; i++) w[i] = t[w[i]];
  const tail = start + pairs * 2;
  if (tail < n) buf[tail] = map[buf[tail]];
}

/** Reverses buf[0..n) and maps it through `map`, in place (the reverse complement when map is a complement). */
export function reverseMapInPlace(buf: Buffer, n: number, map: Uint8Array): void {
  if (n < 4096 || (buf.byteOffset & 1) !== 0) {
    for (let i = 0, j = n - 1; i <= j; i++, j--) {
      const a = buf[i];
      buf[i] = map[buf[j]];
      buf[j] = map[a];
    }
    return;
  }
  // Pairs from both ends; an odd length leaves the last byte, which goes to the front.
  const even = n & ~1;
  const last = buf[n - 1];
  const t = mappedPairs(map, true);
  const w = u16(buf, 0, even);
  for (let i = 0, j = w.length - 1; i < j; i++, j--) {
    const a = w[i];
    w[i] = t[w[j]];
    w[j] = t[a];
  }
  if ((w.length & 1) === 1) {
    const mid = w.length >> 1;
    w[mid] = t[w[mid]];
  }
  if (even !== n) {
    buf.copyWithin(1, 0, even);
    buf[0] = map[last];
  }
}
