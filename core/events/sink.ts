/**
 * Where emitters put events. Devices and the runner never build an event unless `enabled` is true
 * (STYLE.md: tracing checks "enabled" before building payloads).
 */
import type { EventKind, EventPayload, LabEvent } from './catalog.ts';
import type { VirtualClock } from '../engine/clock.ts';

/**
 * An emitted event with its envelope: `seq`, its position in the run's stream; `component`, the id
 * of the emitting component ('viommu0'; absent for the run's own events and for sinks that do not
 * stamp one); `time`, the virtual time in ns when its operation completed (core/engine/clock.ts;
 * absent when the sink has no clock).
 */
export type SeqEvent = LabEvent & { seq: number; component?: string; time?: number; line?: number };

/** Receives events from the device models. */
export interface EventSink {
  /** False when nothing records events: emitters skip building payloads entirely. */
  readonly enabled: boolean;
  /**
   * True when the sink only folds the events into metrics (a run with events off: the runner's
   * MetricsOnlySink): a u64 field below 2^53 may then be given as a number (core/engine/u64.ts
   * leanU64; the metrics reducer reads both), so the hot paths build no bigint per field. Absent
   * or false: u64 fields are bigints, as EventPayload declares.
   */
  readonly lean?: boolean;
  /** Emits one event of a catalog kind; the sink stamps `step` and `seq`. */
  emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void;
}

/**
 * The run's event log: stamps the current `step`, a 0-based `seq`, the emitting `component` (when
 * one is set) and, with a `clock`, the virtual `time` (the clock ticked by the event kind's cost);
 * keeps events until taken. `observer`, when given, sees every event as it is emitted (the
 * metrics reducer).
 */
export class EventLog implements EventSink {
  enabled = true;
  /** Scenario step index stamped on the next events (set by the runner). */
  step = 0;
  /**
   * Id of the component emitting the next events (set by its emitter, core/machine/component.ts
   * ComponentEmitter; '' = none): the envelope's `component`, left out when ''.
   */
  component = '';
  private next = 0;
  private pending: SeqEvent[] = [];

  constructor(
    private readonly observer?: (e: SeqEvent) => void,
    /** Stamps `time` on each event when given (the run's virtual clock). */
    private readonly clock?: VirtualClock,
  ) {}

  emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    const e = { kind, step: this.step, seq: this.next++, ...payload } as unknown as SeqEvent;
    if (this.component !== '') e.component = this.component;
    if (this.clock) e.time = this.clock.tickEvent(kind, payload as Readonly<Record<string, unknown>>);
    if (this.observer) this.observer(e);
    this.pending.push(e);
  }

  /** The virtual time (ns) after the last event: the clock's (0 without one). */
  get now(): number {
    return this.clock?.now ?? 0;
  }

  /** Number of events emitted so far. */
  get count(): number {
    return this.next;
  }

  /** Number of events emitted so far: the seq the next event gets (core/machine/component.ts StampingSink.seq). */
  get seq(): number {
    return this.next;
  }

  /** Returns and forgets the events emitted since the last call, in order. */
  take(): SeqEvent[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }
}

/** A sink that records nothing (benchmarks of the bare device). */
export const NULL_SINK: EventSink = { enabled: false, emit() {} };
