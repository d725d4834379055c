/**
 * A component of the machine (DESIGN.md §2): the model of one real object — a vIOMMU, a
 * HostIOMMUDevice, a host backend, a physical IOMMU, a guest DMA layer — with an id, a kind, a
 * layer and QEMU's device lifecycle (hw/core/qdev.c): realize → reset → unrealize, and plug/unplug
 * for hotplug (qdev_device_add / the hotplug handler's unplug). Its events go through an emitter
 * that stamps its id on the sink, so the event envelope can carry the emitting component.
 *
 * Error tiers: a realize or plug failure is a value, QEMU's Error message (QEMU fails to start, or
 * device_add fails); calling a lifecycle method in the wrong state is a bug and throws.
 */
import type { EventKind, EventPayload } from '../events/catalog.ts';
import type { EventSink } from '../events/sink.ts';

/** The layers, guest side first (DESIGN.md §2): guest DMA → vIOMMU → HostIOMMUDevice → host backend → physical IOMMU. */
export type Layer = 'guest' | 'viommu' | 'host-iommu-device' | 'backend' | 'iommu';

/** Every layer, guest side first. */
export const LAYERS: readonly Layer[] = ['guest', 'viommu', 'host-iommu-device', 'backend', 'iommu'];

/**
 * Lifecycle state: `created` (constructed, not realized), `realized`, `unrealized` (torn down or
 * unplugged). Visibility in the machine's table (allocated → finalized) is the machine's.
 */
export type ComponentState = 'created' | 'realized' | 'unrealized';

/**
 * A sink that stamps the current step and the emitting component on the events it receives (the
 * runner's sinks, core/events/sink.ts EventLog). `component` is the id of the component whose
 * emitter emits; '' for events of no component.
 */
export interface StampingSink extends EventSink {
  step: number;
  component: string;
  /**
   * Number of events emitted through this sink so far: the `seq` the next event gets (so the seq of
   * an event just emitted is `seq - 1`). What a component stamps as the `cause` of the events a
   * guest event leads to (a shadowed host call's `cause`). Counts every emitted event; events are
   * only emitted when `enabled`.
   */
  readonly seq: number;
  /**
   * The run's virtual time in ns after the last event (core/engine/clock.ts: the sum of the event
   * costs so far, as the store computes it): what timers (the guest's flush-queue timeout) are
   * measured against. 0 for a sink without a clock.
   */
  readonly now: number;
}

/**
 * A component's event sink: forwards to the machine's sink after stamping this component's id.
 * `enabled` is the target's, read on each check (emitters skip building payloads when false).
 */
export class ComponentEmitter implements EventSink {
  /** The target's `lean` (EventSink.lean), fixed with it. */
  readonly lean: boolean;
  constructor(
    private readonly target: StampingSink,
    /** Id of the component whose events this emitter stamps. */
    readonly component: string,
  ) {
    this.lean = target.lean === true;
  }

  get enabled(): boolean {
    return this.target.enabled;
  }

  /** The sink's event count: the seq of the next event (StampingSink.seq). */
  get seq(): number {
    return this.target.seq;
  }

  /** The sink's virtual time in ns (StampingSink.now). */
  get now(): number {
    return this.target.now;
  }

  emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    this.target.component = this.component;
    this.target.emit(kind, payload);
  }
}

/** What identifies a component: unique `id` ('viommu0'), `kind` (its model, 'virtio-iommu'), `layer`. */
export interface ComponentSpec {
  readonly id: string;
  readonly kind: string;
  readonly layer: Layer;
  /** Ids of the components this one holds references to (they must be in the machine first; teardown is leaf-first). */
  readonly uses?: readonly string[];
}

/**
 * Base of every component. Subclasses implement the hooks (onRealize, onReset, onUnrealize and, for
 * hotplug, onPlug/onUnplug); the machine drives the public lifecycle methods, which check the state.
 */
export abstract class Component {
  readonly id: string;
  readonly kind: string;
  readonly layer: Layer;
  readonly uses: readonly string[];
  /** Numeric code, unique in the machine, assigned at allocate (1, 2, … in allocation order; 0 = no component). */
  code = 0;
  /** Hotplugged (Machine.plug) rather than coldplugged. */
  hotplugged = false;
  private st: ComponentState = 'created';
  private out: ComponentEmitter | null = null;

  constructor(spec: ComponentSpec) {
    if (!/^[a-z][a-z0-9-]*$/.test(spec.id)) throw new RangeError(`component id '${spec.id}': lower-case letters, digits and '-', starting with a letter`);
    this.id = spec.id;
    this.kind = spec.kind;
    this.layer = spec.layer;
    this.uses = spec.uses ?? [];
  }

  /** Lifecycle state (ComponentState). */
  get state(): ComponentState {
    return this.st;
  }

  /** This component's event sink (stamps its id). Throws before the machine allocated it. */
  get emitter(): ComponentEmitter {
    if (this.out === null) throw new Error(`component ${this.id}: not allocated in a machine`);
    return this.out;
  }

  /** Called by Machine.allocate: the code and the emitter. */
  bind(code: number, emitter: ComponentEmitter): void {
    if (this.out !== null) throw new Error(`component ${this.id}: already in a machine`);
    this.code = code;
    this.out = emitter;
  }

  /**
   * QEMU's realize (DeviceClass.realize): builds the model. Returns null, or QEMU's error message
   * (the component stays `created`). Throws unless `created`.
   */
  realize(): string | null {
    this.expect('created', 'realize');
    const error = this.onRealize();
    if (error === null) this.st = 'realized';
    return error;
  }

  /** Device reset (`system` false) or system reset (true, QEMU's machine reset). Throws unless realized. */
  reset(system: boolean): void {
    this.expect('realized', 'reset');
    this.onReset(system);
  }

  /** QEMU's unrealize: releases what realize built. Throws unless realized. */
  unrealize(): void {
    this.expect('realized', 'unrealize');
    this.onUnrealize();
    this.st = 'unrealized';
  }

  /** Hotplug handler plug, after realize (device_add). Returns null or QEMU's error message. */
  plug(): string | null {
    this.expect('realized', 'plug');
    return this.onPlug();
  }

  /** Hotplug handler unplug, before unrealize (device_del). */
  unplug(): void {
    this.expect('realized', 'unplug');
    this.onUnplug();
  }

  protected abstract onRealize(): string | null;
  protected abstract onReset(system: boolean): void;
  protected abstract onUnrealize(): void;
  /** Default: accepted (a component that is not hotpluggable returns QEMU's refusal). */
  protected onPlug(): string | null {
    return null;
  }
  protected onUnplug(): void {}

  private expect(state: ComponentState, op: string): void {
    if (this.st !== state) throw new Error(`component ${this.id}: ${op} in state ${this.st} (needs ${state})`);
  }
}
