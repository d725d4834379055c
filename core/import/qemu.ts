/**
 * The QEMU `-trace` log importer (issue 9 §1): the text QEMU's `log` trace backend writes (stderr
 * or `-trace file=`), one line at a time, into the 'trace' event kinds.
 *
 * Line prefixes (reference ../../../shared/reference/trace-formats-and-guest-dma.md A2,
 * virtio-iommu.md §5 "Log-backend line shape"):
 * - `tid@sec.usec:name fmt`: QEMU until ~mid-2025 with `-msg timestamp=on`
 *   (scripts/tracetool/backend/log.py: `"%d@%zu.%06zu:<name> "`, host thread id, gettimeofday());
 * - `2025-07-01T12:00:00.123456Z name fmt`: newer QEMU (util/log.c qemu_log() prefixes a UTC
 *   ISO-8601 time, GLib g_date_time_format_iso8601: older GLib printed no fraction, newer GLib
 *   omits it on a whole second (gdatetime.c; not in the reference, exact version UNVERIFIED): the fraction is
 *   optional, 1…9 digits, and a `Z`, `±hh`, `±hhmm` or `±hh:mm` zone is accepted);
 * - `name fmt`: no timestamps;
 * - syslog/journal: `<date> <host> qemu-system-x86_64[PID]: name fmt` (any `qemu…[PID]` program,
 *   e.g. qemu-kvm), the date as BSD syslog (`Jul  1 12:00:00[.frac]`: no year, so no `time`) or
 *   ISO-8601 (RFC 5424, journalctl -o short-iso).
 * `time` is ns since the Unix epoch (all three clocks are wall clocks). Such times are ~1.7e18 ns,
 * above 2^53: a number holds them to the nearest 256 ns (sec * 1e9 + usec * 1e3 rounded once).
 *
 * Events: the table in qemu-events.ts (each format compiled into one regex over the body). The
 * IOMMU-relevant ones become trace-map / -unmap / -attach / -fault / -inval; the rest of the
 * known ones trace-note with their arguments in data; per-access cache and page-walk internals
 * are 'ignored'. A line of a known event whose body does not match its format is an error naming
 * the expected format. QEMU's own error reports (`qemu-system-x86_64: -device …: warning: …`,
 * util/error-report.c: the program name and `: `) are trace-notes with data.text.
 * A line of any other QEMU trace event behind a QEMU prefix (tid@, a qemu…[PID] syslog program,
 * or an ISO-8601 time followed by a lowercase name holding a `_`, as trace event names do) is
 * 'ignored' (a QEMU event outside the IOMMU set) unless its name is of a covered family
 * (virtio_iommu_, vtd_, vfio_, iommufd_): then, like any line this importer cannot place, it is
 * 'unknown'. (An ISO time before anything else, e.g. journalctl -o short-iso's `host kernel: …`,
 * is not QEMU's.)
 *
 * Conventions (the importer contract, core/import/types.ts):
 * - u64 values as bigint; IDs QEMU prints with `%d` (domain, endpoint, ioas, sid, rid) are u32: a
 *   negative print is stored as its u32 value and the printed number kept as data.<name>Printed;
 * - virtio-iommu and vfio ranges print an INCLUSIVE end: size = end - start + 1 (a range reaching
 *   2^64 is stored with size 2^64 - 1 and the printed end in data.end);
 * - trace-map `flags` has bit 0 read and bit 1 write in every source: virtio MAP flags (READ 1,
 *   WRITE 2, MMIO 4), IOMMUAccessFlags (RO 1, WO 2, RW 3), iommufd readonly → 1 else 3.
 */
import { C, type KnownEvent, nameHash, Q, QEMU_EVENTS, QEMU_FAMILIES, type Shape } from './qemu-events.ts';
import type { Importer, LineResult, TraceEvent } from './types.ts';

const HEADER: LineResult = { t: 'header' };
const IGNORED: LineResult = { t: 'ignored' };
const UNKNOWN: LineResult = { t: 'unknown' };

const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** VIRTIO_IOMMU_FAULT_F_ADDRESS (virtio spec §5.13.6.9; virtio-iommu.md §1.9): the address is valid. */
const VIRTIO_FAULT_F_ADDRESS = 0x100;

/** Per-line prefix results (one line at a time; reused, never reentrant). */
const S = {
  /** Whole seconds since the Unix epoch of the line's wall-clock time, or NaN (always a number: the field stays an unboxed double). */
  sec: NaN,
  /** ns within that second. */
  fracNs: 0,
  /** The trace's time origin (the first wall-clock second seen; NaN before): `time` counts from it, exactly. Saved per importer around each parse. */
  origin: NaN,
  /** Host thread id of a `tid@` prefix, or -1. */
  tid: -1,
  /** Syslog host and pid, or '' / -1. */
  host: '',
  pid: -1,
  /** Whether the line had a prefix (tid@, ISO-8601, syslog). */
  prefixed: false,
  /** Whether that prefix is QEMU's for sure (tid@, a qemu…[PID] syslog program), not only an ISO-8601 time. */
  qemu: false,
};

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `tid@sec.usec:` at 0: returns the index after the colon, or -1. Sets S.tid, S.sec and S.fracNs. */
function scanTid(line: string, n: number): number {
  let i = 0;
  let tid = 0;
  while (i < n && isDigit(line.charCodeAt(i))) tid = tid * 10 + line.charCodeAt(i++) - 48;
  if (i === 0 || i >= n || line.charCodeAt(i) !== 64 /* @ */) return -1;
  const s0 = ++i;
  let sec = 0;
  while (i < n && isDigit(line.charCodeAt(i))) sec = sec * 10 + line.charCodeAt(i++) - 48;
  if (i === s0 || i - s0 > 15 || i >= n || line.charCodeAt(i) !== 46 /* . */) return -1;
  const u0 = ++i;
  let frac = 0;
  while (i < n && isDigit(line.charCodeAt(i))) frac = frac * 10 + line.charCodeAt(i++) - 48;
  const digits = i - u0;
  // %06zu: six digits; accept 1…9 leniently (a fraction of the second either way).
  if (digits === 0 || digits > 9 || i >= n || line.charCodeAt(i) !== 58 /* : */) return -1;
  S.tid = tid;
  // Kept as two integers: ns since the epoch (~1.7e18) do not fit a double exactly; `time` is
  // counted from the trace's origin second instead (stamp).
  S.sec = sec;
  S.fracNs = frac * POW10[9 - digits]!;
  return i + 1;
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** ISO-8601 date-time at the line's start, up to its space. */
const ISO = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)? /;
/** BSD syslog date at the line's start (`Jul  1 12:00:00`, journalctl `Jul 01 12:00:00.123456`). */
const BSD_DATE = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? /;
/** `host qemu…[pid]: ` after a syslog date (sticky at the date's end). */
const SYSLOG_TAIL = /(\S+) (qemu[^\s[\]]*)\[(\d+)\]: /y;

/** An ISO-8601 prefix: returns the index after its space, or -1. Sets S.sec and S.fracNs (NaN without a zone). */
function scanIso(line: string): number {
  const m = ISO.exec(line);
  if (m === null) return -1;
  const zone = m[8];
  if (zone === undefined) {
    S.sec = NaN;
  } else {
    let offMin = 0;
    if (zone !== 'Z') {
      const hh = Number(zone.slice(1, 3));
      const mm = zone.length > 3 ? Number(zone.slice(zone.length - 2)) : 0;
      offMin = (zone.charCodeAt(0) === 45 /* - */ ? -1 : 1) * (hh * 60 + mm);
    }
    const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - offMin * 60000;
    const f = m[7];
    S.sec = ms / 1000; // whole seconds: Date.UTC of whole seconds is a multiple of 1000
    S.fracNs = f === undefined ? 0 : Number(f) * POW10[9 - f.length]!;
  }
  return m[0].length;
}

/** A syslog `host prog[pid]: ` at p: returns the index after it, or -1. Sets S.host / S.pid. */
function scanSyslogTail(line: string, p: number): number {
  SYSLOG_TAIL.lastIndex = p;
  const m = SYSLOG_TAIL.exec(line);
  if (m === null) return -1;
  S.host = m[1]!;
  S.pid = Number(m[3]);
  return p + m[0].length;
}

/** Scans the line's prefix; returns the index of the event name (or error-report program), or -1. */
function scanPrefix(line: string, n: number): number {
  S.sec = NaN;
  S.tid = -1;
  S.host = '';
  S.pid = -1;
  S.prefixed = false;
  S.qemu = false;
  const c0 = line.charCodeAt(0);
  if (isDigit(c0)) {
    let p = scanTid(line, n);
    S.qemu = p >= 0;
    if (p < 0) {
      p = scanIso(line);
      if (p < 0) return -1;
      const q = scanSyslogTail(line, p);
      S.qemu = q >= 0;
      if (q >= 0) p = q;
    }
    S.prefixed = true;
    return p;
  }
  if (c0 >= 65 && c0 <= 90 /* A-Z */) {
    const m = BSD_DATE.exec(line);
    if (m === null) return -1;
    const q = scanSyslogTail(line, m[0].length);
    if (q < 0) return -1;
    S.prefixed = true;
    S.qemu = true;
    return q;
  }
  return 0;
}

/** A field too wide for its type (a line no QEMU printed): the line is an error with this message. */
class FieldRange extends Error {}

/** A 32-bit value printed with `%d` or `%u` (-2^31 … 2^32 - 1), as u32; FieldRange otherwise. */
function u32d(s: string): number {
  const v = Number(s);
  if (!(v >= -0x8000_0000 && v <= 0xffff_ffff)) throw new FieldRange(`${s} is not a 32-bit value`);
  return v >>> 0;
}

/** A u32 ID printed with `%d`: the u32 value; a negative print is kept in data[`${key}Printed`]. */
function id(s: string, data: Record<string, unknown>, key: string): number {
  const v = u32d(s);
  if (s.charCodeAt(0) === 45 /* - */) data[`${key}Printed`] = Number(s);
  return v;
}

/** Up to 8 hex digits (a u8/u16/u32 printed with PRIx8…32) as a number; FieldRange beyond. */
function hex32(s: string): number {
  if (s.length > 8) throw new FieldRange(`0x${s} is not a 32-bit value`);
  return hexNum(s);
}

/** Hex digits (already checked by the regex) as a number: exact up to 13 digits (below 2^53). */
function hexNum(s: string): number {
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    v = v * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v;
}

/** Hex digits as a u64 bigint (up to 13 digits through a double, faster than BigInt('0x…')); FieldRange beyond 64 bits. */
function hex(s: string): bigint {
  if (s.length <= 13) return BigInt(hexNum(s));
  const v = BigInt(`0x${s}`);
  if (v > U64_MAX) throw new FieldRange(`0x${s} exceeds 64 bits`);
  return v;
}

/** Bytes of the inclusive range [start, end], at most 2^64 - 1 (then data.end keeps the printed end). */
function span(start: bigint, end: bigint, endText: string, data: Record<string, unknown>): bigint {
  const size = end - start + 1n;
  if (size <= U64_MAX) return size;
  data.end = `0x${endText}`;
  return U64_MAX;
}

function err(k: KnownEvent, what: string): LineResult {
  return { t: 'error', message: `${k.name}: ${what}` };
}

/** A trace-note's data: { event, text, …the arguments }. */
function noteData(k: KnownEvent, shape: Shape, m: RegExpExecArray, line: string, b: number, n: number): Record<string, unknown> {
  while (b < n && line.charCodeAt(b) === 32) b++;
  const data: Record<string, unknown> = { event: k.name, text: line.slice(b, n) };
  const { args, kinds } = shape;
  let bus: string | undefined;
  let slot: string | undefined;
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    const v = m[i + 1]!;
    if (a === '') continue;
    // Device %02x:%02x.%x: one data.device as printed.
    if (a === 'bus' && args[i + 1] === 'slot') {
      bus = v;
      continue;
    }
    if (a === 'slot' && bus !== undefined) {
      slot = v;
      continue;
    }
    if (a === 'fn' && slot !== undefined) {
      data.device = `${bus}:${slot}.${v}`;
      continue;
    }
    const kind = kinds[i];
    if (kind === C.Int) {
      if (a.endsWith('#')) {
        a = a.slice(0, -1);
        data[a] = id(v, data, a);
      } else data[a] = Number(v);
    } else if (kind === C.Hex0x) data[a] = `0x${v}`;
    else data[a] = v;
  }
  return data;
}

/** Builds the events of a line of known event `k` whose body matched `shape`. */
function build(k: KnownEvent, shape: Shape, m: RegExpExecArray, line: string, b: number, n: number): TraceEvent | LineResult {
  const data: Record<string, unknown> = { event: k.name };
  switch (k.h) {
    case Q.VirtioMap:
    case Q.NotifyMap: {
      // domain=%d | mr=%s, virt_start, virt_end (inclusive), phys_start, flags.
      const start = hex(m[2]!);
      const end = hex(m[3]!);
      if (end < start) return err(k, `virt_end 0x${m[3]} is below virt_start 0x${m[2]}`);
      const flags = u32d(m[5]!);
      if (k.h === Q.NotifyMap) {
        data.mr = m[1];
        return { kind: 'trace-map', iova: start, size: span(start, end, m[3]!, data), phys: hex(m[4]!), flags, data };
      }
      const domain = id(m[1]!, data, 'domain');
      return { kind: 'trace-map', iova: start, size: span(start, end, m[3]!, data), phys: hex(m[4]!), domain, flags, data };
    }
    case Q.VirtioUnmap:
    case Q.NotifyUnmap: {
      const start = hex(m[2]!);
      const end = hex(m[3]!);
      if (end < start) return err(k, `virt_end 0x${m[3]} is below virt_start 0x${m[2]}`);
      if (k.h === Q.NotifyUnmap) {
        data.mr = m[1];
        return { kind: 'trace-unmap', iova: start, size: span(start, end, m[3]!, data), data };
      }
      const domain = id(m[1]!, data, 'domain');
      return { kind: 'trace-unmap', iova: start, size: span(start, end, m[3]!, data), domain, data };
    }
    case Q.VirtioAttach:
    case Q.VirtioDetach: {
      const domain = id(m[1]!, data, 'domain');
      const endpoint = id(m[2]!, data, 'endpoint');
      return { kind: 'trace-attach', op: k.h === Q.VirtioAttach ? 0 : 1, domain, endpoint, data };
    }
    case Q.VirtioFault: {
      // reason=%d flags=%d endpoint=%d address =0x…; flags: F_READ 1, F_WRITE 2, F_EXEC 4, F_ADDRESS 0x100.
      const flags = u32d(m[2]!);
      data.flags = flags;
      const endpoint = id(m[3]!, data, 'endpoint');
      const access = flags & 2 ? 2 : flags & 1 ? 1 : 0;
      const reason = u32d(m[1]!);
      if (flags & VIRTIO_FAULT_F_ADDRESS) return { kind: 'trace-fault', address: hex(m[4]!), access, reason, endpoint, data };
      data.address = `0x${m[4]}`; // printed, but not valid without F_ADDRESS
      return { kind: 'trace-fault', access, reason, endpoint, data };
    }
    case Q.VtdInval: {
      const ev: TraceEvent = { kind: 'trace-inval', data };
      if (k.type !== '') data.type = k.type;
      const { args } = shape;
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        const v = m[i + 1]!;
        if (a === 'domain') ev.domain = hex32(v);
        else if (a === 'addr') ev.addr = hex(v);
        else if (a === 'mask') ev.mask = hex32(v);
        else if (a === 'type') data.type = v;
        else data[a] = `0x${v}`; // pasid, high, low
      }
      return ev;
    }
    case Q.VtdFault: {
      // sid 0x%x fault %d addr 0x%x write %d (fault: the VT-d fault reason, VTD_FR_*).
      return { kind: 'trace-fault', address: hex(m[3]!), access: m[4] === '0' ? 1 : 2, reason: u32d(m[2]!), endpoint: hex32(m[1]!), data };
    }
    case Q.VtdWalkOne: {
      // domain 0x%x iova 0x%x -> gpa 0x%x mask 0x%x perm %d: mask = page size - 1; perm IOMMU_NONE (0) is an unmap.
      const domain = hex32(m[1]!);
      const iova = hex(m[2]!);
      const size = hex(m[4]!) + 1n;
      const perm = u32d(m[5]!);
      if (perm === 0) {
        data.gpa = `0x${m[3]}`;
        return { kind: 'trace-unmap', iova, size, domain, data };
      }
      return { kind: 'trace-map', iova, size, phys: hex(m[3]!), domain, flags: perm, data };
    }
    case Q.VfioMapNotify: {
      const op = m[1]!.toUpperCase();
      if (op !== 'MAP' && op !== 'UNMAP') return err(k, `expected op MAP or UNMAP, got '${m[1]}'`);
      const start = hex(m[2]!);
      const end = hex(m[3]!);
      if (end < start) return err(k, `end 0x${m[3]} is below start 0x${m[2]}`);
      const size = span(start, end, m[3]!, data);
      return op === 'MAP' ? { kind: 'trace-map', iova: start, size, data } : { kind: 'trace-unmap', iova: start, size, data };
    }
    case Q.IommufdMap: {
      // iommufd ioas iova size (addr | fd start) readonly (ret).
      const a = shape.args;
      data.iommufd = Number(m[1]);
      const domain = id(m[2]!, data, 'ioas');
      const last = a.length;
      const readonly = Number(m[last - 1]);
      data.readonly = readonly;
      const ret = Number(m[last]);
      if (ret !== 0) data.ret = ret;
      const ev: TraceEvent = { kind: 'trace-map', iova: hex(m[3]!), size: hex(m[4]!), domain, flags: readonly ? 1 : 3, data };
      if (a[4] === 'addr') {
        const addr = m[5]!;
        if (addr !== '(nil)') ev.phys = BigInt(addr);
      } else {
        data.fd = Number(m[5]);
        data.start = Number(m[6]);
      }
      return ev;
    }
    case Q.IommufdUnmap: {
      data.iommufd = Number(m[1]);
      const domain = id(m[2]!, data, 'ioas');
      const ret = Number(m[5]);
      if (ret !== 0) data.ret = ret;
      if (k.name === 'iommufd_backend_unmap_dma_non_exist') {
        // IOMMU_IOAS_UNMAP failed with ENOENT (nothing mapped there), which QEMU treats as success.
        return { kind: 'trace-unmap', iova: hex(m[3]!), size: hex(m[4]!), unmapped: 0n, domain, data };
      }
      return { kind: 'trace-unmap', iova: hex(m[3]!), size: hex(m[4]!), domain, data };
    }
    case Q.CdevAttach: {
      data.iommufd = Number(m[1]);
      data.device = m[2];
      data.devfd = Number(m[3]);
      return { kind: 'trace-attach', op: 0, domain: id(m[4]!, data, 'id'), data };
    }
    case Q.CdevDetach: {
      data.iommufd = Number(m[1]);
      data.device = m[2];
      return { kind: 'trace-attach', op: 1, data };
    }
    default:
      return { kind: 'trace-note', data: noteData(k, shape, m, line, b, n) };
  }
}

/** Stamps the prefix's time and fields onto an event. */
function stamp(ev: TraceEvent): LineResult {
  if (S.sec === S.sec) {
    // not NaN: ns since the trace's origin second, exact while the trace spans < 104 days (2^53 ns)
    if (S.origin !== S.origin) S.origin = S.sec;
    ev.time = (S.sec - S.origin) * 1e9 + S.fracNs;
  }
  if (S.tid >= 0 || S.pid >= 0) {
    const data = ev.data as Record<string, unknown>;
    if (S.tid >= 0) data.tid = S.tid;
    if (S.pid >= 0) {
      data.host = S.host;
      data.pid = S.pid;
    }
  }
  return { t: 'event', events: [ev] };
}

/** Known events by nameHash (a collision chains the events in an array). */
const BY_HASH = new Map<number, KnownEvent | KnownEvent[]>();
for (const k of QEMU_EVENTS.values()) {
  const h = nameHash(k.name, 0, k.name.length);
  const prev = BY_HASH.get(h);
  BY_HASH.set(h, prev === undefined ? k : Array.isArray(prev) ? [...prev, k] : [prev, k]);
}

/** Whether line[p, e) looks like a trace event name: [a-z0-9_] with at least one `_`. */
function isTraceName(line: string, p: number, e: number): boolean {
  let under = false;
  for (let i = p; i < e; i++) {
    const c = line.charCodeAt(i);
    if (c === 95) under = true;
    else if (!((c >= 97 && c <= 122) || isDigit(c))) return false;
  }
  return under;
}

/** Whether line[p, e) is `name`. */
function isName(line: string, p: number, e: number, name: string): boolean {
  if (name.length !== e - p) return false;
  for (let i = 0; i < name.length; i++) if (line.charCodeAt(p + i) !== name.charCodeAt(i)) return false;
  return true;
}

/** The known event named by line[p, e) (hash h), or undefined. */
function lookup(line: string, p: number, e: number, h: number): KnownEvent | undefined {
  const b = BY_HASH.get(h);
  if (b === undefined) return undefined;
  if (!Array.isArray(b)) return isName(line, p, e, b.name) ? b : undefined;
  for (const k of b as KnownEvent[]) if (isName(line, p, e, k.name)) return k;
  return undefined;
}

/** Parses one line (see the file comment). */
function parseLine(line: string): LineResult {
  let n = line.length;
  while (n > 0 && line.charCodeAt(n - 1) <= 32) n--;
  if (n === 0) return HEADER;
  const p = scanPrefix(line, n);
  if (p < 0) return UNKNOWN;
  // The event name: [A-Za-z0-9_]+ up to a space or the end of the line, hashed as it is scanned.
  let e = p;
  let h = 0;
  for (; e < n; e++) {
    const c = line.charCodeAt(e);
    if (!((c >= 97 && c <= 122) || c === 95 || isDigit(c) || (c >= 65 && c <= 90))) break;
    h = (Math.imul(h, 31) + c) & 0x3fffffff;
  }
  if (e === p) return UNKNOWN;
  if (e < n && line.charCodeAt(e) !== 32) {
    // QEMU's error reports: `qemu-system-x86_64: text`, `qemu-kvm: text`.
    if (line.startsWith('qemu', p)) {
      const colon = line.indexOf(': ', p);
      if (colon > p && line.lastIndexOf(' ', colon) < p) {
        return stamp({ kind: 'trace-note', data: { event: line.slice(p, colon), text: line.slice(colon + 2, n) } });
      }
    }
    return UNKNOWN;
  }
  const k = lookup(line, p, e, h);
  if (k === undefined) {
    if (!S.prefixed || (!S.qemu && !isTraceName(line, p, e))) return UNKNOWN;
    for (const f of QEMU_FAMILIES) if (line.startsWith(f, p)) return UNKNOWN;
    return IGNORED;
  }
  if (k.h === Q.Ignored) return IGNORED;
  const b = e < n ? e + 1 : n; // the body: after `<name> ` (empty for a bare name)
  for (const shape of k.shapes) {
    const re = shape.re;
    re.lastIndex = b;
    const m = re.exec(line);
    if (m !== null) {
      let r: TraceEvent | LineResult;
      try {
        r = build(k, shape, m, line, b, n);
      } catch (x) {
        if (x instanceof FieldRange) return { t: 'error', message: `${k.name}: ${x.message}` };
        throw x;
      }
      return 'kind' in r ? stamp(r) : r;
    }
  }
  return { t: 'error', message: `${k.name}: expected '${k.expect}'` };
}

/**
 * The QEMU `-trace` log importer: format 'qemu', component 'qemu'. Stateless across lines
 * (reset does nothing). See the file comment for prefixes, events and conventions.
 */
export class QemuTraceImporter implements Importer {
  readonly format = 'qemu' as const;
  readonly component = 'qemu';

  /** Fraction of `lines` that are lines of this format (anything but 'unknown'). */
  detect(lines: readonly string[]): number {
    if (lines.length === 0) return 0;
    let ok = 0;
    for (const l of lines) if (this.parse(l).t !== 'unknown') ok++;
    return ok / lines.length;
  }

  /** True when the line has a prefix (tid@, ISO-8601, syslog qemu…[pid]) or starts with a known event name or `qemu…: `. */
  isLineStart(line: string): boolean {
    let n = line.length;
    while (n > 0 && line.charCodeAt(n - 1) <= 32) n--;
    if (n === 0) return false;
    const p = scanPrefix(line, n);
    if (p < 0) return false;
    if (S.prefixed) return true;
    let e = p;
    while (e < n && line.charCodeAt(e) > 32) e++;
    if (lookup(line, p, e, nameHash(line, p, e)) !== undefined) return true;
    return line.startsWith('qemu', p) && line.charCodeAt(e - 1) === 58; /* `qemu…:` */
  }

  /** The trace's time origin: `time` counts ns from this second (since the Unix epoch; NaN before the first timestamp). */
  private origin = NaN;

  parse(line: string): LineResult {
    S.origin = this.origin;
    try {
      return parseLine(line);
    } catch (e) {
      return { t: 'error', message: `qemu importer: ${e instanceof Error ? e.message : String(e)}` };
    } finally {
      this.origin = S.origin;
    }
  }

  /** Seconds since the Unix epoch at which `time` is 0 (the first timestamp's second), or null when no line had one. */
  timeOrigin(): number | null {
    return this.origin === this.origin ? this.origin : null;
  }

  reset(): void {
    // No state across lines but the time origin.
    this.origin = NaN;
  }
}
