// The machine of composable parts: the component lifecycle, the id-keyed table (allocate → finalize
// or abort, leaf-first teardown, busy removal), the emitter's component stamp, and virtio-iommu as
// the first component behind the vIOMMU interface.
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../core/events/sink.ts';
import { Component, Machine, TR_FAULT, TR_TRANSLATED, isVIommu, type HostIommuDevice, type Layer } from '../../../core/machine/index.ts';
import { VirtioIommuComponent } from '../../../core/viommu/virtio-iommu/component.ts';
import { defaultProps } from '../../../core/viommu/virtio-iommu/device.ts';
import { encodeRequest } from '../../../core/viommu/virtio-iommu/codec.ts';
import { T_ATTACH, T_MAP } from '../../../core/viommu/virtio-iommu/constants.ts';
import { runScenarioText } from '../../../core/run/index.ts';

/** A component that records its lifecycle calls in `calls` and fails realize/plug when told. */
class Probe extends Component {
  constructor(
    id: string,
    readonly calls: string[],
    opts: { layer?: Layer; uses?: string[]; failRealize?: string; failPlug?: string } = {},
  ) {
    super({ id, kind: 'probe', layer: opts.layer ?? 'backend', uses: opts.uses });
    this.failRealize = opts.failRealize ?? null;
    this.failPlug = opts.failPlug ?? null;
  }
  private readonly failRealize: string | null;
  private readonly failPlug: string | null;
  protected onRealize(): string | null {
    this.calls.push(`realize ${this.id}`);
    if (this.failRealize === null) this.emitter.emit('reset', { system: 0 });
    return this.failRealize;
  }
  protected onReset(system: boolean): void {
    this.calls.push(`reset ${this.id} ${system}`);
  }
  protected onUnrealize(): void {
    this.calls.push(`unrealize ${this.id}`);
  }
  protected override onPlug(): string | null {
    this.calls.push(`plug ${this.id}`);
    return this.failPlug;
  }
  protected override onUnplug(): void {
    this.calls.push(`unplug ${this.id}`);
  }
}

/** A log that records the component stamp of each event as it is emitted. */
function stampLog(): { log: EventLog; stamps: string[] } {
  const stamps: string[] = [];
  const log: EventLog = new EventLog(() => stamps.push(log.component));
  return { log, stamps };
}

describe('Machine: the id-keyed table', () => {
  it('gives codes from 1 in allocation order, hides allocated components until finalized, and aborts them', () => {
    const m = new Machine(new EventLog());
    const calls: string[] = [];
    const a = m.allocate(new Probe('a', calls));
    expect(a.code).toBe(1);
    expect(m.get('a')).toBeUndefined();
    expect(m.components()).toEqual([]);
    m.finalize(a);
    expect(m.get('a')).toBe(a);
    const b = m.allocate(new Probe('b', calls));
    expect(b.code).toBe(2);
    m.abort(b);
    expect(m.get('b')).toBeUndefined();
    // The aborted id is free again; its code is not reused.
    expect(m.add(new Probe('b', calls)).code).toBe(3);
    expect(() => m.abort(a)).toThrow(/not allocated/);
    expect(() => m.finalize(a)).toThrow(/not allocated/);
  });

  it('refuses a taken id, a component using one not in the machine, and a bad id', () => {
    const m = new Machine(new EventLog());
    m.add(new Probe('a', []));
    expect(() => m.allocate(new Probe('a', []))).toThrow(/'a' is taken/);
    expect(() => m.allocate(new Probe('c', [], { uses: ['zz'] }))).toThrow(/uses 'zz'/);
    expect(() => new Probe('Bad id', [])).toThrow(RangeError);
  });

  it('looks components up by layer', () => {
    const m = new Machine(new EventLog());
    const v = m.add(new Probe('v', [], { layer: 'viommu' }));
    m.add(new Probe('b', [], { layer: 'backend' }));
    expect(m.require('v', 'viommu')).toBe(v);
    expect(() => m.require('v', 'backend')).toThrow(/no backend component 'v'/);
    expect(m.components('backend').map((c) => c.id)).toEqual(['b']);
  });

  it('realizes in allocation order, stops at the first failure with its message, resets realized components', () => {
    const calls: string[] = [];
    const m = new Machine(new EventLog());
    m.add(new Probe('a', calls));
    m.add(new Probe('b', calls, { failRealize: 'aw-bits 48 > host aw-bits 39' }));
    m.add(new Probe('c', calls));
    expect(m.realize()).toBe('b: aw-bits 48 > host aw-bits 39');
    expect(calls).toEqual(['realize a', 'realize b']);
    expect(m.get('b')!.state).toBe('created');
    m.reset(true);
    expect(calls.slice(2)).toEqual(['reset a true']);
  });

  it('tears down leaf-first: users before what they use', () => {
    const calls: string[] = [];
    const m = new Machine(new EventLog());
    m.add(new Probe('iommu', calls, { layer: 'iommu' }));
    m.add(new Probe('backend', calls, { uses: ['iommu'] }));
    m.add(new Probe('hiod', calls, { layer: 'host-iommu-device', uses: ['backend'] }));
    expect(m.realize()).toBeNull();
    calls.length = 0;
    m.teardown();
    expect(calls).toEqual(['unrealize hiod', 'unrealize backend', 'unrealize iommu']);
    expect(m.components()).toEqual([]);
  });

  it('hotplugs (realize + plug, then finalize) and aborts a failed plug; unplug refuses a component in use', () => {
    const calls: string[] = [];
    const m = new Machine(new EventLog());
    m.add(new Probe('backend', calls));
    expect(m.realize()).toBeNull();
    expect(m.plug(new Probe('bad', calls, { failPlug: 'no slot' }))).toBe('no slot');
    expect(m.get('bad')).toBeUndefined();
    expect(m.plug(new Probe('worse', calls, { failRealize: 'cannot realize' }))).toBe('cannot realize');
    expect(m.get('worse')).toBeUndefined();
    const d = new Probe('dev', calls, { uses: ['backend'] });
    expect(m.plug(d)).toBeNull();
    expect(d.hotplugged).toBe(true);
    expect(m.get('dev')).toBe(d);
    expect(m.unplug('backend')).toBe('backend is in use by dev');
    expect(m.unplug('nope')).toBe("no component 'nope'");
    calls.length = 0;
    expect(m.unplug('dev')).toBeNull();
    expect(calls).toEqual(['unplug dev', 'unrealize dev']);
    expect(m.unplug('backend')).toBeNull();
  });

  it('lifecycle calls out of order are bugs', () => {
    const m = new Machine(new EventLog());
    const a = m.add(new Probe('a', []));
    expect(() => a.reset(false)).toThrow(/reset in state created/);
    expect(a.realize()).toBeNull();
    expect(() => a.realize()).toThrow(/realize in state realized/);
    a.unrealize();
    expect(a.state).toBe('unrealized');
    expect(() => new Probe('x', []).emitter).toThrow(/not allocated/);
  });

  it("stamps each event with its emitting component's id", () => {
    const { log, stamps } = stampLog();
    const m = new Machine(log);
    m.add(new Probe('a', []));
    m.add(new Probe('b', []));
    m.realize();
    expect(stamps).toEqual(['a', 'b']);
    expect(log.take().map((e) => e.kind)).toEqual(['reset', 'reset']);
  });
});

describe('VirtioIommuComponent: virtio-iommu behind the vIOMMU interface', () => {
  const EP = 8;
  function realized() {
    const { log, stamps } = stampLog();
    const m = new Machine(log);
    const v = m.add(new VirtioIommuComponent('viommu0', defaultProps('q35'), [EP]));
    expect(m.realize()).toBeNull();
    return { m, v, log, stamps };
  }

  it('is a vIOMMU of kind virtio-iommu; its device exists only while realized', () => {
    const { v } = realized();
    expect(isVIommu(v)).toBe(true);
    expect([v.kind, v.layer, v.code]).toEqual(['virtio-iommu', 'viommu', 1]);
    expect(v.device.conformance).toBe('qemu');
    v.unrealize();
    expect(() => v.device).toThrow(/not realized/);
  });

  it('translates through the fast contract and the outcome form, and stamps its events', () => {
    const { v, log, stamps } = realized();
    const tail = new Uint8Array(4);
    v.device.handleRequestInto(encodeRequest({ type: T_ATTACH, domain: 1, endpoint: EP, flags: 0 }), tail);
    v.device.handleRequestInto(encodeRequest({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x9000n, flags: 3 }), tail);
    expect(v.translate(EP, 0, 0x1010, 4, 1)).toBe(TR_TRANSLATED);
    expect([v.slots.physHi, v.slots.physLo]).toEqual([0, 0x9010]);
    expect(v.translate(EP, 0, 0x5000, 4, 1)).toBe(TR_FAULT);
    expect(v.translateAccess(EP, 0x1ff0n, 4n, 2)).toEqual({ kind: 'translated', phys: 0x9ff0n, domain: 1 });
    expect(v.device.takeFaultRecords()).toHaveLength(1);
    v.translate(EP, 0, 0x6000, 4, 1);
    v.discardFaultReports();
    expect(v.device.takeFaultRecords()).toEqual([]);
    expect(log.take().length).toBe(stamps.length);
    expect(new Set(stamps)).toEqual(new Set(['viommu0']));
  });

  it('reset goes to the device: a system reset restores boot-bypass', () => {
    const { v } = realized();
    v.device.negotiate();
    v.reset(true);
    expect(v.device.snapshot().bypass).toBe(1);
  });

  it('set_iommu_device reaches virtio-iommu: a second host device on the same endpoint is refused (QEMU)', () => {
    const { v } = realized();
    const hiod: HostIommuDevice = {
      id: 'hiod0', variant: 'iommufd-vfio', name: '0000:3b:00.0', aliasedEndpoint: EP, behindPciBridge: false,
      getCap: () => 0, getIovaRanges: () => [{ start: 0n, end: 0x7fffffffffn }], getPageSizeMask: () => 0x1000n,
    };
    expect(v.setIommuDevice(EP, hiod)).toBeNull();
    expect(v.setIommuDevice(EP, hiod)).toBe('Host IOMMU device already exists');
  });

  it("the runner builds and realizes the scenario's machine: one virtio-iommu, viommu0", () => {
    const { run } = runScenarioText('name: m\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: d, bdf: "00:01.0"}\nsteps:\n  - probe: {endpoint: d}\n', 'm.yaml');
    expect(run!.machine.components().map((c) => [c.id, c.kind, c.layer, c.state])).toEqual([['viommu0', 'virtio-iommu', 'viommu', 'realized']]);
  });
});
