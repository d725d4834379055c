/**
 * Device lifecycle: properties and machine defaults, features, config space, config writes,
 * PROBE bytes, reset semantics and the event stream.
 */
import { describe, it, expect } from 'vitest';
import { EventLog, NULL_SINK } from '../../../../core/events/sink.ts';
import { decodeConfig, decodeProbeProperties } from '../../../../core/viommu/virtio-iommu/codec.ts';
import { buildReservedRegions, formatReservedRegion, validateProps } from '../../../../core/viommu/virtio-iommu/config.ts';
import {
  ATTACH_F_BYPASS, F_BYPASS_CONFIG, LINUX_DRIVER_FEATURES, S_OK, VIRTIO_ID_IOMMU, featureBit,
} from '../../../../core/viommu/virtio-iommu/constants.ts';
import { VirtioIommuDevice, defaultProps, parseReservedRegion } from '../../../../core/viommu/virtio-iommu/device.ts';
import { EP1, EP2, EP3, MODES, hexBytes, rig } from './helpers.ts';

describe('properties', () => {
  it('QEMU 9.0+ machine defaults', () => {
    expect(VIRTIO_ID_IOMMU).toBe(23);
    expect(defaultProps('q35')).toEqual({
      conformance: 'qemu', granule: 'host', awBits: 39, bootBypass: true,
      reservedRegions: [{ start: 0xfee00000n, end: 0xfeefffffn, subtype: 1 }],
      probeSize: 512, domainRange: [0, 0xffffffff],
      offer: { mmio: true, probe: true, bypassConfig: true, inputRange: true, domainRange: true },
      hostGeometry: 'realize',
    });
    const virt = defaultProps('virt');
    expect(virt.awBits).toBe(48);
    // Plain -M virt has a GICv2 (hw/arm/virt.c): the GICv2m MSI_SETSPI_NS frame is the doorbell.
    expect(virt.reservedRegions).toEqual([{ start: 0x08020000n, end: 0x08020fffn, subtype: 1 }]);
  });

  it('parses QEMU reserved-regions strings', () => {
    expect(parseReservedRegion('0xfee00000:0xfeefffff:1')).toEqual({ start: 0xfee00000n, end: 0xfeefffffn, subtype: 1 });
    expect(parseReservedRegion('0x8090000:0x809FFFF:1')).toEqual({ start: 0x8090000n, end: 0x809ffffn, subtype: 1 });
    expect(parseReservedRegion('1000:1fff:0')).toEqual({ start: 0x1000n, end: 0x1fffn, subtype: 0 });
    expect(parseReservedRegion('0xfffffffffffff000:0xffffffffffffffff:0')).toEqual({ start: 0xfffffffffffff000n, end: 0xffffffffffffffffn, subtype: 0 });
    expect(parseReservedRegion('zz:0x1:0')).toMatch(/start address .* hexadecimal/);
    expect(parseReservedRegion('0x1,0x2,0')).toMatch(/separated with ':'/);
    expect(parseReservedRegion('0x1::0')).toMatch(/end address/);
    // Like strtoull, '0xg' reads as 0 followed by 'x': a separator error, as in QEMU.
    expect(parseReservedRegion('0x1:0xg:0')).toMatch(/separated with ':'/);
    expect(parseReservedRegion('0x1:0x2:x')).toMatch(/non-negative decimal/);
    expect(parseReservedRegion('0x1:0x2:2')).toMatch(/invalid type/);
    expect(parseReservedRegion('0x3:0x2:0')).toMatch(/starts after its end/);
    expect(parseReservedRegion('0x10000000000000000:0x2:0')).toMatch(/start address/);
    expect(formatReservedRegion({ start: 0xfee00000n, end: 0xfeefffffn, subtype: 1 })).toBe('0xfee00000:0xfeefffff:1');
  });

  it('later reserved regions win on overlap (QEMU resv_region_list_insert)', () => {
    expect(buildReservedRegions([
      { start: 0x0n, end: 0xffffn, subtype: 0 },
      { start: 0x4000n, end: 0x4fffn, subtype: 1 },
      { start: 0xf000n, end: 0x10fffn, subtype: 1 },
      { start: 0x20000n, end: 0x20fffn, subtype: 0 },
    ])).toEqual([
      { start: 0x0n, end: 0x3fffn, subtype: 0 },
      { start: 0x4000n, end: 0x4fffn, subtype: 1 },
      { start: 0x5000n, end: 0xefffn, subtype: 0 },
      { start: 0xf000n, end: 0x10fffn, subtype: 1 },
      { start: 0x20000n, end: 0x20fffn, subtype: 0 },
    ]);
  });

  it('rejects invalid props as a bug; validateProps lists the problems', () => {
    const bad = { ...defaultProps('q35'), awBits: 31 };
    expect(validateProps(bad)).toEqual(['awBits: aw-bits must be within [32,64]']);
    expect(() => new VirtioIommuDevice(bad, [], NULL_SINK)).toThrow(RangeError);
    expect(validateProps({ ...defaultProps('q35'), reservedRegions: [{ start: 2n, end: 1n, subtype: 3 }] }).length).toBe(2);
  });
});

describe('features (virtio spec §2.2, §5.13.3)', () => {
  it('offers what QEMU offers and negotiates Linux\'s set by default', () => {
    const log = new EventLog();
    const dev = new VirtioIommuDevice(defaultProps('q35'), [EP1], log);
    // INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP, PROBE, MMIO, BYPASS_CONFIG, INDIRECT_DESC, EVENT_IDX, VERSION_1
    expect(dev.offeredFeatures).toBe(0x130000077n);
    expect(dev.negotiate()).toBe(0x130000077n);
    expect(dev.negotiate(0n)).toBe(0n);
    expect(dev.negotiate(0xffffffffffffffffn)).toBe(0x130000077n);
    expect(log.take().map((e) => e.kind === 'features' && [e.offered, e.accepted])).toEqual([
      [0x130000077n, 0x130000077n], [0x130000077n, 0n], [0x130000077n, 0x130000077n],
    ]);
    const lean = new VirtioIommuDevice({ ...defaultProps('q35'), offer: { mmio: false, probe: false, bypassConfig: false, inputRange: false, domainRange: false } }, [], NULL_SINK);
    expect(lean.offeredFeatures).toBe(0x130000004n);
    expect(LINUX_DRIVER_FEATURES & featureBit(3)).toBe(0n);
  });
});

describe('config space (40 bytes)', () => {
  it('q35 golden bytes', () => {
    const r = rig('qemu');
    const b = r.dev.readConfig();
    expect(hexBytes(b)).toBe('00f0ffffffffffff' + '0000000000000000' + 'ffffffff7f000000' + '00000000' + 'ffffffff' + '00020000' + '01000000');
    expect(r.events()).toEqual([{ kind: 'config-read', config: { pageSizeMask: '0xfffffffffffff000', inputRange: ['0x0', '0x7fffffffff'], domainRange: [0, 0xffffffff], probeSize: 512, bypass: 1 } }]);
  });

  it('virt golden bytes (aw-bits 48) and granule variants', () => {
    const dev = new VirtioIommuDevice(defaultProps('virt'), [], NULL_SINK);
    expect(hexBytes(dev.readConfig())).toBe('00f0ffffffffffff' + '0000000000000000' + 'ffffffffffff0000' + '00000000' + 'ffffffff' + '00020000' + '01000000');
    const g = (granule: '8k' | '16k' | '64k', awBits: number) => decodeConfig(new VirtioIommuDevice({ ...defaultProps('virt'), granule, awBits, bootBypass: false }, [], NULL_SINK).readConfig());
    expect(g('64k', 64)).toEqual({ pageSizeMask: 0xffffffffffff0000n, inputRange: { start: 0n, end: 0xffffffffffffffffn }, domainRange: { start: 0, end: 0xffffffff }, probeSize: 512, bypass: 0 });
    expect(g('8k', 32).pageSizeMask).toBe(0xffffffffffffe000n);
    expect(g('16k', 32).inputRange.end).toBe(0xffffffffn);
  });
});

describe('config writes (bypass @36; §1.3, table row 32)', () => {
  it.each(MODES)('writing 0 then 1 with BYPASS_CONFIG negotiated (%s)', (mode) => {
    const r = rig(mode);
    r.dev.writeConfig(36, Uint8Array.of(0));
    expect(r.dev.readConfig()[36]).toBe(0);
    r.dev.writeConfig(32, Uint8Array.of(0, 2, 0, 0, 1, 0, 0, 0)); // probe_size ignored, bypass = 1
    expect(decodeConfig(r.dev.readConfig())).toMatchObject({ probeSize: 512, bypass: 1 });
    expect(r.events().filter((e) => e.kind === 'config-write')).toEqual([
      { kind: 'config-write', bypass: 0, accepted: 1 },
      { kind: 'config-write', bypass: 1, accepted: 1 },
    ]);
  });

  it.each(MODES)('writes that do not cover byte 36 or run past 40 bytes change nothing (%s)', (mode) => {
    const r = rig(mode);
    r.dev.writeConfig(0, new Uint8Array(8));
    r.dev.writeConfig(37, Uint8Array.of(0));
    r.dev.writeConfig(36, new Uint8Array(5));
    expect(r.events()).toEqual([]);
    expect(r.dev.readConfig()[36]).toBe(1);
  });

  it.each(MODES)('without BYPASS_CONFIG negotiated (%s)', (mode) => {
    const r = rig(mode);
    r.dev.negotiate(LINUX_DRIVER_FEATURES & ~featureBit(F_BYPASS_CONFIG));
    r.events();
    r.dev.writeConfig(36, Uint8Array.of(1)); // same value
    r.dev.writeConfig(36, Uint8Array.of(0));
    if (mode === 'qemu') {
      expect(r.events()).toEqual([
        { kind: 'config-write', bypass: 1, accepted: 1 },
        { kind: 'config-write', bypass: 0, accepted: 0 },
        { kind: 'device-error', message: { message: 'cannot set config.bypass' } },
      ]);
      expect(r.dev.broken).toBe(true);
    } else {
      expect(r.events()).toEqual([
        { kind: 'config-write', bypass: 1, accepted: 0 },
        { kind: 'config-write', bypass: 0, accepted: 0 },
      ]);
      expect(r.dev.broken).toBe(false);
    }
    expect(r.dev.readConfig()[36]).toBe(1);
  });

  it.each(MODES)('a value other than 0 or 1 (%s)', (mode) => {
    const r = rig(mode);
    r.dev.writeConfig(36, Uint8Array.of(2));
    expect(r.dev.readConfig()[36]).toBe(1);
    expect(r.dev.broken).toBe(mode === 'qemu');
    if (mode === 'qemu') expect(r.events().find((e) => e.kind === 'device-error')).toEqual({ kind: 'device-error', message: { message: 'invalid config.bypass value \'2\'' } });
  });
});

describe('PROBE reply bytes', () => {
  it.each(MODES)('q35: one MSI RESV_MEM property, zero-filled, tail at probe_size (%s)', (mode) => {
    const r = rig(mode);
    const b = r.probe(EP1);
    expect(b.length).toBe(516);
    expect(hexBytes(b.subarray(0, 24))).toBe('01001400' + '01000000' + '0000e0fe00000000' + 'ffffeffe00000000');
    expect([...b.subarray(24, 512)].every((x) => x === 0)).toBe(true);
    expect(hexBytes(b.subarray(512))).toBe('00000000');
    expect(r.events()).toEqual([
      { kind: 'probe', endpoint: EP1, status: S_OK, regions: [{ subtype: 1, start: '0xfee00000', end: '0xfeefffff' }] },
      { kind: 'request', reqType: 5, status: S_OK, endpoint: EP1, used: 516 },
    ]);
  });

  it('reports regions in ascending order whatever the property order', () => {
    const r = rig('qemu', { reservedRegions: [{ start: 0xfee00000n, end: 0xfeefffffn, subtype: 1 }, { start: 0x0n, end: 0xfffn, subtype: 0 }, { start: 0xfffffffffffff000n, end: 0xffffffffffffffffn, subtype: 0 }] });
    const props = decodeProbeProperties(r.probe(EP3).subarray(0, 512)).properties;
    expect(props.map((p) => p.resvMem)).toEqual([
      { subtype: 0, reserved: 0, start: 0x0n, end: 0xfffn },
      { subtype: 1, reserved: 0, start: 0xfee00000n, end: 0xfeefffffn },
      { subtype: 0, reserved: 0, start: 0xfffffffffffff000n, end: 0xffffffffffffffffn },
    ]);
  });
});

describe('reset (§2.1)', () => {
  const populated = (mode: 'qemu' | 'spec') => {
    const r = rig(mode);
    r.attach(2, EP2);
    r.attach(1, EP1);
    r.attach(1, EP3);
    r.map(1, 0x1000n, 0x1fffn, 0n);
    r.map(2, 0x1000n, 0x1fffn, 0n);
    r.map(2, 0x2000n, 0x2fffn, 0n);
    r.dev.writeConfig(36, Uint8Array.of(0));
    r.events();
    return r;
  };

  it.each(MODES)('device reset: everything detached and freed, bypass kept (%s)', (mode) => {
    const r = populated(mode);
    r.dev.reset(false);
    expect(r.events()).toEqual([
      { kind: 'reset', system: 0 },
      { kind: 'detach', domain: 1, endpoint: EP3, implicit: 1 },
      { kind: 'detach', domain: 1, endpoint: EP1, implicit: 1 },
      { kind: 'domain-free', domain: 1, mappings: 1 },
      { kind: 'detach', domain: 2, endpoint: EP2, implicit: 1 },
      { kind: 'domain-free', domain: 2, mappings: 2 },
      { kind: 'endpoint-free', endpoint: EP1 },
      { kind: 'endpoint-free', endpoint: EP2 },
      { kind: 'endpoint-free', endpoint: EP3 },
    ]);
    expect(r.dev.snapshot()).toEqual({ bypass: 0, domains: [], endpoints: [] });
    expect(r.dev.mappingCount()).toBe(0);
    expect(r.dev.mappedBytes()).toBe(0n);
    expect(r.dev.readConfig()[36]).toBe(0);
  });

  it.each(MODES)('system reset restores boot-bypass (%s)', (mode) => {
    const r = populated(mode);
    r.dev.reset(true);
    expect(r.events()[0]).toEqual({ kind: 'reset', system: 1 });
    expect(r.dev.readConfig()[36]).toBe(1);
    expect(r.dev.snapshot().domains).toEqual([]);
    const off = rig(mode, { bootBypass: false });
    off.dev.writeConfig(36, Uint8Array.of(1));
    off.dev.reset(true);
    expect(off.dev.readConfig()[36]).toBe(0);
  });
});

describe('events and counters', () => {
  it('a full ATTACH/MAP/UNMAP/DETACH stream (qemu)', () => {
    const r = rig('qemu');
    r.attach(1, EP1, 0);
    r.map(1, 0x1000n, 0x2fffn, 0x40000n, 3);
    expect(r.dev.mappingCount()).toBe(1);
    expect(r.dev.mappedBytes()).toBe(0x2000n);
    r.unmap(1, 0x0n, 0xffffn);
    r.detach(1, EP1);
    expect(r.events()).toEqual([
      { kind: 'endpoint-alloc', endpoint: EP1 },
      { kind: 'domain-alloc', domain: 1, bypass: 0 },
      { kind: 'attach', domain: 1, endpoint: EP1 },
      { kind: 'request', reqType: 1, status: 0, domain: 1, endpoint: EP1, reqFlags: 0, used: 4 },
      { kind: 'map', domain: 1, virtStart: 0x1000n, virtEnd: 0x2fffn, physStart: 0x40000n, flags: 3 },
      { kind: 'request', reqType: 3, status: 0, domain: 1, virtStart: 0x1000n, virtEnd: 0x2fffn, physStart: 0x40000n, reqFlags: 3, used: 4 },
      { kind: 'unmap', domain: 1, virtStart: 0x1000n, virtEnd: 0x2fffn, physStart: 0x40000n, flags: 3 },
      { kind: 'request', reqType: 4, status: 0, domain: 1, virtStart: 0x0n, virtEnd: 0xffffn, used: 4 },
      { kind: 'detach', domain: 1, endpoint: EP1, implicit: 0 },
      { kind: 'domain-free', domain: 1, mappings: 0 },
      { kind: 'endpoint-free', endpoint: EP1 },
      { kind: 'request', reqType: 2, status: 0, domain: 1, endpoint: EP1, used: 4 },
    ]);
  });

  it.each(MODES)('a disabled sink sees nothing and the device behaves the same (%s)', (mode) => {
    const dev = new VirtioIommuDevice({ ...defaultProps('q35'), conformance: mode }, [EP1], NULL_SINK);
    const a = dev.handleRequest(new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, EP1, 0, 0, 0, ATTACH_F_BYPASS, 0, 0, 0, 0, 0, 0, 0]), 4);
    expect([...a]).toEqual([0, 0, 0, 0]);
    expect(dev.translate(EP1, 0x1000n, 4n, 1)).toEqual({ kind: 'bypass' });
  });
});
