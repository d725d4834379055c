/**
 * The machine: its components in one id-keyed table, as iommufd holds its objects
 * (drivers/iommu/iommufd/main.c): a component is allocated (an entry, not yet visible), then
 * finalized or aborted; lookups see finalized components only; teardown goes leaf-first (a
 * component before the ones it uses), and a component another one uses cannot be removed.
 *
 * Lifecycle of the whole machine follows QEMU's: coldplugged components are realized in allocation
 * order at `realize()` (QEMU fails to start on the first error); `plug()` hotplugs one (device_add:
 * realize + the hotplug handler's plug, aborted on failure); `unplug()` removes one (device_del);
 * `reset()` resets every realized component in allocation order.
 */
import { Component, ComponentEmitter, type Layer, type StampingSink } from './component.ts';

/** The machine of composable parts (see the module comment). */
export class Machine {
  private readonly table = new Map<string, Component>();
  /** Ids allocated and not yet finalized: in the table (the id is taken) but invisible to lookups. */
  private readonly pending = new Set<string>();
  private nextCode = 1;

  /** `sink` receives every component's events, stamped with the component's id. */
  constructor(private readonly sink: StampingSink) {}

  /**
   * Puts `c` in the table (not visible to lookups until finalize) and gives it its code and
   * emitter. Throws when the id is taken or a component it uses is not in the machine (bugs: the
   * scenario's validation names these).
   */
  allocate<C extends Component>(c: C): C {
    if (this.table.has(c.id)) throw new Error(`machine: component id '${c.id}' is taken`);
    for (const u of c.uses) if (this.get(u) === undefined) throw new Error(`machine: ${c.id} uses '${u}', which is not in the machine`);
    c.bind(this.nextCode++, new ComponentEmitter(this.sink, c.id));
    this.table.set(c.id, c);
    this.pending.add(c.id);
    return c;
  }

  /** Makes an allocated component visible (iommufd_object_finalize). Throws when `c` is not pending. */
  finalize(c: Component): void {
    if (!this.pending.delete(c.id) || this.table.get(c.id) !== c) throw new Error(`machine: finalize of ${c.id}, which is not allocated`);
  }

  /** Drops an allocated component that was never finalized (iommufd_object_abort). Its code is not reused. */
  abort(c: Component): void {
    if (!this.pending.delete(c.id) || this.table.get(c.id) !== c) throw new Error(`machine: abort of ${c.id}, which is not allocated`);
    this.table.delete(c.id);
  }

  /** Allocates and finalizes `c` (a coldplugged component, realized by realize()). */
  add<C extends Component>(c: C): C {
    this.finalize(this.allocate(c));
    return c;
  }

  /** The finalized component with this id, or undefined. */
  get(id: string): Component | undefined {
    return this.pending.has(id) ? undefined : this.table.get(id);
  }

  /** The component with this id in `layer`; throws when there is none (a caller bug). */
  require<C extends Component>(id: string, layer: Layer): C {
    const c = this.get(id);
    if (c === undefined || c.layer !== layer) throw new Error(`machine: no ${layer} component '${id}'`);
    return c as C;
  }

  /** Finalized components in allocation order (of one layer when given). */
  components(layer?: Layer): Component[] {
    const out: Component[] = [];
    for (const c of this.table.values()) if (!this.pending.has(c.id) && (layer === undefined || c.layer === layer)) out.push(c);
    return out;
  }

  /**
   * Realizes every created component in allocation order (what a component uses comes first).
   * Stops at the first failure and returns its message prefixed with the component id (QEMU fails
   * to start), else null.
   */
  realize(): string | null {
    for (const c of this.components()) {
      if (c.state !== 'created') continue;
      const error = c.realize();
      if (error !== null) return `${c.id}: ${error}`;
    }
    return null;
  }

  /** Resets every realized component in allocation order (`system`: a system reset). */
  reset(system: boolean): void {
    for (const c of this.components()) if (c.state === 'realized') c.reset(system);
  }

  /**
   * Hotplugs `c` (device_add): allocate, realize, plug, then finalize; on a failure the component
   * is unrealized if it was realized and aborted, and QEMU's message returned. Null on success.
   */
  plug(c: Component): string | null {
    this.allocate(c);
    c.hotplugged = true;
    let error = c.realize();
    if (error === null) {
      error = c.plug();
      if (error !== null) c.unrealize();
    }
    if (error !== null) this.abort(c);
    else this.finalize(c);
    return error;
  }

  /**
   * Unplugs and removes component `id` (device_del). Returns null, or why not: it is not in the
   * machine, or another component uses it (iommufd's EBUSY while an object is referenced).
   */
  unplug(id: string): string | null {
    const c = this.get(id);
    if (c === undefined) return `no component '${id}'`;
    const users = this.usersOf(id);
    if (users.length > 0) return `${id} is in use by ${users.join(', ')}`;
    if (c.state === 'realized') {
      c.unplug();
      c.unrealize();
    }
    this.table.delete(id);
    return null;
  }

  /** Ids of the finalized components that use `id`. */
  usersOf(id: string): string[] {
    return this.components()
      .filter((c) => c.uses.includes(id))
      .map((c) => c.id);
  }

  /**
   * Unrealizes and removes every component, leaf-first: reverse allocation order, so a component
   * goes before the ones it uses (they were in the machine first).
   */
  teardown(): void {
    for (const c of [...this.table.values()].reverse()) {
      if (c.state === 'realized') c.unrealize();
      this.table.delete(c.id);
    }
    this.pending.clear();
  }
}
