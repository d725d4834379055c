/**
 * The importer contract (issue 9 §1): a trace recorded on a real system, one text line at a time,
 * into the lab's 'trace' event kinds (core/events/catalog.ts codes 36…43).
 *
 * An importer knows one family of text formats (ftrace, kernel log, QEMU `-trace`) and parses one
 * line at a time, without state across lines except what `reset` clears (e.g. AMD-Vi's old
 * two-line split, where the first half is held until the second arrives). The driver
 * (core/import/driver.ts) reads the file, detects the format, rejoins wrapped lines, counts unknown
 * lines and errors by line number and writes the events; importers never see files or bytes.
 *
 * Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part A (format strings, by
 * era), virtio-iommu.md and iommufd-vfio-hostiommu.md (QEMU trace-event strings).
 */
import type { EventPayload } from '../events/catalog.ts';

/** The formats the lab imports (`iommu-lab import --format`). */
export const TRACE_FORMATS = ['ftrace', 'kmsg', 'qemu'] as const;
/** ftrace text (trace, trace_pipe, trace-cmd report, perf script), kernel log (dmesg, journalctl) or QEMU `-trace` log. */
export type TraceFormat = (typeof TRACE_FORMATS)[number];

/** The trace event kinds (family 'trace'). */
export type TraceKind = 'trace-map' | 'trace-unmap' | 'trace-fault' | 'trace-attach' | 'trace-group' | 'trace-dma' | 'trace-inval' | 'trace-note';

/**
 * One event parsed from a line: a trace kind's payload (u64 fields as bigint; `data` an object
 * whose `event` names the source event, e.g. "iommu:map", "DMAR", "virtio_iommu_map"), and the
 * line's timestamp in ns when it has one (ftrace `sec.usec`, dmesg `[sec.usec]`, QEMU
 * `tid@sec.usec:` or ISO-8601, journalctl/syslog dates; absent when the line has none). A clock
 * counted from boot (ftrace, dmesg) gives ns since boot; a wall clock gives ns since the trace's
 * time origin (Importer.timeOrigin: the first timestamp's whole second), because ns since the Unix
 * epoch (~1.7e18) are not exact in a double and these are (while a trace spans < 104 days).
 */
export type TraceEvent = { [K in TraceKind]: { kind: K; time?: number } & EventPayload<K> }[TraceKind];

/**
 * What a line is, for the importer that parses it:
 * - `event`: one or more events (`events`, usually one);
 * - `header`: a line of the format that carries no event (an ftrace `#` comment, a blank line,
 *   `cpus=2`, a journalctl `-- Boot …--` line, the first half of an AMD-Vi two-line fault held
 *   until its second half);
 * - `ignored`: a well-formed line of the format whose event is known and deliberately not
 *   imported (e.g. `vtd_iotlb_page_hit`); counted apart from unknown lines;
 * - `unknown`: a line this importer does not understand (counted and listed by line number);
 * - `error`: a line of a KNOWN event that does not match that event's format (e.g. `iommu:map:
 *   IOMMU: iova=0xzz`): an error with its line number and `message`.
 */
export type LineResult =
  | { readonly t: 'event'; readonly events: readonly TraceEvent[] }
  | { readonly t: 'header' }
  | { readonly t: 'ignored' }
  | { readonly t: 'unknown' }
  | { readonly t: 'error'; readonly message: string };

/** A parser of one trace format family (see the file comment). */
export interface Importer {
  readonly format: TraceFormat;
  /** The component id its events are stamped with ('ftrace', 'kernel', 'qemu'). */
  readonly component: string;
  /**
   * How sure this importer is that `lines` (the file's first non-blank lines, at most 200) are
   * its format: the fraction (0…1) of them it parses as events or headers. The driver picks the
   * highest score (ties and scores below 0.2 are an error asking for --format).
   */
  detect(lines: readonly string[]): number;
  /**
   * Whether `line` begins a new record of this format (has the format's line prefix: ftrace's
   * `comm-pid [cpu]`, dmesg's `[ sec.usec]`, QEMU's `name ` or `tid@sec.usec:name `…). A line
   * that does not, after a line that did not parse, may be the tail of a line a mail client or
   * terminal wrapped: the driver tries the two joined (with and without a space between them)
   * and keeps the join only when exactly one of the two parses as an event.
   */
  isLineStart(line: string): boolean;
  /** Parses one line (without its line terminator). Must never throw. */
  parse(line: string): LineResult;
  /**
   * Optional fast path of `parse`: parses the line text[start, end) (without its terminator) of a
   * larger text (the driver's chunk), with exactly the result `parse(text.slice(start, end))`
   * would give, but without the substring: V8 reads a sliced string's characters through an
   * indirection, the chunk's directly. `codes`, when given, are the text's code units
   * (CodeUnitsBuffer.of(text)), which scan faster than the string. Must never throw, nor read
   * outside [start, end).
   */
  parseRange?(text: string, start: number, end: number, codes?: CodeUnits): LineResult;
  /** Forgets any state held across lines (a new file). */
  reset(): void;
  /**
   * At the end of the file: what a record still held across lines (an AMD-Vi two-line fault whose
   * second half never came, an SMMUv3 raw event short of words) amounts to, or null when nothing
   * is held. Optional: importers that hold nothing need not have it. The driver counts the result
   * at the file's last line.
   */
  finish?(): LineResult | null;
  /**
   * Seconds since the Unix epoch at which wall-clock `time`s are 0 (the first one's whole second),
   * or null when the trace had no wall-clock time. Optional: importers of boot-relative clocks
   * need not have it.
   */
  timeOrigin?(): number | null;
}

/** A text's UTF-16 code units, `codes[i] === text.charCodeAt(i)`: one byte each for ASCII text, else 16 bits. */
export type CodeUnits = Uint8Array | Uint16Array;

const ENCODER = new TextEncoder();

/**
 * Makes the code units of texts for parseRange, reusing one byte buffer: a typed array's elements
 * read several times faster than a string's charCodeAt in V8's optimised code, and TextEncoder's
 * encodeInto copies ASCII text at memory speed.
 */
export class CodeUnitsBuffer {
  private bytes = new Uint8Array(0);

  /**
   * The code units of `text`, valid until the next call: the reused byte buffer (possibly longer
   * than the text) when the text is ASCII, whose UTF-8 is the text itself; else a new Uint16Array.
   */
  of(text: string): CodeUnits {
    const n = text.length;
    if (this.bytes.length < n) this.bytes = new Uint8Array(Math.max(n, 2 * this.bytes.length, 256));
    // All read and one byte written per unit only when every unit is ASCII (others take 2…4 bytes).
    const r = ENCODER.encodeInto(text, this.bytes);
    if (r.read === n && r.written === n) return this.bytes;
    const u = new Uint16Array(n);
    for (let i = 0; i < n; i++) u[i] = text.charCodeAt(i);
    return u;
  }
}
