/**
 * The import driver (issue 9 §1): text → lines → one importer's events, streaming.
 *
 * - **Lines.** `push` takes the file's text in chunks of any size (a line may span chunks) and
 *   splits at "\n" ("\r\n" too: a trailing "\r" is dropped); `end` parses the last line. Memory is
 *   one chunk, one partial line and the detection sample: independent of the file's length.
 * - **Detection.** Unless a format is forced, the first non-blank lines (up to DETECT_LINES) are
 *   held and each importer's `detect` scores them; the best score wins, and a tie or a best score
 *   below MIN_SCORE is an ImportError asking for `--format` (nothing is parsed).
 * - **Wrapped lines.** A line that did not parse (unknown or error) followed by a line that does
 *   not start a record of the format (Importer.isLineStart) may be one line a mail client or a
 *   terminal wrapped: both joins (with and without a space) are tried, and the join is kept only
 *   when exactly one of them parses as events (unambiguous); its events carry the first line's
 *   number. Otherwise both lines count as what they are.
 * - **Accounting.** Every line is counted as event, header, ignored, unknown or error. Unknown lines
 *   are listed by number (the first UNKNOWN_LIST), errors with their number and message (the first
 *   ERROR_LIST; all are counted).
 * Events go to the `onEvent` callback as they are parsed, with their 1-based line number.
 */
import { CodeUnitsBuffer, TRACE_FORMATS, type CodeUnits, type Importer, type LineResult, type TraceEvent, type TraceFormat } from './types.ts';

/** Non-blank lines the detection reads. */
export const DETECT_LINES = 200;
/** The lowest detection score accepted. */
export const MIN_SCORE = 0.2;
/** Unknown line numbers listed (all are counted). */
export const UNKNOWN_LIST = 100;
/** Errors listed (all are counted). */
export const ERROR_LIST = 1000;

/** A failure of the import as a whole (e.g. the format cannot be told), not of one line. */
export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

/** What an import read (the CLI's `--json` shape, issue 9 §1). */
export interface ImportStats {
  format: TraceFormat | null;
  /** How the format was chosen, and every importer's detection score. */
  detected: { forced: boolean; scores: Partial<Record<TraceFormat, number>> };
  lines: number;
  events: number;
  byKind: Record<string, number>;
  headers: number;
  ignored: number;
  /** Lines joined to the line before them (wrapped lines rejoined). */
  rejoined: number;
  unknown: { count: number; lines: number[] };
  errors: { count: number; list: { line: number; message: string }[] };
  /** Seconds since the Unix epoch at which wall-clock event times are 0 (Importer.timeOrigin), or null. */
  timeOrigin: number | null;
}

/** The statistics of an import that has read nothing yet (`forced`: the format was given, not detected). */
export function emptyImportStats(forced: boolean): ImportStats {
  return {
    format: null,
    detected: { forced, scores: {} },
    lines: 0,
    events: 0,
    byKind: {},
    headers: 0,
    ignored: 0,
    rejoined: 0,
    unknown: { count: 0, lines: [] },
    errors: { count: 0, list: [] },
    timeOrigin: null,
  };
}

/** Receives each event with its 1-based line number. */
export type EventCallback = (e: TraceEvent, line: number) => void;

/** Streams one trace through one importer (see the file comment). */
export class ImportDriver {
  readonly stats: ImportStats;
  private imp: Importer | null = null;
  private partial = '';
  private lineNo = 0;
  // Detection: held lines (with their numbers) until DETECT_LINES non-blank ones.
  private held: { no: number; text: string }[] = [];
  private heldNonBlank = 0;
  // The previous line, when it did not parse and may continue on the next (wrapped-line rejoin).
  private pendingNo = 0;
  private pendingText: string | null = null;
  private pendingResult: LineResult | null = null;
  // The code units of the chunk being parsed (for Importer.parseRange).
  private readonly codeBuf = new CodeUnitsBuffer();
  // Events by kind, counted here and copied into stats.byKind after each chunk (syncKinds): a
  // string-keyed property update per event costs more than parsing a field.
  private readonly kindNames: string[] = [];
  private readonly kindCounts: number[] = [];

  /**
   * @param importers one per format (TRACE_FORMATS order is the tie order only for error messages).
   * @param forced a format to use without detection (`--format`); ImportError when no importer has it.
   */
  constructor(
    private readonly importers: readonly Importer[],
    forced?: TraceFormat,
  ) {
    this.stats = emptyImportStats(forced !== undefined);
    for (const i of importers) i.reset();
    if (forced !== undefined) {
      const imp = importers.find((i) => i.format === forced);
      if (!imp) throw new ImportError(`unknown format "${forced}" (formats: ${TRACE_FORMATS.join(', ')})`);
      this.imp = imp;
      this.stats.format = forced;
    }
  }

  /** The importer in use (after detection), or null. */
  get importer(): Importer | null {
    return this.imp;
  }

  /**
   * Parses the complete lines of `chunk` (the rest waits for the next chunk or `end`). `codes`,
   * when the caller has them (an ASCII chunk read as bytes: main/store/chunk-text.ts), are the
   * chunk's code units, `codes[i] === chunk.charCodeAt(i)`, valid during the call: the importer
   * parses them without encoding the chunk again.
   */
  push(chunk: string, onEvent: EventCallback, codes?: CodeUnits): void {
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      this.partial += chunk;
      return;
    }
    // The first line (it may have begun in the previous chunk) is cut out as before: one branch-free
    // path, so the optimised loop below never meets code that has not run yet.
    const first = this.partial + chunk.slice(0, nl);
    this.partial = '';
    this.lineIn(first, 0, first.length, null, onEvent);
    // The chunk's code units (the caller's, or made once the importer that parses in place is known).
    let units: CodeUnits | null = codes ?? null;
    let start = nl + 1;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      if (units === null && this.imp !== null && this.imp.parseRange !== undefined) units = this.codeBuf.of(chunk);
      this.lineIn(chunk, start, nl, units, onEvent);
      start = nl + 1;
    }
    this.partial = chunk.slice(start);
    this.syncKinds();
  }

  /** Copies the counts by kind into stats.byKind (in the order the kinds first appeared). */
  private syncKinds(): void {
    const names = this.kindNames;
    for (let i = 0; i < names.length; i++) this.stats.byKind[names[i]!] = this.kindCounts[i]!;
  }

  /** Parses the last line (when the text does not end with a newline) and settles pending lines. */
  end(onEvent: EventCallback): ImportStats {
    if (this.partial !== '') {
      const p = this.partial;
      this.partial = '';
      this.lineIn(p, 0, p.length, null, onEvent);
    }
    if (this.imp === null && this.held.length > 0) this.decide();
    if (this.imp !== null) {
      this.flushHeld(onEvent);
      this.settlePending(onEvent);
      const last = this.imp.finish?.() ?? null;
      if (last !== null) this.count(this.lineNo, last, onEvent);
      this.stats.timeOrigin = this.imp.timeOrigin?.() ?? null;
    }
    this.syncKinds();
    return this.stats;
  }

  /**
   * The line text[start, end) (its "\r" dropped here). While an importer with `parseRange` is in use
   * and no line waits for a rejoin, the line is parsed inside `text` with no substring: only a line
   * that did not parse is cut out (it may be the first half of a wrapped line). `codes`: the text's
   * code units, or null (the importer makes them).
   */
  private lineIn(text: string, start: number, end: number, codes: CodeUnits | null, onEvent: EventCallback): void {
    if (end > start && text.charCodeAt(end - 1) === 13 /* \r */) end--;
    const imp = this.imp;
    if (imp !== null && this.pendingText === null && imp.parseRange !== undefined) {
      const no = ++this.lineNo;
      this.stats.lines = no;
      const r = codes === null ? imp.parseRange(text, start, end) : imp.parseRange(text, start, end, codes);
      if (r.t === 'unknown' || r.t === 'error') {
        this.pendingNo = no;
        this.pendingText = text.slice(start, end);
        this.pendingResult = r;
        return;
      }
      this.count(no, r, onEvent);
      return;
    }
    this.line(start === 0 && end === text.length ? text : text.slice(start, end), onEvent);
  }

  private line(text: string, onEvent: EventCallback): void {
    const no = ++this.lineNo;
    this.stats.lines = no;
    if (this.imp === null) {
      this.held.push({ no, text });
      if (text.trim() !== '' && ++this.heldNonBlank >= DETECT_LINES) {
        this.decide();
        this.flushHeld(onEvent);
      }
      return;
    }
    this.parseLine(no, text, onEvent);
  }

  /** Picks the importer from the held lines (ImportError when none is clearly the format). */
  private decide(): void {
    const sample = this.held.filter((l) => l.text.trim() !== '').map((l) => l.text);
    let best: Importer | null = null;
    let bestScore = -1;
    let tie = false;
    for (const imp of this.importers) {
      const s = sample.length === 0 ? 0 : imp.detect(sample);
      imp.reset();
      this.stats.detected.scores[imp.format] = Math.round(s * 1000) / 1000;
      if (s > bestScore) {
        best = imp;
        bestScore = s;
        tie = false;
      } else if (s === bestScore) tie = true;
    }
    const scores = Object.entries(this.stats.detected.scores)
      .map(([f, s]) => `${f} ${s}`)
      .join(', ');
    if (sample.length === 0) throw new ImportError('the file has no text lines: nothing to import');
    if (best === null || bestScore < MIN_SCORE) throw new ImportError(`cannot tell the trace format: no importer recognises enough of the first ${sample.length} lines (scores: ${scores}); use --format (${TRACE_FORMATS.join(', ')})`);
    if (tie) throw new ImportError(`cannot tell the trace format: two importers score the first ${sample.length} lines alike (${scores}); use --format`);
    this.imp = best;
    this.stats.format = best.format;
  }

  private flushHeld(onEvent: EventCallback): void {
    const held = this.held;
    this.held = [];
    for (const l of held) this.parseLine(l.no, l.text, onEvent);
  }

  private parseLine(no: number, text: string, onEvent: EventCallback): void {
    const imp = this.imp!;
    if (this.pendingText !== null) {
      if (!imp.isLineStart(text)) {
        // Maybe one wrapped line: keep the join only when exactly one way parses as events.
        const a = imp.parse(this.pendingText + text);
        const b = imp.parse(this.pendingText + ' ' + text);
        const okA = a.t === 'event';
        const okB = b.t === 'event';
        if (okA !== okB) {
          const pn = this.pendingNo;
          this.pendingText = null;
          this.pendingResult = null;
          this.stats.rejoined++;
          this.count(pn, okA ? a : b, onEvent);
          return;
        }
      }
      this.settlePending(onEvent);
    }
    const r = imp.parse(text);
    if (r.t === 'unknown' || r.t === 'error') {
      this.pendingNo = no;
      this.pendingText = text;
      this.pendingResult = r;
      return;
    }
    this.count(no, r, onEvent);
  }

  private settlePending(onEvent: EventCallback): void {
    if (this.pendingText === null) return;
    const r = this.pendingResult!;
    const no = this.pendingNo;
    this.pendingText = null;
    this.pendingResult = null;
    this.count(no, r, onEvent);
  }

  private count(no: number, r: LineResult, onEvent: EventCallback): void {
    const s = this.stats;
    switch (r.t) {
      case 'event': {
        const events = r.events;
        const names = this.kindNames;
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          s.events++;
          // A handful of kinds: found by identity in a short list.
          let k = 0;
          while (k < names.length && names[k] !== e.kind) k++;
          if (k === names.length) {
            names.push(e.kind);
            this.kindCounts.push(0);
          }
          this.kindCounts[k]!++;
          onEvent(e, no);
        }
        break;
      }
      case 'header':
        s.headers++;
        break;
      case 'ignored':
        s.ignored++;
        break;
      case 'unknown':
        if (s.unknown.count++ < UNKNOWN_LIST) s.unknown.lines.push(no);
        break;
      case 'error':
        if (s.errors.count++ < ERROR_LIST) s.errors.list.push({ line: no, message: r.message });
        break;
    }
  }
}
