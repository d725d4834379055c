/**
 * The event bodies of the ftrace importer (core/import/ftrace.ts): one parser per Linux
 * tracepoint the lab imports, each taking the TP_printk text after `<event>: ` and returning the
 * trace events it carries, or an error message naming the expected format.
 *
 * Formats (reference ../../../shared/reference/trace-formats-and-guest-dma.md part A1):
 * - `iommu:*`, include/trace/events/iommu.h: map / unmap in the old form (no end) and the range form
 *   (`- 0x%016llx`, the exclusive end iova + size), io_page_fault, attach/detach_device_to/from_domain,
 *   add/remove_device_to/from_group;
 * - `dma:*`, include/trace/events/dma.h: `<device> dir=<SYM> dma_addr=%llx size=%zu …`, `dir=`
 *   optional (older 6.x alloc/free lines omit it);
 * - `intel_iommu:qi_submit`, drivers/iommu/intel/trace.h: `%s %s: 0x%llx 0x%llx 0x%llx 0x%llx`
 *   (descriptor type symbol, IOMMU name, four raw qwords).
 *
 * Every parser is pure, never throws, and runs at most one precompiled regex per line.
 */
import { u64, u64Of } from '../engine/u64.ts';
import type { CodeUnits, TraceEvent } from './types.ts';

/** What a body parser returns: the events, or a message naming what the body should have been. */
export type BodyResult = TraceEvent | string;

/**
 * The line's context the body parsers stamp on their events: the timestamp (ns, or -1 when the
 * line has none in ns) and the task columns, which the reference (A1) names as the way to
 * attribute iommu:map lines (a `qemu-kvm` task is VFIO pinning guest RAM).
 */
export interface LineContext {
  /** Whether the line has a timestamp in (fractions of) seconds; false for counter clocks. */
  hasTime: boolean;
  /** ns since boot (or since the trace's time origin for a wall clock: FtraceImporter.timeOrigin); valid when hasTime. */
  time: number;
  /**
   * The task's comm as printed (may contain spaces and dashes): commText[commStart, commEnd) (read
   * it with commOf). Kept as a range of the line's text so that a line whose event is dropped
   * makes no string, and the scan object (long-lived) is not written a new string per line.
   */
  commText: string;
  commStart: number;
  commEnd: number;
  /** The pid (ftrace) or tid (perf) column. */
  pid: number;
  /** The CPU column. */
  cpu: number;
}

/** `0000:3b:00.0` → requester ID (bus << 8 | dev << 3 | fn), or -1 when not a PCI address. */
export function pciRequesterId(device: string): number {
  // dev_name() of a PCI device: "%04x:%02x:%02x.%d" (drivers/pci/probe.c pci_setup_device).
  if (device.length !== 12 || device.charCodeAt(4) !== 58 || device.charCodeAt(7) !== 58 || device.charCodeAt(10) !== 46) return -1;
  const bus = hexByte(device, 5);
  const dev = hexByte(device, 8);
  const fn = device.charCodeAt(11) - 48;
  if (bus < 0 || dev < 0 || dev > 31 || fn < 0 || fn > 7 || hexByte(device, 0) < 0 || hexByte(device, 2) < 0) return -1;
  return (bus << 8) | (dev << 3) | fn;
}

/** ASCII code → hex digit value, -1 for anything else. */
const HEX_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) t[97 + c] = t[65 + c] = 10 + c;
  return t;
})();

function hexNibble(c: number): number {
  return c < 128 ? HEX_VALUE[c]! : -1;
}

function hexByte(s: string, i: number): number {
  const h = hexNibble(s.charCodeAt(i));
  const l = hexNibble(s.charCodeAt(i + 1));
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

/** 2^64 - 1. */
export const U64_MASK = (1n << 64n) - 1n;

/** The line's comm (LineContext.commText[commStart, commEnd)). */
export function commOf(ctx: LineContext): string {
  return ctx.commText.slice(ctx.commStart, ctx.commEnd);
}

/** The common `data` head: the event's full `system:event` name and the task columns. */
export function head(event: string, ctx: LineContext): Record<string, unknown> {
  return { event, comm: commOf(ctx), pid: ctx.pid, cpu: ctx.cpu };
}

/** Adds `time` when the line has one (TraceEvent.time is optional). */
export function stamp<E extends TraceEvent>(ev: E, ctx: LineContext): E {
  if (ctx.hasTime) ev.time = ctx.time;
  return ev;
}

// ---- iommu:* (include/trace/events/iommu.h) -------------------------------------------------------

// map: current `"IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu"`, older (torvalds
// @74e12c52) without `- 0x…`; the `dev=%s` token of an unmerged 2021 patch is UNVERIFIED in any
// shipped kernel and accepted leniently (reference A1). unmap: `"IOMMU: iova=0x%016llx - 0x%016llx
// size=%zu unmapped_size=%zu"`, older without the end. These two are the bulk of a trace, so they
// are scanned by hand (no regex, no substrings but the optional device).
// io_page_fault (class iommu_error): `"IOMMU:%s %s iova=0x%016llx flags=0x%04x"` (driver, device);
// the driver string may be empty, then `IOMMU:` is followed directly by the space.
const FAULT_RE = /^IOMMU:(\S*) (\S+) iova=0x([0-9a-fA-F]{1,16}) flags=0x([0-9a-fA-F]{1,8})$/;
// add/remove_device_to/from_group (class iommu_group_event): `"IOMMU: groupID=%d device=%s"`.
const GROUP_RE = /^IOMMU: groupID=(-?\d{1,10}) device=(\S+)$/;

/** Expected-format messages, one per event (what an error line should have looked like). */
export const EXPECTED = {
  map: "expected 'IOMMU: [dev=D ]iova=0x… [- 0x… ]paddr=0x… size=N'",
  unmap: "expected 'IOMMU: [dev=D ]iova=0x… [- 0x… ]size=N unmapped_size=N'",
  fault: "expected 'IOMMU:<driver> <device> iova=0x… flags=0x…'",
  device: "expected 'IOMMU: device=<device>'",
  group: "expected 'IOMMU: groupID=N device=<device>'",
  dma: "expected '<device> [dir=BIDIRECTIONAL|TO_DEVICE|FROM_DEVICE|NONE ]dma_addr=<hex> size=N …'",
  dmaSg: "expected '<device> [dir=… ]key=value …'",
  qi: "expected '<type> <iommu>: 0x… 0x… 0x… 0x…'",
} as const;

// The hand scanner's cursor, its limit and last value (one line at a time, no reentrancy). The
// line is text[at, lim) of a larger text (the driver's chunk: Importer.parseRange), so every scan
// stops at `lim`, never at the text's end. The scanners read the text's code units from `C`
// (setCodes): a typed array's elements are read several times faster than a string's charCodeAt.
let cur = 0;
/** The code units of the text being parsed: C[i] === text.charCodeAt(i) (see setCodes). */
let C: CodeUnits = new Uint8Array(0);

/**
 * Sets the code units the scanners of this module read (parseMap, parseUnmap, parseDma, litAt):
 * `codes[i]` must be `text.charCodeAt(i)` for every index of the line they are given.
 */
export function setCodes(codes: CodeUnits): void {
  if (codes === C) return;
  C = codes;
  DV = codes instanceof Uint8Array ? new DataView(codes.buffer, codes.byteOffset, codes.byteLength) : null;
}

/** C's bytes as a DataView when C is a Uint8Array (litAt compares 4 bytes per load), else null. */
let DV: DataView | null = null;

let lim = 0;
/**
 * The scanner's numbers, in a typed array so that storing one is not boxing a heap number (a
 * module variable holding a double above 2^31 is, at every store):
 * - N[0], "num": the last value read when it is below 2^53, else -1 and the value is in `big`.
 *   The u64 bigint is made only when an event keeps the value (addrVal, sizeVal, plainVal): a
 *   BigInt costs a runtime call and an allocation, and the range form's end is only compared;
 * - N[1] and N[2]: the values whose bigints addrBig and sizeBig hold: one-entry caches (bigints
 *   are immutable values: sharing one is not observable). Addresses and sizes repeat from line to
 *   line: an unmap after its map, a dma_map beside its iommu:map, size=4096.
 */
const N = new Float64Array(3);
let big = 0n;
let addrBig = 0n;
let sizeBig = 0n;

/** The last value read (an address), as u64. */
function addrVal(): bigint {
  if (N[0]! < 0) return big;
  if (N[0]! !== N[1]) {
    N[1] = N[0]!;
    addrBig = u64Of(N[0]!);
  }
  return addrBig;
}

/** The last value read (a size), as u64. */
function sizeVal(): bigint {
  if (N[0]! < 0) return big;
  if (N[0]! !== N[2]) {
    N[2] = N[0]!;
    sizeBig = u64Of(N[0]!);
  }
  return sizeBig;
}

/** The last value read, as u64 (no cache). */
function plainVal(): bigint {
  return N[0]! < 0 ? big : u64Of(N[0]!);
}

/**
 * Hex digit pairs: HEX2[a | b << 8] (two ASCII codes as DataView.getUint16(i, true) reads them) is
 * the byte they spell, (hex(a) << 4) | hex(b), or -1 when either is not a hex digit. 128 KiB.
 */
const HEX2 = (() => {
  const t = new Int16Array(65536).fill(-1);
  for (let a = 0; a < 128; a++) {
    const ha = HEX_VALUE[a]!;
    if (ha < 0) continue;
    for (let b = 0; b < 128; b++) {
      const hb = HEX_VALUE[b]!;
      if (hb >= 0) t[a | (b << 8)] = (ha << 4) | hb;
    }
  }
  return t;
})();

/** Four ASCII zeros as one little-endian 32-bit load. */
const ZEROS4 = 0x30303030;

/** Reads 1…16 hex digits at `cur` (before `lim`) into `num`/`big`; false when there are none or more than 16. */
function hexAt(s: string): boolean {
  const n = lim;
  let i = cur;
  let v = 0;
  const dv = DV;
  if (dv !== null && i + 16 <= n) {
    // The u64 fields' %016llx: exactly 16 digits (and no 17th), as two 32-bit halves through HEX2.
    const a = HEX2[dv.getUint16(i, true)]!;
    const b = HEX2[dv.getUint16(i + 2, true)]!;
    const c = HEX2[dv.getUint16(i + 4, true)]!;
    const d = HEX2[dv.getUint16(i + 6, true)]!;
    const e = HEX2[dv.getUint16(i + 8, true)]!;
    const f = HEX2[dv.getUint16(i + 10, true)]!;
    const g = HEX2[dv.getUint16(i + 12, true)]!;
    const h = HEX2[dv.getUint16(i + 14, true)]!;
    if ((a | b | c | d | e | f | g | h) >= 0 && (i + 16 === n || hexNibble(C[i + 16]!) < 0)) {
      const hi = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
      const lo = ((e << 24) | (f << 16) | (g << 8) | h) >>> 0;
      if (hi < 0x200000) N[0] = hi * 4294967296 + lo;
      else {
        big = u64(hi, lo);
        N[0] = -1;
      }
      cur = i + 16;
      return true;
    }
  }
  if (dv !== null) {
    // Bytes (C is a Uint8Array): leading zeros (u64 fields print %016llx) four at a time, then the
    // digits two at a time through HEX2. v stays exact while the final value is below 2^53 (every
    // earlier value is smaller; past 2^53 it only grows, and the value is then re-read as a bigint).
    while (i + 4 <= n && dv.getUint32(i, true) === ZEROS4) i += 4;
    while (i < n && C[i] === 48) i++;
    while (i + 2 <= n) {
      const p = HEX2[dv.getUint16(i, true)]!;
      if (p < 0) break;
      v = v * 256 + p;
      i += 2;
    }
    // An odd digit count (or a pair whose second unit is not a digit) leaves one digit.
    if (i < n) {
      const d = hexNibble(C[i]!);
      if (d >= 0) {
        v = v * 16 + d;
        i++;
      }
    }
  } else {
    // 16-bit code units: a unit at a time; up to 7 digits in int32 arithmetic (28 bits), the rest
    // in doubles, exact while the value stays below 2^53.
    while (i < n && C[i] === 48) i++;
    const e7 = Math.min(n, i + 7);
    while (i < e7) {
      const d = hexNibble(C[i]!);
      if (d < 0) break;
      v = (v << 4) | d;
      i++;
    }
    if (i === e7) {
      while (i < n) {
        const d = hexNibble(C[i]!);
        if (d < 0) break;
        v = v * 16 + d;
        i++;
      }
    }
  }
  const len = i - cur;
  if (len === 0 || len > 16) return false;
  if (v <= Number.MAX_SAFE_INTEGER) N[0] = v;
  else {
    big = BigInt('0x' + s.slice(cur, i));
    N[0] = -1;
  }
  cur = i;
  return true;
}

/** Reads 1…20 decimal digits at `cur` (before `lim`) into `num`/`big` (a size_t); false when none, or above 2^64 - 1. */
function decAt(s: string): boolean {
  const n = lim;
  let i = cur;
  let v = 0;
  while (i < n) {
    const c = C[i]!;
    if (c < 48 || c > 57) break;
    v = v * 10 + c - 48;
    i++;
  }
  const len = i - cur;
  if (len === 0 || len > 20) return false;
  if (v <= Number.MAX_SAFE_INTEGER) N[0] = v;
  else {
    big = BigInt(s.slice(cur, i));
    N[0] = -1;
    if (big > U64_MASK) return false;
  }
  cur = i;
  return true;
}

/** An ASCII literal as code units (litAt compares typed arrays: no builtin call per literal). */
export interface Lit {
  readonly length: number;
  readonly bytes: Uint8Array;
  /**
   * For a literal of 4 bytes or more, its little-endian 32-bit words: `first` at offset 0, `last` at
   * length - 4 (overlapping the one before), and `words` at the offsets `at` between (4, 8… below
   * length - 4): compared a load at a time, the first and last without an array access.
   */
  readonly first: number;
  readonly last: number;
  readonly words: Uint32Array;
  readonly at: Uint8Array;
}

/** `text` (ASCII) as a Lit. */
export function lit8(text: string): Lit {
  const m = text.length;
  const bytes = new Uint8Array(m);
  for (let i = 0; i < m; i++) bytes[i] = text.charCodeAt(i);
  const at: number[] = [];
  for (let o = 4; o < m - 4; o += 4) at.push(o);
  const view = new DataView(bytes.buffer);
  return {
    length: m,
    bytes,
    first: m >= 4 ? view.getUint32(0, true) : 0,
    last: m >= 4 ? view.getUint32(m - 4, true) : 0,
    words: Uint32Array.from(at, (o) => view.getUint32(o, true)),
    at: Uint8Array.from(at),
  };
}

/**
 * Whether the literal `l` is at `i` of the text in C (setCodes), wholly before `end`: 4 bytes per
 * load through a DataView when C holds bytes, else a unit at a time.
 */
export function litAt(i: number, end: number, l: Lit): boolean {
  const m = l.length;
  if (i + m > end) return false;
  const dv = DV;
  if (dv !== null && m >= 4) {
    if (dv.getUint32(i, true) !== l.first || dv.getUint32(i + m - 4, true) !== l.last) return false;
    const w = l.words;
    if (w.length === 0) return true;
    const at = l.at;
    for (let k = 0; k < w.length; k++) if (dv.getUint32(i + at[k]!, true) !== w[k]) return false;
    return true;
  }
  const b = l.bytes;
  for (let k = 0; k < m; k++) if (C[i + k] !== b[k]) return false;
  return true;
}

/** Consumes `l` at `cur`. */
function lit(l: Lit): boolean {
  if (!litAt(cur, lim, l)) return false;
  cur += l.length;
  return true;
}

const L_IOMMU = lit8('IOMMU: ');
const L_DEV = lit8('dev=');
const L_IOVA = lit8('iova=0x');
const L_TO = lit8(' - 0x');
const L_PADDR = lit8(' paddr=0x');
const L_SIZE = lit8(' size=');
const L_UNMAPPED = lit8(' unmapped_size=');
const L_DMA_ADDR = lit8('dma_addr');
const L_SIZE_KEY = lit8('size');
const L_PHYS_ADDR = lit8('phys_addr');
const L_DIR = lit8('dir');
const L_ATTRS = lit8('attrs');

/** What iommuHead read: the dev= token, the iova, and the range form's end (numbers -1 beyond 2^53). */
interface IommuHead {
  device: string | undefined;
  /** The iova below 2^53, else -1 and the value is in iovaBig. */
  iovaNum: number;
  iovaBig: bigint;
  hasEnd: boolean;
  endNum: number;
  /** The end when endNum is -1. */
  endBig: bigint;
}

/** `IOMMU: [dev=D ]iova=0x… [- 0x… ]` at `at` (before `lim`): sets cur after it and `out`. */
function iommuHead(s: string, at: number, out: IommuHead): boolean {
  cur = at;
  if (!lit(L_IOMMU)) return false;
  out.device = undefined;
  out.hasEnd = false;
  if (litAt(cur, lim, L_DEV)) {
    let sp = cur + 4;
    while (sp < lim && C[sp]! !== 32) sp++;
    if (sp === lim || sp === cur + 4) return false;
    out.device = s.slice(cur + 4, sp);
    cur = sp + 1;
  }
  if (!lit(L_IOVA) || !hexAt(s)) return false;
  out.iovaNum = N[0]!;
  if (N[0]! < 0) out.iovaBig = big;
  if (litAt(cur, lim, L_TO)) {
    cur += 5;
    if (!hexAt(s)) return false;
    out.hasEnd = true;
    out.endNum = N[0]!;
    if (N[0]! < 0) out.endBig = big;
  }
  return true;
}

/**
 * The iova iommuHead read, as u64, through addrVal's one-entry cache. The cache is written out
 * here: one helper shared by both measured ~100 instructions per line more under valgrind.
 */
function iovaOf(h: IommuHead): bigint {
  if (h.iovaNum < 0) return h.iovaBig;
  if (h.iovaNum !== N[1]) {
    N[1] = h.iovaNum;
    addrBig = u64Of(h.iovaNum);
  }
  return addrBig;
}

/** The range form's printed end as u64. */
function endOf(h: IommuHead): bigint {
  return h.endNum >= 0 ? u64Of(h.endNum) : h.endBig;
}

/** Whether the range form's printed end disagrees with iova + size (u64), numbers first. */
function endDiffers(h: IommuHead, size: bigint, sizeNum: number): boolean {
  if (!h.hasEnd) return false;
  if (h.iovaNum >= 0 && sizeNum >= 0 && h.endNum >= 0 && h.iovaNum + sizeNum <= Number.MAX_SAFE_INTEGER) return h.iovaNum + sizeNum !== h.endNum;
  return endOf(h) !== ((iovaOf(h) + size) & U64_MASK);
}

const head2: IommuHead = { device: undefined, iovaNum: -1, iovaBig: 0n, hasEnd: false, endNum: -1, endBig: 0n };

/**
 * iommu:map → trace-map (iova, size, phys; data.device from the UNVERIFIED `dev=` token). The body
 * is line[at, end) (`end` defaults to the line's length: the line may be a larger text, e.g. the
 * driver's chunk). The range form's end (iova + size, u64) is kept in data.end only when the line
 * disagrees with it.
 */
export function parseMap(line: string, at: number, event: string, ctx: LineContext, end: number = line.length): BodyResult {
  lim = end;
  if (!iommuHead(line, at, head2)) return `${event}: ${EXPECTED.map}`;
  const iova = iovaOf(head2);
  if (!lit(L_PADDR) || !hexAt(line)) return `${event}: ${EXPECTED.map}`;
  const phys = plainVal();
  if (!lit(L_SIZE) || !decAt(line) || cur !== end) return `${event}: ${EXPECTED.map}`;
  const size = sizeVal();
  const data = head(event, ctx);
  if (head2.device !== undefined) data.device = head2.device;
  if (endDiffers(head2, size, N[0]!)) data.end = '0x' + endOf(head2).toString(16);
  return ctx.hasTime ? { kind: 'trace-map', time: ctx.time, iova, size, phys, data } : { kind: 'trace-map', iova, size, phys, data };
}

/** iommu:unmap → trace-unmap (iova, size asked, unmapped_size as `unmapped`); body line[at, end) as parseMap. */
export function parseUnmap(line: string, at: number, event: string, ctx: LineContext, end: number = line.length): BodyResult {
  lim = end;
  if (!iommuHead(line, at, head2)) return `${event}: ${EXPECTED.unmap}`;
  const iova = iovaOf(head2);
  if (!lit(L_SIZE) || !decAt(line)) return `${event}: ${EXPECTED.unmap}`;
  const size = sizeVal();
  const sizeNum = N[0]!;
  if (!lit(L_UNMAPPED) || !decAt(line) || cur !== end) return `${event}: ${EXPECTED.unmap}`;
  const unmapped = sizeVal();
  const data = head(event, ctx);
  if (head2.device !== undefined) data.device = head2.device;
  if (endDiffers(head2, size, sizeNum)) data.end = '0x' + endOf(head2).toString(16);
  return ctx.hasTime ? { kind: 'trace-unmap', time: ctx.time, iova, size, unmapped, data } : { kind: 'trace-unmap', iova, size, unmapped, data };
}

/**
 * iommu:io_page_fault → trace-fault. Access from flags bit 0 (include/linux/iommu.h
 * IOMMU_FAULT_READ 0x0, IOMMU_FAULT_WRITE 0x1): read → 1, write → 2. The event fires only from
 * report_iommu_fault() (AMD, ARM SMMU); VT-d faults appear only as DMAR log lines (reference A1).
 * endpoint is the requester ID when the device is a PCI address.
 */
export function parseFault(body: string, event: string, ctx: LineContext): BodyResult {
  const m = FAULT_RE.exec(body);
  if (m === null) return `${event}: ${EXPECTED.fault}`;
  const flags = parseInt(m[4]!, 16);
  const device = m[2]!;
  const data = head(event, ctx);
  data.driver = m[1];
  data.device = device;
  data.flags = flags;
  const ev: TraceEvent = { kind: 'trace-fault', address: BigInt('0x' + m[3]), access: (flags & 1) === 0 ? 1 : 2, data };
  const rid = pciRequesterId(device);
  if (rid >= 0) ev.endpoint = rid;
  return stamp(ev, ctx);
}

/** iommu:attach_device_to_domain (op 0) / detach_device_from_domain (op 1, older kernels) → trace-attach. */
export function parseAttach(body: string, event: string, ctx: LineContext, op: 0 | 1): BodyResult {
  // `"IOMMU: device=%s"` (class iommu_device_event); no domain is printed.
  if (!body.startsWith('IOMMU: device=') || body.length === 14 || body.indexOf(' ', 14) >= 0) return `${event}: ${EXPECTED.device}`;
  const device = body.slice(14);
  const data = head(event, ctx);
  data.device = device;
  const ev: TraceEvent = { kind: 'trace-attach', op, data };
  const rid = pciRequesterId(device);
  if (rid >= 0) ev.endpoint = rid;
  return stamp(ev, ctx);
}

/**
 * iommu:add_device_to_group (op 0) / remove_device_from_group (op 1) → trace-group. groupID is
 * printed with %d: a negative value is stored as its u32 (x >>> 0), the printed text kept in
 * data.groupID.
 */
export function parseGroup(body: string, event: string, ctx: LineContext, op: 0 | 1): BodyResult {
  const m = GROUP_RE.exec(body);
  if (m === null) return `${event}: ${EXPECTED.group}`;
  const gid = Number(m[1]);
  if (gid < -2147483648 || gid > 4294967295) return `${event}: groupID=${m[1]} is not a 32-bit ID`;
  const data = head(event, ctx);
  data.device = m[2];
  if (gid < 0) data.groupID = m[1];
  return stamp({ kind: 'trace-group', op, group: gid >>> 0, data }, ctx);
}

// ---- dma:* (include/trace/events/dma.h) -------------------------------------------------------------

/** enum dma_data_direction as decode_dma_data_direction() prints it (include/linux/dma-direction.h), by symbol. */
const DMA_DIRS = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'].map(lit8);

/** The direction whose symbol is exactly [a, b) of the text in C, or -1 (compared in place: no substring). */
function dmaDirAt(a: number, b: number): number {
  for (let d = 0; d < DMA_DIRS.length; d++) if (DMA_DIRS[d]!.length === b - a && litAt(a, b, DMA_DIRS[d]!)) return d;
  return -1;
}

function isHex(s: string): boolean {
  if (s.length === 0 || s.length > 16) return false;
  for (let i = 0; i < s.length; i++) if (hexNibble(s.charCodeAt(i)) < 0) return false;
  return true;
}

/**
 * dma:* → trace-dma. `single` is true for the events that print one `dma_addr=%llx size=%zu`
 * (dma_map_phys, dma_unmap_phys, the older dma_map_page / dma_map_resource and their unmaps,
 * dma_alloc*, dma_free*, dma_sync_single_*): those two keys are then required. The scatter-gather
 * events (dma_map_sg, dma_unmap_sg, dma_sync_sg_*, dma_alloc_sgt, dma_free_sgt, *_err) print arrays
 * (`__print_array`: `{0x…,0x…}`), kept as printed in data; addr/size/phys are set from them only
 * when they hold exactly one entry. `dma_addr` and `phys_addr` are printed %llx without `0x`.
 * Other keys (attrs, flags, virt_addr, nents, ents, err…) are kept in data as printed; an empty
 * `attrs=` is dropped.
 */
export function parseDma(body: string, event: string, ctx: LineContext, single: boolean, at: number = 0, end: number = body.length): BodyResult {
  // The body is body[at, end) (a line of the driver's chunk, or a whole string). Tokens are scanned
  // in place (no split): the common keys (dir, dma_addr, size, phys_addr, attrs) are read straight
  // from the text by the hand scanner; any other key=value is sliced.
  const n = end;
  lim = end;
  let sp = at;
  while (sp < n && C[sp]! !== 32) sp++;
  let eq0 = at;
  while (eq0 < sp && C[eq0]! !== 61 /* = */) eq0++;
  if (sp === at || eq0 < sp) return `${event}: ${single ? EXPECTED.dma : EXPECTED.dmaSg}`;
  if (single) {
    const ev = dmaCommon(body, event, ctx, at, sp, n);
    if (ev !== null) return ev;
  }
  const data = head(event, ctx);
  data.device = body.slice(at, sp);
  const ev: TraceEvent = { kind: 'trace-dma', data };
  let addrs: string | undefined;
  let sizes: string | undefined;
  let physs: string | undefined;
  // Each token is [i, e) up to the next space; its key runs to its first '='. The common keys'
  // values are read by the hand scanner straight after the '=' (one pass over the token).
  let i = sp + 1;
  while (i <= n) {
    let eq = i;
    let c = 0;
    while (eq < n && (c = C[eq]!) !== 61 /* = */ && c !== 32) eq++;
    if (eq === i && (eq === n || c === 32)) {
      i = eq + 1; // an empty token (two spaces, or the end)
      continue;
    }
    if (eq === n || c === 32 || eq === i) {
      const e = spaceFrom(eq, n);
      const t = body.slice(i, e);
      if (t === '[TRUNCATED]') data.truncated = true;
      else return `${event}: unexpected '${t}': ${single ? EXPECTED.dma : EXPECTED.dmaSg}`;
      i = e + 1;
      continue;
    }
    const k0 = C[i]!;
    const klen = eq - i;
    cur = eq + 1;
    if (k0 === 100 /* d */ && klen === 8 && litAt(i, eq, L_DMA_ADDR)) {
      if (!hexAt(body) || !tokenEnds(n)) return `${event}: dma_addr=${body.slice(eq + 1, spaceFrom(eq, n))} is not hex: ${EXPECTED.dma}`;
      ev.addr = addrVal();
    } else if (k0 === 115 /* s */ && klen === 4 && litAt(i, eq, L_SIZE_KEY)) {
      if (!decAt(body) || !tokenEnds(n)) return `${event}: size=${body.slice(eq + 1, spaceFrom(eq, n))} is not a decimal size: ${EXPECTED.dma}`;
      ev.size = sizeVal();
    } else if (k0 === 112 /* p */ && klen === 9 && litAt(i, eq, L_PHYS_ADDR)) {
      if (!hexAt(body) || !tokenEnds(n)) return `${event}: phys_addr=${body.slice(eq + 1, spaceFrom(eq, n))} is not hex: ${EXPECTED.dma}`;
      ev.phys = plainVal();
    } else {
      const e = spaceFrom(eq, n);
      cur = e;
      if (k0 === 100 /* d */ && klen === 3 && litAt(i, eq, L_DIR)) {
        const d = dmaDirAt(eq + 1, e);
        if (d < 0) data.dir = body.slice(eq + 1, e); // __print_symbolic prints an unknown value in hex
        else ev.dir = d;
      } else if (k0 === 97 /* a */ && klen === 5 && litAt(i, eq, L_ATTRS)) {
        if (e > eq + 1) data.attrs = body.slice(eq + 1, e);
      } else {
        const key = body.slice(i, eq);
        const v = body.slice(eq + 1, e);
        switch (key) {
          case 'dma_addrs': addrs = v; data.dma_addrs = v; break;
          case 'sizes': sizes = v; data.sizes = v; break;
          case 'phys_addrs': physs = v; data.phys_addrs = v; break;
          default: data[key] = v;
        }
      }
    }
    i = cur + 1;
  }
  if (single && (ev.addr === undefined || ev.size === undefined)) return `${event}: ${EXPECTED.dma}`;
  if (!single) {
    const a = oneEntry(addrs);
    const s = oneEntry(sizes);
    const p = oneEntry(physs);
    if (a !== null && ev.addr === undefined) ev.addr = a;
    if (s !== null && ev.size === undefined) ev.size = s;
    if (p !== null && ev.phys === undefined) ev.phys = p;
  }
  return stamp(ev, ctx);
}

const L_SP_DIR = lit8(' dir=');
const L_SP_DMA_ADDR = lit8(' dma_addr=');
const L_SP_SIZE = lit8(' size=');
const L_SP_PHYS_ADDR = lit8(' phys_addr=');
const L_SP_ATTRS = lit8(' attrs=');

/**
 * parseDma's fast path for the single-address events in today's layout, the bulk of a dma trace:
 * `<device> dir=<SYM> dma_addr=<hex> size=<dec>[ phys_addr=<hex>] attrs=<token>` (dma_map_phys,
 * dma_unmap_phys), read in one forward pass with the keys as literals. The device is
 * body[at, sp). Returns the event parseDma's general loop would build (the same fields, in the
 * same order), or null for any other body, which the general loop then reads.
 */
function dmaCommon(body: string, event: string, ctx: LineContext, at: number, sp: number, n: number): TraceEvent | null {
  if (!litAt(sp, n, L_SP_DIR)) return null;
  const d0 = sp + 5;
  const d1 = spaceFrom(d0, n);
  const dir = dmaDirAt(d0, d1);
  if (dir < 0 || !litAt(d1, n, L_SP_DMA_ADDR)) return null;
  cur = d1 + 10;
  if (!hexAt(body) || !litAt(cur, n, L_SP_SIZE)) return null;
  const addr = addrVal();
  cur += 6;
  if (!decAt(body)) return null;
  const size = sizeVal();
  let phys: bigint | undefined;
  if (litAt(cur, n, L_SP_PHYS_ADDR)) {
    cur += 11;
    if (!hexAt(body)) return null;
    phys = plainVal();
  }
  if (!litAt(cur, n, L_SP_ATTRS)) return null;
  const a0 = cur + 7;
  if (spaceFrom(a0, n) !== n) return null;
  const comm = commOf(ctx);
  const data = a0 < n ? { event, comm, pid: ctx.pid, cpu: ctx.cpu, device: body.slice(at, sp), attrs: body.slice(a0, n) } : { event, comm, pid: ctx.pid, cpu: ctx.cpu, device: body.slice(at, sp) };
  if (phys !== undefined) return ctx.hasTime ? { kind: 'trace-dma', data, dir, addr, size, phys, time: ctx.time } : { kind: 'trace-dma', data, dir, addr, size, phys };
  return ctx.hasTime ? { kind: 'trace-dma', data, dir, addr, size, time: ctx.time } : { kind: 'trace-dma', data, dir, addr, size };
}

/** The first space in s[from, end), or end. */
function spaceFrom(from: number, end: number): number {
  let e = from;
  while (e < end && C[e]! !== 32) e++;
  return e;
}

/** Whether the value just read ends its token (at a space or at `end`). */
function tokenEnds(end: number): boolean {
  return cur === end || C[cur]! === 32;
}

/** `{0x1000}` → 0x1000n; null for any other array (empty, several entries, malformed). */
function oneEntry(arr: string | undefined): bigint | null {
  if (arr === undefined || arr.length < 5 || arr.charCodeAt(0) !== 123 || arr.charCodeAt(arr.length - 1) !== 125) return null;
  const inner = arr.slice(1, -1);
  if (inner.indexOf(',') >= 0 || !inner.startsWith('0x') || !isHex(inner.slice(2))) return null;
  return BigInt(inner);
}

// ---- intel_iommu:qi_submit (drivers/iommu/intel/trace.h) --------------------------------------------

// `"%s %s: 0x%llx 0x%llx 0x%llx 0x%llx"`: __print_symbolic(qw0 & 0xf) (cc_inv, iotlb_inv,
// dev_tlb_inv, iec_inv, inv_wait, p_iotlb_inv, pc_inv, p_dev_tlb_inv, page_grp_resp; an unknown type
// prints as hex), the IOMMU name (dmar0), the four qwords.
const QI_RE = /^(\S+) (\S+): (0x[0-9a-fA-F]{1,16}) (0x[0-9a-fA-F]{1,16}) (0x[0-9a-fA-F]{1,16}) (0x[0-9a-fA-F]{1,16})$/;
/** IOTLB invalidation granularity, descriptor bits 5:4 (VT-d spec §6.5.2.3; QI_IOTLB_GRAN in drivers/iommu/intel/iommu.h). */
const IOTLB_GRAN = ['reserved', 'global', 'domain', 'page'] as const;

/**
 * intel_iommu:qi_submit → trace-inval, raw qwords in data.qw. An `iotlb_inv` descriptor is decoded
 * from the VT-d IOTLB Invalidate Descriptor (VT-d spec §6.5.2.3; Linux QI_IOTLB_* macros):
 * qw0 bits 5:4 granularity (1 global, 2 domain-selective, 3 page-selective), bits 31:16 DID;
 * qw1 bits 63:12 ADDR, bit 6 IH, bits 5:0 AM. `domain` is set for domain- and page-selective
 * invalidations, `addr` and `mask` for page-selective ones; data.granularity names it.
 */
export function parseQiSubmit(body: string, event: string, ctx: LineContext): BodyResult {
  const m = QI_RE.exec(body);
  if (m === null) return `${event}: ${EXPECTED.qi}`;
  return qiEvent(m[1]!, m[2]!, [m[3]!, m[4]!, m[5]!, m[6]!], event, ctx);
}

/** The trace-inval of one qi_submit descriptor: `type` as __print_symbolic printed it, qw as "0x…" (see parseQiSubmit). */
export function qiEvent(type: string, iommu: string, qw: readonly string[], event: string, ctx: LineContext): TraceEvent {
  const data = head(event, ctx);
  data.type = type;
  data.iommu = iommu;
  data.qw = qw;
  const ev: TraceEvent = { kind: 'trace-inval', data };
  if (type === 'iotlb_inv') {
    const qw0 = BigInt(qw[0]!);
    const qw1 = BigInt(qw[1]!);
    const gran = Number((qw0 >> 4n) & 3n);
    data.granularity = IOTLB_GRAN[gran];
    if (gran >= 2) ev.domain = Number((qw0 >> 16n) & 0xffffn);
    if (gran === 3) {
      ev.addr = qw1 & ~0xfffn & U64_MASK;
      ev.mask = Number(qw1 & 0x3fn);
      if ((qw1 & 0x40n) !== 0n) data.ih = 1;
    }
  }
  return stamp(ev, ctx);
}
