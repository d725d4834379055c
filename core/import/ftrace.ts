/**
 * The Linux ftrace importer (issue 9 §1): text of `/sys/kernel/tracing/trace`, `trace_pipe`,
 * `trace-cmd report` and `perf script`, one line at a time, into the 'trace' event kinds.
 *
 * Line layouts (reference ../../../shared/reference/trace-formats-and-guest-dma.md A1 and A3):
 * - trace / trace_pipe, built by trace_print_context() in kernel/trace/trace_output.c:
 *   `"%16s-%-7d "` comm-pid, `"(%7d) "` tgid when options/record-tgid is set (`(-------)` when
 *   unknown), `"[%03d] "` CPU, the flag columns of trace_print_lat_fmt() when options/irq-info is
 *   set (4 chars on old kernels, 5 today, 7 on RHEL-style kernels: any width, or absent), then
 *   `" %5lu.%06lu"` seconds.microseconds and `": "`; with a counter clock (trace_clock counter,
 *   x86-tsc) the timestamp is a plain `%12llu` count, not ns: such lines have no `time`. Boot-based
 *   clocks give ns since boot; a wall clock (tai, perf --clockid realtime) ns since timeOrigin().
 *   The comm may hold spaces and dashes (`Web Content-1234`, `qemu-kvm-5678`): the pid is the last
 *   `-digits` before the CPU column. Older kernels printed `%-5d`, `(%5d)` and `(-----)`: widths
 *   are not relied on. Not read: options/context-info off (no prefix at all), latency-format, raw,
 *   hex and bin output.
 * - trace-cmd report: `comm-pid [cpu] sec.usec: event: body`, possibly with flags, after `cpus=N`
 *   and `version = N` header lines (layout UNVERIFIED in the reference: parsed like trace).
 * - perf script: `comm pid [cpu] sec.usec: system:event: body`. perf_sample__fprintf_start() in
 *   tools/perf/builtin-script.c prints `"%16s "` comm, `"%7d "` pid or `"%7d/%-7d "` pid/tid (`%5d`
 *   before 6.5), `"[%03d] "`, the time (`%5lu.%09llu` with --ns), an optional `"%10" PRIu64 " "`
 *   period, then the event name right-aligned to the longest one (`"%*s: "`). perf names events
 *   `iommu:map`, ftrace `map`: both are accepted everywhere, and data.event is always the full
 *   `system:event` name.
 * - Headers: `#` comments (the trace file's preamble, `##### CPU N buffer started ####`), blank
 *   lines, `cpus=N`, `version = N`, `CPU:N [LOST M EVENTS]`, trace-cmd's `CPU N is empty`.
 *
 * Events and their bodies: core/import/ftrace-events.ts; the raw field dump of options/fields
 * (`map: iova=0x… (…) paddr=…`), tried when a body does not match its TP_printk text:
 * core/import/ftrace-fields.ts (data.fields = true). Known but not imported (→ 'ignored'):
 * intel_iommu:prq_report and cache_tag_* (drivers/iommu/intel/trace.h), and the pre-6.x
 * include/trace/events/intel_iommu.h DMA events (map_single, map_sg, bounce_*, unmap_*).
 *
 * Performance (tests/bench/import.ts): the driver hands each line as a range of its chunk
 * (parseRange: no substring per line) with the chunk's code units in a typed array (CodeUnitsBuffer:
 * V8 reads a Uint8Array's elements several times faster than a string's charCodeAt, a sliced
 * string's slower still); the prefix, the event name and the map/unmap/dma bodies (the bulk of a
 * trace) are scanned by hand from those, literals compared four bytes per load, with no regex and
 * no substring but the fields kept; map, unmap, dma_map_phys and dma_unmap_phys are recognised by
 * their literal, other names hashed as they are scanned and looked up in place; a `%016llx` field
 * is read as two 32-bit halves, two digits per table look-up; today's dma layout is read in one
 * forward pass (ftrace-events.ts dmaCommon); a u64 becomes a bigint only when an event keeps it
 * (from its halves: core/engine/u64.ts); the comm is a range of the line until an event keeps it;
 * other bodies run at most one precompiled regex; the per-line scratch lives in one reused object.
 * Changes here are measured by instructions per line under valgrind (deterministic), not by time
 * alone, which moves ±30 % on a shared machine.
 */
import { CodeUnitsBuffer, type CodeUnits, type Importer, type LineResult } from './types.ts';
import { fieldsEvent, type FieldsKind } from './ftrace-fields.ts';
import { type BodyResult, type LineContext, type Lit, lit8, litAt, setCodes, parseAttach, parseDma, parseFault, parseGroup, parseMap, parseQiSubmit, parseUnmap } from './ftrace-events.ts';

/** How a known event name is handled. */
const H = { Map: 0, Unmap: 1, Fault: 2, Attach: 3, Detach: 4, GroupAdd: 5, GroupRemove: 6, DmaSingle: 7, DmaSg: 8, Qi: 9, Ignored: 10 } as const;
type Handling = (typeof H)[keyof typeof H];

/** A known event: its full `system:event` name (data.event) and handler. */
interface Known {
  readonly full: string;
  readonly h: Handling;
}

/** Event name (both `event` and `system:event`) → handling. */
const KNOWN = new Map<string, Known>();
/** nameHash(name) → the names with that hash and their handling: looked up in place, no substring. */
const KNOWN_BY_HASH = new Map<number, { name: Lit; k: Known }[]>();

/** The hash of an event name that the name scan computes as it goes (parseRange). */
function nameHash(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) | 0;
  return h;
}

function known(system: string, names: readonly string[], h: Handling): void {
  for (const n of names) {
    const k: Known = { full: `${system}:${n}`, h };
    for (const name of [n, k.full]) {
      KNOWN.set(name, k);
      const hash = nameHash(name);
      const list = KNOWN_BY_HASH.get(hash) ?? [];
      list.push({ name: lit8(name), k });
      KNOWN_BY_HASH.set(hash, list);
    }
  }
}

/** The known event named [a, b) of the text in C (its nameHash `hash`), or undefined. */
function knownAt(a: number, b: number, hash: number): Known | undefined {
  const list = KNOWN_BY_HASH.get(hash);
  if (list === undefined) return undefined;
  for (const e of list) if (e.name.length === b - a && litAt(a, b, e.name)) return e.k;
  return undefined;
}

/** The code units of the text being parsed (useCodes). */
let C: CodeUnits = new Uint8Array(0);

/** Sets the code units of the text being parsed, here and for the body scanners (ftrace-events.ts). */
function useCodes(codes: CodeUnits): void {
  if (codes === C) return;
  C = codes;
  setCodes(codes);
}

const L_CPUS = lit8('cpus=');
const L_VERSION = lit8('version =');
const L_CPU_COLON = lit8('CPU:');
const L_CPU_SPACE = lit8('CPU ');
const L_IS_EMPTY = lit8(' is empty');
const L_MAP = lit8('map: ');
const L_UNMAP = lit8('unmap: ');
const L_DMA_MAP_PHYS = lit8('dma_map_phys: ');
const L_DMA_UNMAP_PHYS = lit8('dma_unmap_phys: ');

// include/trace/events/iommu.h (detach_device_from_domain: older trees only).
known('iommu', ['map'], H.Map);
known('iommu', ['unmap'], H.Unmap);
known('iommu', ['io_page_fault'], H.Fault);
known('iommu', ['attach_device_to_domain'], H.Attach);
known('iommu', ['detach_device_from_domain'], H.Detach);
known('iommu', ['add_device_to_group'], H.GroupAdd);
known('iommu', ['remove_device_from_group'], H.GroupRemove);
// The SVA fault-reporting events dev_fault / dev_page_response exist in some trees' iommu.h
// (mainline status UNVERIFIED): known, not imported (page requests are not DMA faults).
known('iommu', ['dev_fault', 'dev_page_response'], H.Ignored);
// include/trace/events/dma.h: classes dma_map / dma_unmap / dma_alloc_class / dma_free_class /
// dma_sync_single (one address and size) and the scatter-gather events (arrays). dma_map_page,
// dma_unmap_page, dma_map_resource and dma_unmap_resource are the older names of the dma_map /
// dma_unmap class events (the naming history is UNVERIFIED in the reference: accepted leniently).
known('dma', ['dma_map_phys', 'dma_unmap_phys', 'dma_map_page', 'dma_unmap_page', 'dma_map_resource', 'dma_unmap_resource',
  'dma_alloc', 'dma_alloc_pages', 'dma_alloc_sgt_err', 'dma_free', 'dma_free_pages', 'dma_sync_single_for_cpu', 'dma_sync_single_for_device'], H.DmaSingle);
known('dma', ['dma_map_sg', 'dma_map_sg_err', 'dma_unmap_sg', 'dma_sync_sg_for_cpu', 'dma_sync_sg_for_device', 'dma_alloc_sgt', 'dma_free_sgt'], H.DmaSg);
// drivers/iommu/intel/trace.h (older trees: include/trace/events/intel_iommu.h).
known('intel_iommu', ['qi_submit'], H.Qi);
known('intel_iommu', ['prq_report', 'cache_tag_assign', 'cache_tag_unassign', 'cache_tag_flush_all', 'cache_tag_flush_range', 'cache_tag_flush_range_np',
  'map_single', 'map_sg', 'bounce_map_single', 'bounce_map_sg', 'unmap_single', 'unmap_sg', 'bounce_unmap_single'], H.Ignored);

/** Handling → the field-dump decoder (core/import/ftrace-fields.ts). */
const FIELDS_KIND: readonly (FieldsKind | undefined)[] = ['map', 'unmap', 'fault', 'attach', 'attach', 'group', 'group', 'dma', 'dma', 'qi', undefined];

const K_MAP = KNOWN.get('map')!;
const K_UNMAP = KNOWN.get('unmap')!;
const K_DMA_MAP_PHYS = KNOWN.get('dma_map_phys')!;
const K_DMA_UNMAP_PHYS = KNOWN.get('dma_unmap_phys')!;

const HEADER: LineResult = { t: 'header' };
const IGNORED: LineResult = { t: 'ignored' };
const UNKNOWN: LineResult = { t: 'unknown' };

/** Where the prefix scan leaves its results (reused: one line at a time, no reentrancy). */
interface Scan extends LineContext {
  /** Index of the event name's first character. */
  event: number;
  /** The timestamp's whole seconds and its fraction in ns (when hasTime). */
  sec: number;
  fracNs: number;
}

/**
 * Seconds from which a timestamp is a wall clock (2001-09-09), not time since boot: trace_clock=tai
 * or perf's --clockid realtime/tai print seconds since the Unix epoch, whose ns (~1.7e18) a double
 * cannot hold exactly; such times count from the trace's time origin instead (timeOrigin()).
 */
const WALL_CLOCK_SECONDS = 1e9;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** True for a line (s[start, n)) that carries no event: blank, `#…`, `cpus=N`, `version = N`, `CPU:N [LOST …]`, `CPU N is empty`. */
function isHeader(line: string, start: number, n: number): boolean {
  let i = start;
  while (i < n && C[i]! <= 32) i++;
  if (i === n) return true;
  const c = C[start]!;
  if (c === 35 /* # */) return true;
  if (c === 99 /* c */) return litAt(start, n, L_CPUS);
  if (c === 118 /* v */) return litAt(start, n, L_VERSION);
  if (c === 67 /* C */) return (litAt(start, n, L_CPU_COLON) && start + 4 < n && isDigit(C[start + 4]!)) || (litAt(start, n, L_CPU_SPACE) && n - 9 >= start && litAt(n - 9, n, L_IS_EMPTY));
  return false;
}

// The last bracket search (findBracket): in `memoText` from `memoFrom`, the first '[' is at
// `memoAt` (-1: none up to the text's end).
let memoText = '';
let memoFrom = 0;
let memoAt = -1;

/**
 * The index of the first '[' in s[from, end), or -1. The builtin indexOf is much faster than a loop
 * of charCodeAt, but it searches past the line's end (the line may be part of a larger text): the
 * last search is remembered, so lines without a '[' do not each search the same stretch again
 * (the total stays linear in the text's length).
 */
function findBracket(s: string, from: number, end: number): number {
  let at: number;
  if (s === memoText && from >= memoFrom && (memoAt < 0 || from <= memoAt)) at = memoAt;
  else {
    at = s.indexOf('[', from);
    memoText = s;
    memoFrom = from;
    memoAt = at;
  }
  return at >= 0 && at < end ? at : -1;
}

/**
 * Scans the prefix `comm-pid [(tgid)] [cpu] [flags] ts: ` (or perf's `comm pid[/tid] [cpu] ts: `)
 * into `s`, in the line s[start, n) (the driver's chunk holds many lines: every scan stops at the line's
 * bounds). Returns false when the line has no such prefix.
 */
function scanPrefix(line: string, start: number, n: number, s: Scan): boolean {
  // The CPU column: ` [digits] ` (the first one; a comm holding such a bracket is not supported).
  let b = findBracket(line, start, n) - 1;
  let j: number;
  let cpu: number;
  for (;;) {
    if (b < start) return false;
    j = b + 2;
    if (C[b]! !== 32) {
      b = findBracket(line, b + 2, n) - 1;
      continue;
    }
    cpu = 0;
    while (j < n && isDigit(C[j]!)) cpu = cpu * 10 + C[j++]! - 48;
    if (j > b + 2 && j + 1 < n && C[j]! === 93 /* ] */ && C[j + 1]! === 32) break;
    b = findBracket(line, b + 2, n) - 1;
  }
  // Left of the CPU column: comm, separator, pid, optional (tgid).
  let e = b;
  while (e > start && C[e - 1]! === 32) e--;
  if (e > start && C[e - 1]! === 41 /* ) */) {
    let open = e - 1;
    while (open >= start && C[open]! !== 40 /* ( */) open--;
    if (open < start) return false;
    for (let k = open + 1; k < e - 1; k++) {
      const c = C[k]!;
      if (c !== 32 && c !== 45 && !isDigit(c)) return false;
    }
    e = open;
    while (e > start && C[e - 1]! === 32) e--;
  }
  let d = e;
  let pid = 0;
  let mul = 1;
  while (d > start && isDigit(C[d - 1]!)) {
    pid += (C[d - 1]! - 48) * mul;
    mul *= 10;
    d--;
  }
  if (d === e || d === start) return false;
  let sep = C[d - 1]!;
  if (sep === 47 /* / : perf pid/tid */) {
    let d2 = d - 1;
    pid = 0;
    mul = 1;
    while (d2 > start && isDigit(C[d2 - 1]!)) {
      pid += (C[d2 - 1]! - 48) * mul;
      mul *= 10;
      d2--;
    }
    if (d2 === d - 1 || d2 === start) return false;
    d = d2;
    sep = C[d - 1]!;
  }
  let cs = start;
  while (cs < n && C[cs]! === 32) cs++;
  let ce = d - 1;
  if (sep === 32) {
    while (ce > cs && C[ce - 1]! === 32) ce--;
  } else if (sep !== 45 /* - */) return false;
  if (ce <= cs) return false;
  // Right of the CPU column: [flags] timestamp `:`.
  let p = j + 2;
  while (p < n && C[p]! === 32) p++;
  let t = scanTime(line, p, n, s);
  if (t < 0) {
    let f = p;
    while (f < n && C[f]! !== 32) f++;
    if (f === p || f - p > 16) return false;
    p = f;
    while (p < n && C[p]! === 32) p++;
    t = scanTime(line, p, n, s);
    if (t < 0) return false;
  }
  while (t < n && C[t]! === 32) t++;
  // perf's optional period column (event names never start with a digit).
  if (t < n && isDigit(C[t]!)) {
    let u = t;
    while (u < n && isDigit(C[u]!)) u++;
    if (u < n && C[u]! === 32) {
      t = u;
      while (t < n && C[t]! === 32) t++;
    }
  }
  if (s.commText !== line) s.commText = line; // once per chunk, not per line (see LineContext.commText)
  s.commStart = cs;
  s.commEnd = ce;
  s.pid = pid;
  s.cpu = cpu;
  s.event = t;
  return true;
}

/**
 * Parses `sec.frac:` (1…9 fraction digits) or a counter `digits:` at p (before n); sets s.sec and s.fracNs
 * (s.hasTime false for a counter) and returns the index after the colon and its space, or -1. The
 * two integer parts are kept apart: sec * 1e9 (a multiple of 512) and the fraction are exact
 * doubles and so is their sum
 * while it is representable: any ns value below 2^53 (104 days of uptime), and µs values (multiples
 * of 8 ns) below 2^56 ns (834 days). Beyond that, TraceEvent.time (a number) rounds.
 */
function scanTime(line: string, p: number, n: number, s: Scan): number {
  let i = p;
  let sec = 0;
  while (i < n && isDigit(C[i]!)) sec = sec * 10 + C[i++]! - 48;
  if (i === p || i - p > 15) return -1;
  if (i < n && C[i]! === 46 /* . */) {
    const f0 = ++i;
    let frac = 0;
    while (i < n && isDigit(C[i]!)) frac = frac * 10 + C[i++]! - 48;
    const digits = i - f0;
    if (digits === 0 || digits > 9) return -1;
    s.sec = sec;
    s.fracNs = frac * POW10[9 - digits]!;
    s.hasTime = true;
  } else {
    s.hasTime = false;
  }
  if (i >= n || C[i]! !== 58 /* : */) return -1;
  i++;
  if (i < n && C[i]! !== 32) return -1;
  return i;
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** Linux ftrace text → trace events (see the file comment). Component 'ftrace'. */
export class FtraceImporter implements Importer {
  readonly format = 'ftrace' as const;
  readonly component = 'ftrace';
  private readonly codeBuf = new CodeUnitsBuffer();
  private readonly scan: Scan = { hasTime: false, time: 0, sec: 0, fracNs: 0, commText: '', commStart: 0, commEnd: 0, pid: 0, cpu: 0, event: 0 };
  /** The first wall-clock timestamp's whole second (see WALL_CLOCK_SECONDS), or null. */
  private origin: number | null = null;

  /** Fraction of `lines` that parse as events or headers (unknown, ignored and error lines do not count). */
  detect(lines: readonly string[]): number {
    if (lines.length === 0) return 0;
    let hits = 0;
    for (const l of lines) {
      const r = this.parse(l);
      if (r.t === 'event' || r.t === 'header') hits++;
    }
    return hits / lines.length;
  }

  /** A header line, or a line with the `comm-pid [cpu] … ts:` (perf: `comm pid [cpu] ts:`) prefix. */
  isLineStart(line: string): boolean {
    useCodes(this.codeBuf.of(line));
    return isHeader(line, 0, line.length) || scanPrefix(line, 0, line.length, this.scan);
  }

  /** Parses one line (see the file comment); never throws. */
  parse(line: string): LineResult {
    return this.parseRange(line, 0, line.length);
  }

  /**
   * Parses the line text[start, end) as `parse` would parse it alone (the driver's fast path: the
   * line is scanned inside its chunk, no substring per line); never throws.
   */
  parseRange(text: string, start: number, end: number, codes?: CodeUnits): LineResult {
    try {
      useCodes(codes ?? this.codeBuf.of(text));
      return this.parseLine(text, start, end);
    } catch (e) {
      return { t: 'error', message: `internal error: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  /** Forgets the wall-clock time origin (no other state is held across lines). */
  reset(): void {
    this.origin = null;
  }

  /**
   * Seconds since the Unix epoch at which wall-clock `time`s are 0 (the first such timestamp's
   * whole second), or null when the timestamps count from boot (the default trace clocks).
   */
  timeOrigin(): number | null {
    return this.origin;
  }

  /** The line is line[start, n): every scan stays inside it (see parseRange). */
  private parseLine(line: string, start: number, n: number): LineResult {
    const s = this.scan;
    if (!scanPrefix(line, start, n, s)) return isHeader(line, start, n) ? HEADER : UNKNOWN;
    if (s.hasTime) {
      if (s.sec < WALL_CLOCK_SECONDS) s.time = s.sec * 1e9 + s.fracNs;
      else {
        if (this.origin === null) this.origin = s.sec;
        s.time = (s.sec - this.origin) * 1e9 + s.fracNs;
      }
    }
    const p = s.event;
    // The event name runs to the first `: ` (or a final `:` when the body is empty), non-empty and
    // with no space. map, unmap, dma_map_phys and dma_unmap_phys, the bulk of a trace, are
    // recognised without a lookup; other names are hashed as they are scanned and looked up in
    // place (no substring).
    let q: number;
    let k: Known | undefined;
    const c0 = p < n ? C[p]! : -1;
    if (c0 === 109 /* m */ && litAt(p, n, L_MAP)) {
      q = p + 3;
      k = K_MAP;
    } else if (c0 === 117 /* u */ && litAt(p, n, L_UNMAP)) {
      q = p + 5;
      k = K_UNMAP;
    } else if (c0 === 100 /* d */ && litAt(p, n, L_DMA_MAP_PHYS)) {
      q = p + 12;
      k = K_DMA_MAP_PHYS;
    } else if (c0 === 100 /* d */ && litAt(p, n, L_DMA_UNMAP_PHYS)) {
      q = p + 14;
      k = K_DMA_UNMAP_PHYS;
    } else {
      let hash = 0;
      q = p;
      for (;;) {
        if (q === n) return UNKNOWN;
        const c = C[q]!;
        if (c === 32) return UNKNOWN;
        if (c === 58 /* : */ && (q + 1 === n || C[q + 1]! === 32)) break;
        hash = (Math.imul(hash, 31) + c) | 0;
        q++;
      }
      if (q === p) return UNKNOWN;
      k = knownAt(p, q, hash);
      if (k === undefined) return UNKNOWN;
    }
    // Trailing blanks (a CR, padding) are not part of any TP_printk text (trimEnd only shortens the line).
    if (n > start && C[n - 1]! <= 32) n = start + line.slice(start, n).trimEnd().length;
    // No TP_printk text here starts with a blank: more than one after the name is padding
    // (trace-cmd report pads event names to a column; UNVERIFIED in the reference).
    let at = Math.min(q + 2, n);
    while (at < n && C[at]! === 32) at++;
    if (k.h === H.Map || k.h === H.Unmap) {
      let r: BodyResult | null = k.h === H.Map ? parseMap(line, at, k.full, s, n) : parseUnmap(line, at, k.full, s, n);
      if (typeof r === 'string') r = fieldsEvent(k.h === H.Map ? 'map' : 'unmap', line.slice(at, n), k.full, s) ?? r;
      return typeof r === 'string' ? { t: 'error', message: r } : { t: 'event', events: [r] };
    }
    if (k.h === H.DmaSingle || k.h === H.DmaSg) {
      let r: BodyResult | null = parseDma(line, k.full, s, k.h === H.DmaSingle, at, n);
      if (typeof r === 'string') r = fieldsEvent('dma', line.slice(at, n), k.full, s) ?? r;
      return typeof r === 'string' ? { t: 'error', message: r } : { t: 'event', events: [r] };
    }
    const body = line.slice(at, n);
    let r: BodyResult;
    switch (k.h) {
      case H.Fault: r = parseFault(body, k.full, s); break;
      case H.Attach: r = parseAttach(body, k.full, s, 0); break;
      case H.Detach: r = parseAttach(body, k.full, s, 1); break;
      case H.GroupAdd: r = parseGroup(body, k.full, s, 0); break;
      case H.GroupRemove: r = parseGroup(body, k.full, s, 1); break;
      case H.Qi: r = parseQiSubmit(body, k.full, s); break;
      default: return IGNORED;
    }
    // A line that does not match the TP_printk text may be options/fields' raw dump.
    if (typeof r === 'string') r = fieldsEvent(FIELDS_KIND[k.h]!, body, k.full, s, k.h === H.Detach || k.h === H.GroupRemove ? 1 : 0) ?? r;
    return typeof r === 'string' ? { t: 'error', message: r } : { t: 'event', events: [r] };
  }
}
