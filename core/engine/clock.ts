/**
 * The run's virtual clock: nanoseconds of simulated time, advanced by a declared cost per
 * operation, so that every event carries a time (the event envelope's `time`) and the same input
 * always gives the same times (nothing here reads a real clock).
 *
 * Cost model — PROVISIONAL: one fixed cost per event kind, charged when the operation the event
 * records completes; an event's time is the clock after its own cost. The figures are round
 * orders of magnitude (a virtqueue request round trip in microseconds, an IOTLB-hit translation in
 * tens of nanoseconds), not measurements; they exist so that times are ordered, deterministic and
 * roughly proportioned. A later issue replaces them with per-layer costs (host backend calls,
 * physical IOMMU walks) declared by the components. Changing a cost changes the times of new runs
 * only: stored times are never recomputed.
 */
import { EVENT_CATALOG, type EventKind, type KindSpec } from '../events/catalog.ts';

/** Nanoseconds each kind's operation costs (provisional; see the file comment). */
export const EVENT_COST_NS: Readonly<Record<EventKind, number>> = {
  features: 1_000,
  request: 2_000,
  'endpoint-alloc': 100,
  'endpoint-free': 100,
  'domain-alloc': 200,
  'domain-free': 200,
  attach: 300,
  detach: 300,
  map: 500,
  unmap: 500,
  probe: 1_000,
  translate: 50,
  fault: 1_000,
  'config-read': 200,
  'config-write': 200,
  'device-error': 100,
  reset: 1_000,
  // The run's own check of an expectation takes no simulated time.
  expectation: 0,
  // The host side (issue 7): an ioctl round trip, a host IOMMU walk, realize-time bookkeeping.
  'host-call': 2_000,
  'host-dma': 50,
  'host-fault': 1_000,
  'iommu-group': 0,
  'hiod-realize': 0,
  'set-iommu-device': 0,
  'device-plug': 0,
  'qemu-error': 0,
  // The guest DMA layer (issue 8): guest CPU work of a dma_map / dma_unmap (IOVA allocation, the
  // driver's mapping tree), a virtqueue kick and wait (a VM exit), a DMA through a stale entry like
  // a translation; a wait lasts its `ns` (KindSpec.costField), nothing more.
  'guest-probe': 0,
  'iova-reserve': 0,
  'dma-map': 300,
  'dma-unmap': 300,
  'guest-sync': 1_000,
  'fq-flush': 0,
  'stale-access': 50,
  'guest-log': 0,
  wait: 0,
  // Imported traces carry their own timestamps (the envelope's time is the trace's): no cost.
  'trace-map': 0,
  'trace-unmap': 0,
  'trace-fault': 0,
  'trace-attach': 0,
  'trace-group': 0,
  'trace-dma': 0,
  'trace-inval': 0,
  'trace-note': 0,
};

/** Cost of one operation of `kind` in ns (0 for kinds this build does not declare). */
export function eventCost(kind: string): number {
  return Object.hasOwn(EVENT_COST_NS, kind) ? EVENT_COST_NS[kind as EventKind] : 0;
}

/**
 * The field of `kind` whose value (ns) adds to its cost (KindSpec.costField: a `wait`), or
 * undefined. The store's encoder and the core's sinks both charge it, so their clocks agree.
 */
export function eventCostField(kind: string): string | undefined {
  return COST_FIELDS.get(kind);
}

/** Kinds that declare a costField (a handful): looked up per event by tickEvent. */
const COST_FIELDS = new Map<string, string>(
  Object.entries(EVENT_CATALOG as Readonly<Record<string, KindSpec>>).flatMap(([k, spec]) => (spec.costField === undefined ? [] : [[k, spec.costField] as [string, string]])),
);
/** Every kind's fixed cost (eventCost without the own-property check per event). */
const COSTS = new Map<string, number>(Object.entries(EVENT_COST_NS));

/** The variable part of an event's cost: its costField's value as a number of ns (0 when none or malformed). */
export function extraCost(v: unknown): number {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** A kind's cost as a sink keeps it (kindCost): the fixed ns, and the field whose value adds to it. */
export interface KindCost {
  readonly cost: number;
  readonly field: string | undefined;
}

/** The cost of `kind` for VirtualClock.tickKind (eventCost and eventCostField in one). */
export function kindCost(kind: string): KindCost {
  return { cost: COSTS.get(kind) ?? 0, field: COST_FIELDS.get(kind) };
}

/**
 * A virtual clock in integer nanoseconds from 0 (the run's start). Exact up to 2^53 ns (104 days
 * of simulated time).
 */
export class VirtualClock {
  /** Current time, ns. */
  now = 0;

  /** Advances by `ns` (a non-negative integer) and returns the new time. */
  advance(ns: number): number {
    return (this.now += ns);
  }

  /** Advances by the cost of an operation of `kind` and returns the new time: the time of its event. */
  tick(kind: string): number {
    return (this.now += eventCost(kind));
  }

  /** As tickEvent, for the kind's cost looked up once (kindCost). */
  tickKind(k: KindCost, payload: Readonly<Record<string, unknown>>): number {
    return (this.now += k.field === undefined ? k.cost : k.cost + extraCost(payload[k.field]));
  }

  /** Advances by the cost of event `kind` with its payload (the fixed cost plus its costField's ns) and returns the new time. */
  tickEvent(kind: string, payload: Readonly<Record<string, unknown>>): number {
    const field = COST_FIELDS.size === 0 ? undefined : COST_FIELDS.get(kind);
    return (this.now += (COSTS.get(kind) ?? 0) + (field === undefined ? 0 : extraCost(payload[field])));
  }
}
