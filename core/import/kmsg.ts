/**
 * The kernel log importer (format 'kmsg', component 'kernel'): dmesg, journalctl and syslog text,
 * one line at a time, into the 'trace' event kinds (issue 9 §1 "Kernel logs").
 *
 * Line layouts (the prefix, then the printk message):
 * - dmesg: `[    6.849292] msg` (printk time, seconds.microseconds since boot → `time` in ns),
 *   dmesg without timestamps (`msg`), `dmesg -r` (`<4>[    6.849292] msg`), `dmesg -T`
 *   (`[Tue Dec  1 08:13:00 2026] msg`: the wall clock of the machine that printed it, whose time
 *   zone the line does not carry: read as UTC);
 * - `dmesg -x` (`kern  :err   : [    6.849292] msg`: the kernel facility only);
 * - journalctl / syslog: `Dec 01 08:13:00 host kernel: msg` (no year: `time` left absent and the
 *   date kept in data.date), `-o short-iso` `2026-12-01T08:13:00+0000 host kernel: msg` (→ ns since
 *   the Unix epoch), a fraction of a second accepted on either; syslog files add the dmesg
 *   `[sec.usec] ` after `kernel: ` (then that time is used: the kernel's own, exact clock);
 *   journalctl `-o short-monotonic` (`[    6.849292] host kernel: msg`) is a dmesg time;
 *   journalctl's `-- Boot … --` / `-- Logs begin at … --` lines are headers; lines of other
 *   programs (`qemu-system-x86_64[PID]: …`) are not this format's (unknown).
 *
 * The messages imported are listed in ./kmsg-lines.ts (faults, notes) plus dma-iommu's "Using N-bit
 * DMA addresses" (note) and the IOMMU core's "Adding to / Removing from iommu group N" (trace-group).
 * Every other kernel line is 'unknown', so the user sees it listed.
 *
 * State across lines (cleared by `reset`):
 * - AMD-Vi's old two-line split: old kernels printed `AMD-Vi: Event logged [` and the entry with
 *   two printk calls (amd_iommu.c iommu_print_event: `printk(KERN_ERR "AMD-Vi: Event logged [")`
 *   then `printk("IO_PAGE_FAULT device=%02x:%02x.%x domain=0x%04x address=0x%016llx flags=0x%04x]\n")`;
 *   later both halves as dev_err of the device), so since printk stopped continuing lines without
 *   KERN_CONT the entry comes on the next line; the first half is held ('header') and the event
 *   emitted on the second;
 * - the SMMUv3 raw dump: `event 0x%02x received:` then four word lines, held and decoded on the
 *   fourth; a decoded `event: …` line (and its access line) that follows the raw dump of the same
 *   event is 'ignored' (the raw dump already gave the fault); a decoded event with no raw dump
 *   before it is held until its access line.
 * A held record the next line does not continue is emitted as far as it goes (a partial fault or
 * a note) before that line's events, or, when that line is not an event, reported as that line's
 * error. A record held at the end of the file is lost unless the driver calls `finish()` (the
 * contract has no end-of-file call).
 *
 * Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part A1b; sources
 * drivers/iommu/intel/dmar.c, drivers/iommu/amd/iommu.c, drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c,
 * drivers/iommu/arm/arm-smmu/arm-smmu.c, drivers/iommu/virtio-iommu.c, drivers/iommu/dma-iommu.c,
 * drivers/iommu/iommu.c, kernel/printk/printk.c (the `[%5lu.%06lu]` prefix).
 */
import {
  applySmmuAccess,
  isSmmuAccessLine,
  note,
  parseAmdEvent,
  parseDmar,
  parseDmarSuppressed,
  parseSmmuContextFault,
  parseSmmuDecoded,
  parseViommuFault,
  hexBig,
  isoSecFrac,
  levelEnd,
  smmuRawFault,
  type FaultEvent,
} from './kmsg-lines.ts';
import type { Importer, LineResult, TraceEvent } from './types.ts';

const HEADER: LineResult = Object.freeze({ t: 'header' });
const IGNORED: LineResult = Object.freeze({ t: 'ignored' });
const UNKNOWN: LineResult = Object.freeze({ t: 'unknown' });

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `dmesg -T`: `[%a %b %e %H:%M:%S %Y]` (util-linux dmesg, ctime-like). */
const DMESG_T = /\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})\] ?/y;
/** Syslog / journalctl short: `Mmm dd HH:MM:SS[.frac] host ident[pid]: `. Groups: 1 date text, 2 ident. */
const SYSLOG = /((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?) \S+ ([^\s:[]+)(?:\[\d+\])?: ?/y;
/** journalctl `-o short-iso[-precise]` / RFC 3339 syslog. Groups: 1–6 date and time, 7 fraction, 8 zone, 9 ident. */
const ISO = /(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)? \S+ ([^\s:[]+)(?:\[\d+\])?: ?/y;
/** "Using %d-bit DMA addresses" (dma-iommu.c iommu_dma_alloc_iova: the 32-bit-first attempt failed once; reference part B1). */
const USING_BITS = /Using (\d+)-bit DMA addresses\s*$/y;
/** "Adding to iommu group %d" / "Removing from iommu group %d" (iommu.c __iommu_group_add_device / __iommu_group_remove_device). */
const GROUP = /(Adding to|Removing from) iommu group (\d+)\s*$/y;
/** virtio-iommu probe: "input address: %u bits" (order_base_2(aperture_end)), "page mask: %#llx". */
const VIOMMU_INPUT = /input address: (\d+) bits\s*$/y;
const VIOMMU_PGMASK = /page mask: (0x[0-9a-fA-F]+|0)\s*$/y;
/** SMMUv3 raw dump header `event 0x%02x received:` and its word lines `\t0x%016llx`. */
const SMMU_RAW_HEAD = /event 0x([0-9a-fA-F]{2}) received:\s*$/y;
const SMMU_RAW_WORD = /\s*0x([0-9a-fA-F]{16})\s*$/y;

/** What is held across lines (see the file comment). */
const Hold = {
  None: 0,
  /** AMD-Vi `Event logged [` with the entry on the next line. */
  AmdSplit: 1,
  /** SMMUv3 raw dump: header seen, `words` filled so far. */
  SmmuRaw: 2,
  /** A decoded SMMUv3 event waiting for its access line. */
  SmmuDecoded: 3,
} as const;
type Hold = (typeof Hold)[keyof typeof Hold];

/**
 * The kernel log importer (see the file comment). `parse` never throws; `time` is the line's
 * time in ns (dmesg: since boot; journalctl ISO / dmesg -T: since the Unix epoch, UTC), exact as
 * long as it is below 2^53 ns (about 104 days of uptime for dmesg; epoch times keep whole-second
 * precision only: a µs fraction on an epoch time is rounded to the nearest double).
 */
export class KmsgImporter implements Importer {
  readonly format = 'kmsg' as const;
  readonly component = 'kernel';

  // The prefix of the line being parsed (set by prefix()).
  // NaN when the line has no time: a double-only field, so setting it allocates nothing.
  private time = NaN;
  private date: string | undefined = undefined;

  // Held across lines.
  private hold: Hold = Hold.None;
  private holdTime = NaN;
  // A wall-clock time (journalctl ISO, dmesg -T) as whole seconds since the Unix epoch and ns in
  // that second: ns since the epoch (~1.7e18) do not fit a double exactly, so `time` counts from
  // the trace's origin (its first wall-clock second; NaN before), exactly (see currentTime).
  private wallSec = NaN;
  private wallFrac = 0;
  private origin = NaN;
  private holdDate: string | undefined = undefined;
  private holdDevice: string | undefined = undefined; // AMD-Vi split: the device the first half named; SMMU: the SMMU
  private holdId = 0; // SMMU raw: event id from the header
  private readonly words: bigint[] = [0n, 0n, 0n, 0n];
  private wordCount = 0;
  private holdEvent: FaultEvent | undefined = undefined; // SMMU decoded
  /** The SMMU and StreamID of the raw dump just emitted (its decoded lines are duplicates). */
  private lastRawSmmu: string | undefined = undefined;
  private lastRawSid = -1;
  /** A decoded line was a duplicate of the raw dump: its access line is too. */
  private dupAccessSmmu: string | undefined = undefined;
  /** Whether the line just parsed had a kernel log prefix (for detect). */
  private kernelPrefix = false;
  /** Whether this file's lines have no prefix (undefined until a line with text was parsed). */
  private unprefixed: boolean | undefined = undefined;

  /**
   * Fraction of `lines` that are this format's: lines that parse as events or headers, and lines
   * that carry the kernel log's own prefix (a dmesg `[ sec.usec]` / `dmesg -T` time, a `<N>` level,
   * a journalctl / syslog date with the `kernel` ident) whatever their message. The first 200
   * lines of a real dmesg are boot messages this importer does not import ('unknown'), so
   * counting only events would call a typical kernel log "not kmsg"; the prefix is what tells the
   * format. A file without prefixes (dmesg without timestamps) scores by its events and headers
   * only (`--format kmsg` forces it). State is reset before and after.
   */
  detect(lines: readonly string[]): number {
    if (lines.length === 0) return 0;
    this.reset();
    let n = 0;
    for (const l of lines) {
      const r = this.parse(l);
      if (r.t === 'event' || r.t === 'header' || this.kernelPrefix) n++;
    }
    this.reset();
    return n / lines.length;
  }

  /**
   * Whether `line` begins a kernel log line: it has a prefix (a dmesg `[ sec.usec]` or `dmesg -T`
   * date, a `<N>` log level, a syslog / journalctl / ISO date). In a file whose lines have no
   * prefix (dmesg without timestamps; known once a line without one was parsed, before any with
   * one), a line also starts a record when it begins with a message tag this importer knows
   * (`DMAR:`, `AMD-Vi:`, `dmar_fault:`) or has a printk message's shape (`tag: …` or
   * `driver device: …`, not indented).
   */
  isLineStart(line: string): boolean {
    const c = line.charCodeAt(0);
    if (c === 0x5b /* [ */) {
      const d = line.charCodeAt(1);
      if (d === 0x20 || (d >= 0x30 && d <= 0x39) || (d >= 0x41 && d <= 0x5a && line.charCodeAt(4) === 0x20)) return true; // `[Tue Dec …` (dmesg -T)
    } else if (c === 0x3c /* < */) {
      if (levelEnd(line, 0) > 0) return true;
    } else if (c >= 0x30 && c <= 0x39) {
      if (line.length > 19 && line.charCodeAt(4) === 0x2d && line.charCodeAt(10) === 0x54) return true;
    } else if (c >= 0x41 && c <= 0x5a && line.charCodeAt(3) === 0x20 && MONTHS.includes(line.slice(0, 3))) return true;
    if (this.unprefixed !== true) return false;
    if (line.startsWith('DMAR:') || line.startsWith('AMD-Vi:') || line.startsWith('dmar_fault:')) return true;
    return c !== 0x20 && c !== 0x09 && line.indexOf(': ') > 0;
  }

  /**
   * At the end of a file: what is still held (an AMD-Vi first half, an SMMUv3 dump cut short, a
   * decoded SMMUv3 event without its access line), as far as it goes, with its first line's
   * time; null when nothing is held. Not part of the Importer contract (which has no end-of-file
   * call): a driver that calls it loses nothing at the end of a file.
   */
  finish(): LineResult | null {
    if (this.hold === Hold.None) return null;
    const [ev] = this.takeOrphan();
    return { t: 'event', events: [ev] };
  }

  reset(): void {
    this.hold = Hold.None;
    this.holdEvent = undefined;
    this.holdDevice = undefined;
    this.wordCount = 0;
    this.lastRawSmmu = undefined;
    this.lastRawSid = -1;
    this.dupAccessSmmu = undefined;
    this.unprefixed = undefined;
    this.origin = NaN;
  }

  parse(line: string): LineResult {
    try {
      const s = this.prefix(line);
      // Blank lines and other programs' syslog lines do not interrupt what is held.
      if (s < 0) return s === -2 ? HEADER : UNKNOWN;
      if (this.hold !== Hold.None) {
        const r = this.continueHold(line, s);
        if (r !== null) return r;
        const [ev, what] = this.takeOrphan();
        return orphaned(ev, what, this.message(line, s));
      }
      return this.message(line, s);
    } catch (e) {
      // Not expected: every parser returns errors as values. A bug must not stop an import.
      return { t: 'error', message: `kmsg importer: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  /**
   * Reads the line's prefix into `time` / `date`; returns where the message starts, -1 for a
   * line that is not the kernel's (another program's syslog line), -2 for a header (blank,
   * journalctl `-- … --`).
   */
  private prefix(line: string): number {
    this.time = NaN;
    this.wallSec = NaN;
    this.date = undefined;
    this.kernelPrefix = false;
    let i = 0;
    let pre = false;
    const n = line.length;
    let c = line.charCodeAt(0);
    if (n === 0) return -2;
    if (c === 0x2d /* - */ && line.startsWith('-- ')) return -2;
    if (c === 0x20 || c === 0x09) {
      while (i < n && (line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09)) i++;
      if (i === n) return -2;
      c = line.charCodeAt(i);
    }
    if (c >= 0x30 && c <= 0x39 && n > 19 && line.charCodeAt(i + 4) === 0x2d && line.charCodeAt(i + 10) === 0x54) {
      ISO.lastIndex = i;
      const m = ISO.exec(line);
      if (m === null) return -1;
      if (m[9] !== 'kernel') return -1;
      const [sec, frac] = isoSecFrac(m);
      this.wallSec = sec;
      this.wallFrac = frac;
      pre = true;
      i = ISO.lastIndex;
      c = line.charCodeAt(i);
    } else if (c >= 0x41 && c <= 0x5a && line.charCodeAt(i + 3) === 0x20 && n > 16 && line.charCodeAt(i + 9) === 0x3a) {
      SYSLOG.lastIndex = i;
      const m = SYSLOG.exec(line);
      if (m !== null) {
        if (m[2] !== 'kernel') return -1;
        this.date = m[1];
        pre = true;
        i = SYSLOG.lastIndex;
        c = line.charCodeAt(i);
      }
    }
    if (c === 0x3c /* < */) {
      const e = levelEnd(line, i);
      if (e > 0) {
        pre = true;
        i = e;
        c = line.charCodeAt(i);
      }
    }
    if (c === 0x6b /* k */ && line.startsWith('kern  :', i)) {
      // dmesg -x (--decode): `%-6s:%-6s: ` facility and level; only the kernel facility is ours.
      const e = line.indexOf(': ', i + 7);
      if (e > 0 && e < i + 16) {
        pre = true;
        i = e + 2;
        c = line.charCodeAt(i);
      }
    }
    if (c === 0x5b /* [ */) {
      const j = this.bracketTime(line, i);
      if (j > 0) {
        pre = true;
        i = j;
        // journalctl -o short-monotonic: `[ sec.usec] host kernel: msg`
        const sp = line.indexOf(' ', i);
        if (sp > i && line.startsWith('kernel: ', sp + 1) && line.lastIndexOf(':', sp) < i) i = sp + 9;
      }
    }
    if (this.unprefixed === undefined) this.unprefixed = !pre;
    this.kernelPrefix = pre;
    while (i < n && line.charCodeAt(i) === 0x20) i++;
    return i;
  }

  /**
   * A dmesg `[%5lu.%06lu]` time (or a `dmesg -T` date) at `i`: sets `time`, returns the index
   * past it and one space, or 0 when the bracket is not a time (then it is the message's).
   * Seconds and the fraction are read as two integers, so `sec * 1e9 + usec * 1e3` is exact.
   */
  private bracketTime(line: string, i: number): number {
    const n = line.length;
    let j = i + 1;
    while (j < n && line.charCodeAt(j) === 0x20) j++;
    let sec = 0;
    const s0 = j;
    let d = line.charCodeAt(j);
    while (d >= 0x30 && d <= 0x39) {
      sec = sec * 10 + (d - 0x30);
      d = line.charCodeAt(++j);
    }
    if (j > s0 && d === 0x2e /* . */) {
      let frac = 0;
      let digits = 0;
      d = line.charCodeAt(++j);
      while (d >= 0x30 && d <= 0x39) {
        if (digits < 9) {
          frac = frac * 10 + (d - 0x30);
          digits++;
        }
        d = line.charCodeAt(++j);
      }
      if (digits === 0 || d !== 0x5d /* ] */) return 0;
      for (let k = digits; k < 9; k++) frac *= 10;
      // A dmesg time wins over a syslog date on the same line (kern.log): the kernel's own clock.
      this.time = sec * 1e9 + frac;
      this.wallSec = NaN;
      this.date = undefined;
      j++;
      return line.charCodeAt(j) === 0x20 ? j + 1 : j;
    }
    if (j === s0 && d >= 0x41 && d <= 0x5a) {
      DMESG_T.lastIndex = i;
      const m = DMESG_T.exec(line);
      if (m === null) return 0;
      const ms = Date.UTC(Number(m[6]), MONTHS.indexOf(m[1]!), Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
      this.wallSec = ms / 1000; // whole seconds
      this.wallFrac = 0;
      this.date = undefined;
      return DMESG_T.lastIndex;
    }
    return 0;
  }

  /** The message at `s` (nothing held). */
  private message(line: string, s: number): LineResult {
    const c = line.charCodeAt(s);
    // pr_fmt tags first: `DMAR: …` (dmar.c), `dmar_fault: …` (printk ratelimit), `AMD-Vi: …`.
    if (c === 0x44 /* D */ && line.startsWith('DMAR:', s)) {
      const p = line.charCodeAt(s + 5) === 0x20 ? s + 6 : s + 5;
      return this.result(parseDmar(line, p));
    }
    if (c === 0x64 /* d */ && line.startsWith('dmar_fault: ', s)) return this.result(parseDmarSuppressed(line, s));
    if (c === 0x41 /* A */ && line.startsWith('AMD-Vi: ', s)) return this.amd(line, s + 8, undefined);
    // dev_printk: `<driver> <device>: msg`. Device names hold ':' but never ': '.
    const colon = line.indexOf(': ', s);
    if (colon < 0) return UNKNOWN;
    let r = colon + 2;
    if (line.startsWith('AMD-Vi: ', r)) r += 8; // an IOMMU device's own dev_err
    const m = line.charCodeAt(r);
    if (m === 0x45 /* E */ && line.startsWith('Event logged [', r)) return this.amd(line, r, deviceAt(line, s, colon));
    if (m === 0x41 /* A */ || m === 0x52 /* R */) {
      if (line.startsWith('Adding to iommu group ', r) || line.startsWith('Removing from iommu group ', r)) return this.group(line, r, deviceAt(line, s, colon));
    }
    if (m === 0x55 /* U */) {
      if (line.startsWith('Using ', r) && line.indexOf('-bit DMA addresses', r) > 0) return this.usingBits(line, r, deviceAt(line, s, colon));
      if (line.startsWith('Unhandled context fault: ', r)) return this.result(parseSmmuContextFault(line, r, deviceAt(line, s, colon) ?? ''));
    }
    if (m === 0x65 /* e */ && line.startsWith('event', r)) {
      if (line.startsWith('event 0x', r)) return this.smmuRawHead(line, r, deviceAt(line, s, colon) ?? '');
      if (line.startsWith('event: ', r)) return this.smmuDecoded(line, r, deviceAt(line, s, colon) ?? '');
    }
    if (m === 0x69 /* i */ && line.startsWith('input address: ', r)) return this.viommuProbe(line, r, deviceAt(line, s, colon), VIOMMU_INPUT, 'bits');
    if (m === 0x70 /* p */ && line.startsWith('page mask: ', r)) return this.viommuProbe(line, r, deviceAt(line, s, colon), VIOMMU_PGMASK, 'pageMask');
    if (line.indexOf(' fault from EP ', r) > 0) return this.result(parseViommuFault(line, r, deviceAt(line, s, colon)));
    if (this.dupAccessSmmu !== undefined && deviceAt(line, s, colon) === this.dupAccessSmmu && isSmmuAccessLine(line, r)) {
      this.dupAccessSmmu = undefined;
      return IGNORED;
    }
    return UNKNOWN;
  }

  /** A line that continues what is held, or null when it does not (then the hold is orphaned). */
  private continueHold(line: string, s: number): LineResult | null {
    switch (this.hold) {
      case Hold.AmdSplit: {
        // The second half is the entry: `IO_PAGE_FAULT device=… flags=0x…]` (printk, old kernels),
        // or `<driver> <device>: ILLEGAL_DEV_TABLE_ENTRY …]` when both halves were dev_err of the
        // same device (the era between: IO_PAGE_FAULT printed whole, the other events split).
        const colon = line.indexOf(': ', s);
        if (colon >= 0) {
          if (this.holdDevice === undefined || deviceAt(line, s, colon) !== this.holdDevice) return null;
          s = colon + 2;
        }
        const c = line.charCodeAt(s);
        if (!(c >= 0x41 && c <= 0x5a) || line.indexOf(']', s) < 0) return null;
        const sp = line.indexOf(' ', s);
        const br = line.indexOf(']', s);
        const end = sp < 0 ? br : Math.min(sp, br);
        for (let k = s; k < end; k++) {
          const d = line.charCodeAt(k);
          if (!((d >= 0x41 && d <= 0x5a) || d === 0x5f || (d >= 0x30 && d <= 0x39))) return null;
        }
        const time = this.holdTime;
        const device = this.holdDevice;
        this.hold = Hold.None;
        this.time = time;
        this.date = this.holdDate;
        return this.result(parseAmdEvent(line, s, device));
      }
      case Hold.SmmuRaw: {
        const colon = line.indexOf(': ', s);
        if (colon < 0) return null;
        const sp = line.lastIndexOf(' ', colon - 1);
        if (sp < s || line.slice(sp + 1, colon) !== this.holdDevice) return null;
        SMMU_RAW_WORD.lastIndex = colon + 2;
        const m = SMMU_RAW_WORD.exec(line);
        if (m === null) return null;
        this.words[this.wordCount++] = hexBig(m[1]!);
        if (this.wordCount < 4) return HEADER;
        this.hold = Hold.None;
        const ev = smmuRawFault(this.holdId, this.holdDevice, this.words, 4);
        this.lastRawSmmu = this.holdDevice;
        this.lastRawSid = (ev.data as { sid: number }).sid;
        this.time = this.holdTime;
        this.date = this.holdDate;
        return this.one(ev);
      }
      case Hold.SmmuDecoded: {
        const colon = line.indexOf(': ', s);
        if (colon < 0) return null;
        const sp = line.lastIndexOf(' ', colon - 1);
        if (sp < s || line.slice(sp + 1, colon) !== this.holdDevice) return null;
        const ev = this.holdEvent!;
        if (!applySmmuAccess(line, colon + 2, ev)) return null;
        this.hold = Hold.None;
        this.holdEvent = undefined;
        this.time = this.holdTime;
        this.date = this.holdDate;
        return this.one(ev);
      }
      default:
        return null;
    }
  }

  /**
   * Takes the held record, which the current line does not continue, as far as it goes (a
   * partial fault or a note, stamped with the time of its first line), and what it was.
   */
  private takeOrphan(): [TraceEvent, string] {
    let ev: TraceEvent;
    let what: string;
    const id = `0x${this.holdId.toString(16).padStart(2, '0')}`;
    switch (this.hold) {
      case Hold.AmdSplit:
        ev = note(this.withDevice({ event: 'AMD-Vi', text: 'Event logged [ (the entry never came)' }));
        what = "AMD-Vi 'Event logged [' without its entry";
        break;
      case Hold.SmmuRaw:
        ev =
          this.wordCount === 0
            ? note({ event: 'arm-smmu-v3', smmu: this.holdDevice, text: `event ${id} received: (no words followed)` })
            : smmuRawFault(this.holdId, this.holdDevice ?? '', this.words, this.wordCount);
        what = `SMMUv3 event ${id} dump (${this.wordCount} of 4 words)`;
        break;
      default:
        ev = this.holdEvent!;
        what = 'SMMUv3 decoded event without its access line';
        break;
    }
    if (this.holdTime === this.holdTime) ev.time = this.holdTime;
    else if (this.holdDate !== undefined) (ev.data as Record<string, unknown>).date = this.holdDate;
    this.hold = Hold.None;
    this.holdEvent = undefined;
    return [ev, what];
  }

  private withDevice(data: Record<string, unknown>): Record<string, unknown> {
    if (this.holdDevice !== undefined) data.device = this.holdDevice;
    return data;
  }

  /** An AMD-Vi `Event logged [` at or after `p` (`p` at `Event logged [` or where it should be). */
  private amd(line: string, p: number, device: string | undefined): LineResult {
    if (!line.startsWith('Event logged [', p)) return UNKNOWN;
    const b = p + 14;
    let e = line.length;
    while (e > b && (line.charCodeAt(e - 1) === 0x20 || line.charCodeAt(e - 1) === 0x09)) e--;
    if (e === b) {
      // The old two-line split (see the file comment).
      this.startHold(Hold.AmdSplit, device);
      return HEADER;
    }
    return this.result(parseAmdEvent(line, b, device));
  }

  private startHold(h: Hold, device: string | undefined): void {
    this.hold = h;
    this.holdTime = this.currentTime();
    this.holdDate = this.date;
    this.holdDevice = device;
    this.wordCount = 0;
  }

  private smmuRawHead(line: string, r: number, smmu: string): LineResult {
    SMMU_RAW_HEAD.lastIndex = r;
    const m = SMMU_RAW_HEAD.exec(line);
    if (m === null) return { t: 'error', message: "arm-smmu-v3: expected 'event 0x.. received:'" };
    this.startHold(Hold.SmmuRaw, smmu);
    this.holdId = parseInt(m[1]!, 16);
    this.lastRawSmmu = undefined;
    return HEADER;
  }

  private smmuDecoded(line: string, r: number, smmu: string): LineResult {
    const d = parseSmmuDecoded(line, r, smmu);
    if (typeof d === 'string') return { t: 'error', message: d };
    if (this.lastRawSmmu === smmu && this.lastRawSid === d.sid) {
      // The decoded form of the raw dump just imported (arm_smmu_dump_event prints both).
      this.lastRawSmmu = undefined;
      this.dupAccessSmmu = d.hasAccess ? smmu : undefined;
      return IGNORED;
    }
    if (!d.hasAccess) return this.one(d.ev);
    this.startHold(Hold.SmmuDecoded, smmu);
    this.holdEvent = d.ev;
    return HEADER;
  }

  private group(line: string, r: number, device: string | undefined): LineResult {
    GROUP.lastIndex = r;
    const m = GROUP.exec(line);
    if (m === null) return { t: 'error', message: "iommu: expected 'Adding to iommu group N' or 'Removing from iommu group N'" };
    const data: Record<string, unknown> = { event: 'iommu' };
    if (device !== undefined) data.device = device;
    return this.one({ kind: 'trace-group', op: m[1] === 'Adding to' ? 0 : 1, group: Number(m[2]) >>> 0, data });
  }

  private usingBits(line: string, r: number, device: string | undefined): LineResult {
    USING_BITS.lastIndex = r;
    const m = USING_BITS.exec(line);
    if (m === null) return { t: 'error', message: "dma-iommu: expected 'Using N-bit DMA addresses'" };
    const data: Record<string, unknown> = { event: 'dma-iommu', text: line.slice(r).trimEnd() };
    if (device !== undefined) data.device = device;
    data.bits = Number(m[1]);
    return this.one(note(data));
  }

  private viommuProbe(line: string, r: number, device: string | undefined, re: RegExp, field: string): LineResult {
    re.lastIndex = r;
    const m = re.exec(line);
    if (m === null) return UNKNOWN; // the phrase is common enough that another driver's line is not an error here
    const data: Record<string, unknown> = { event: 'virtio-iommu', text: line.slice(r).trimEnd() };
    if (device !== undefined) data.device = device;
    data[field] = field === 'bits' ? Number(m[1]) : m[1]!.toLowerCase();
    return this.one(note(data));
  }

  /** A parser's answer as a LineResult: event, error, or unknown (null). */
  private result(v: TraceEvent | string | null): LineResult {
    if (v === null) return UNKNOWN;
    if (typeof v === 'string') return { t: 'error', message: v };
    return this.one(v);
  }

  private one(ev: TraceEvent): LineResult {
    this.stamp(ev);
    return { t: 'event', events: [ev] };
  }

  /** Stamps the current line's time (or, without one, its syslog date in data.date). */
  private stamp(ev: TraceEvent): void {
    const t = this.currentTime();
    if (t === t) ev.time = t; // not NaN
    else if (this.date !== undefined) (ev.data as Record<string, unknown>).date = this.date;
  }

  /** The current line's time in ns: the dmesg clock's, else ns since the origin second of a wall-clock time, else NaN. */
  private currentTime(): number {
    if (this.time === this.time) return this.time;
    if (this.wallSec !== this.wallSec) return NaN;
    if (this.origin !== this.origin) this.origin = this.wallSec;
    return (this.wallSec - this.origin) * 1e9 + this.wallFrac;
  }

  /** Seconds since the Unix epoch at which wall-clock `time`s are 0 (the first one's second), or null when the log had none (dmesg times count from boot). */
  timeOrigin(): number | null {
    return this.origin === this.origin ? this.origin : null;
  }
}

/**
 * The device a dev_printk line names (`<driver> <device>: msg`, message at `s`, the first `: `
 * at `colon`): the word before the colon, or undefined for a `tag: msg` line.
 */
function deviceAt(line: string, s: number, colon: number): string | undefined {
  const sp = line.lastIndexOf(' ', colon - 1);
  return sp >= s ? line.slice(sp + 1, colon) : undefined;
}

/**
 * A held record `ev` (`what`) that the line just parsed (`r`) did not continue: emitted before
 * `r`'s events, or, when `r` is not an event, as `r`'s error (the record is then lost, but named).
 */
function orphaned(ev: TraceEvent, what: string, r: LineResult): LineResult {
  if (r.t === 'event') return { t: 'event', events: [ev, ...r.events] };
  if (r.t === 'header' || r.t === 'ignored') return { t: 'event', events: [ev] };
  return { t: 'error', message: `${what} cut short by this line${r.t === 'error' ? ` (${r.message})` : ''}` };
}
