/**
 * Translation decision order (reference §2.4 and translate.ts), permission faults, bypass
 * combinations, fault records and 64-bit edges, in both modes.
 */
import { describe, it, expect } from 'vitest';
import { decodeFault } from '../../../../core/viommu/virtio-iommu/codec.ts';
import {
  ATTACH_F_BYPASS, F_BYPASS_CONFIG, FAULT_F_ADDRESS, FAULT_F_READ, FAULT_F_WRITE, FAULT_R_DOMAIN, FAULT_R_MAPPING, FAULT_R_UNKNOWN,
  LINUX_DRIVER_FEATURES, MAP_F_READ, MAP_F_WRITE, S_INVAL, S_OK, featureBit,
} from '../../../../core/viommu/virtio-iommu/constants.ts';
import { TR_FAULT, TR_TRANSLATED } from '../../../../core/viommu/virtio-iommu/device.ts';
import { EP1, EP2, EP3, MODES, NO_EP, rig, type Mode } from './helpers.ts';

const both = <T>(q: T, s: T): Record<Mode, T> => ({ qemu: q, spec: s });
const fault = (reason: number, flags: number, address: bigint, endpoint = EP1) => ({ kind: 'fault', reason, flags, address, endpoint });
const ALL_OFFERED = { mmio: true, probe: true, bypassConfig: true, inputRange: true, domainRange: true };

describe('translate: bypass', () => {
  it.each(MODES)('boot-bypass: an unattached endpoint is identity-mapped, reserved regions included (%s)', (mode) => {
    const r = rig(mode, { reservedRegions: [{ start: 0xfee00000n, end: 0xfeefffffn, subtype: 1 }, { start: 0x1000n, end: 0x1fffn, subtype: 0 }] });
    expect(r.dev.translate(EP1, 0x1234n, 8n, 1)).toEqual({ kind: 'bypass' });
    expect(r.dev.translate(EP1, 0xfee00000n, 4n, 2)).toEqual({ kind: 'bypass' });
    expect(r.dev.translate(EP1, 0xffffffffffffffffn, 1n, 2)).toEqual({ kind: 'bypass' });
    expect(r.events()).toEqual([
      { kind: 'translate', endpoint: EP1, iova: 0x1234n, phys: 0x1234n, size: 8n, access: 1, path: 1 },
      { kind: 'translate', endpoint: EP1, iova: 0xfee00000n, phys: 0xfee00000n, size: 4n, access: 2, path: 1 },
      { kind: 'translate', endpoint: EP1, iova: 0xffffffffffffffffn, phys: 0xffffffffffffffffn, size: 1n, access: 2, path: 1 },
    ]);
    expect(r.dev.takeFaultRecords()).toEqual([]);
  });

  it.each(MODES)('a bypass domain is identity-mapped; config.bypass does not matter (%s)', (mode) => {
    const r = rig(mode, { bootBypass: false });
    expect(r.attach(3, EP1, ATTACH_F_BYPASS)).toBe(S_OK);
    expect(r.dev.translate(EP1, 0x5000n, 4n, 2)).toEqual({ kind: 'bypass' });
  });

  it.each(MODES)('config.bypass written to 0 turns unattached endpoints off (%s)', (mode) => {
    const r = rig(mode);
    r.dev.writeConfig(36, Uint8Array.of(0));
    const out = r.dev.translate(EP1, 0x5000n, 4n, 1);
    // QEMU: EP1 is not in the endpoint tree → UNKNOWN. Spec: unattached → DOMAIN.
    expect(out).toEqual(fault(both(FAULT_R_UNKNOWN, FAULT_R_DOMAIN)[mode], FAULT_F_ADDRESS, 0x5000n));
  });

  it.each(MODES)('BYPASS_CONFIG not offered (%s)', (mode) => {
    const r = rig(mode, { offer: { ...ALL_OFFERED, bypassConfig: false } });
    // The spec's bypass mode needs F_BYPASS_CONFIG offered; QEMU only looks at config.bypass.
    expect(r.dev.translate(EP1, 0x5000n, 4n, 1)).toEqual(mode === 'qemu' ? { kind: 'bypass' } : fault(FAULT_R_DOMAIN, FAULT_F_ADDRESS, 0x5000n));
  });

  it.each(MODES)('BYPASS_CONFIG offered but not accepted: bypass = 1 still applies (%s)', (mode) => {
    const r = rig(mode);
    r.dev.negotiate(LINUX_DRIVER_FEATURES & ~featureBit(F_BYPASS_CONFIG));
    expect(r.dev.translate(EP1, 0x5000n, 4n, 1)).toEqual({ kind: 'bypass' });
  });
});

describe('translate: decision order without bypass', () => {
  const setup = (mode: Mode) => {
    const r = rig(mode, {
      bootBypass: false,
      awBits: 64,
      reservedRegions: [{ start: 0xfee00000n, end: 0xfeefffffn, subtype: 1 }, { start: 0x7000000n, end: 0x7ffffffn, subtype: 0 }],
    });
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0x10000n, 0x10fffn, 0xabc000n, MAP_F_READ)).toBe(S_OK);
    expect(r.map(1, 0x11000n, 0x11fffn, 0xdef000n, MAP_F_WRITE)).toBe(S_OK);
    expect(r.map(1, 0x12000n, 0x12fffn, 0x123000n, MAP_F_READ | MAP_F_WRITE)).toBe(S_OK);
    expect(r.map(1, 0x20000n, 0x20fffn, 0x0n, 0)).toBe(S_OK);
    r.events();
    return r;
  };

  it.each(MODES)('translates and checks permissions (%s)', (mode) => {
    const r = setup(mode);
    expect(r.dev.translate(EP1, 0x10123n, 4n, 1)).toEqual({ kind: 'translated', phys: 0xabc123n, domain: 1 });
    expect(r.dev.translate(EP1, 0x10123n, 4n, 2)).toEqual(fault(FAULT_R_MAPPING, FAULT_F_WRITE | FAULT_F_ADDRESS, 0x10123n));
    expect(r.dev.translate(EP1, 0x11010n, 4n, 2)).toEqual({ kind: 'translated', phys: 0xdef010n, domain: 1 });
    expect(r.dev.translate(EP1, 0x11010n, 4n, 1)).toEqual(fault(FAULT_R_MAPPING, FAULT_F_READ | FAULT_F_ADDRESS, 0x11010n));
    expect(r.dev.translate(EP1, 0x12fffn, 1n, 2)).toEqual({ kind: 'translated', phys: 0x123fffn, domain: 1 });
    expect(r.dev.translate(EP1, 0x20000n, 1n, 1)).toEqual(fault(FAULT_R_MAPPING, FAULT_F_READ | FAULT_F_ADDRESS, 0x20000n));
    expect(r.dev.translate(EP1, 0x30000n, 1n, 1)).toEqual(fault(FAULT_R_MAPPING, FAULT_F_ADDRESS, 0x30000n));
    // Events: translate for hits, fault for faults.
    expect(r.events().map((e) => e.kind)).toEqual(['translate', 'fault', 'translate', 'fault', 'translate', 'fault', 'fault']);
    // One 24-byte record per fault, in order, reserved fields zero.
    const recs = r.dev.takeFaultRecords();
    expect(recs.map((b) => b.length)).toEqual([24, 24, 24, 24]);
    expect(recs.map(decodeFault)).toEqual([
      { reason: 2, reserved: 0, flags: 0x102, endpoint: EP1, reserved1: 0, address: 0x10123n },
      { reason: 2, reserved: 0, flags: 0x101, endpoint: EP1, reserved1: 0, address: 0x11010n },
      { reason: 2, reserved: 0, flags: 0x101, endpoint: EP1, reserved1: 0, address: 0x20000n },
      { reason: 2, reserved: 0, flags: 0x100, endpoint: EP1, reserved1: 0, address: 0x30000n },
    ]);
    expect(r.dev.takeFaultRecords()).toEqual([]);
  });

  it.each(MODES)('reserved regions: MSI identity, RESERVED faults; checked before mappings (%s)', (mode) => {
    const r = setup(mode);
    expect(r.dev.translate(EP1, 0xfee00040n, 4n, 2)).toEqual({ kind: 'msi' });
    expect(r.events()).toEqual([{ kind: 'translate', endpoint: EP1, domain: 1, iova: 0xfee00040n, phys: 0xfee00040n, size: 4n, access: 2, path: 2 }]);
    expect(r.dev.translate(EP1, 0x7000010n, 4n, 1)).toEqual(fault(FAULT_R_MAPPING, FAULT_F_ADDRESS, 0x7000010n));
  });

  it.each(MODES)('endpoint never attached (%s)', (mode) => {
    const r = setup(mode);
    // QEMU: not in the endpoint tree → UNKNOWN, before the reserved-region check.
    expect(r.dev.translate(EP2, 0xfee00000n, 4n, 2)).toEqual(mode === 'qemu' ? fault(FAULT_R_UNKNOWN, FAULT_F_ADDRESS, 0xfee00000n, EP2) : { kind: 'msi' });
    expect(r.dev.translate(EP2, 0x10000n, 4n, 1)).toEqual(fault(both(FAULT_R_UNKNOWN, FAULT_R_DOMAIN)[mode], FAULT_F_ADDRESS, 0x10000n, EP2));
  });

  it.each(MODES)('endpoint after DETACH (%s)', (mode) => {
    const r = setup(mode);
    expect(r.attach(1, EP2)).toBe(S_OK);
    expect(r.detach(1, EP1)).toBe(S_OK);
    expect(r.dev.translate(EP1, 0x10000n, 4n, 1)).toEqual(fault(both(FAULT_R_UNKNOWN, FAULT_R_DOMAIN)[mode], FAULT_F_ADDRESS, 0x10000n));
    expect(r.dev.translate(EP2, 0x10000n, 4n, 1)).toEqual({ kind: 'translated', phys: 0xabc000n, domain: 1 });
  });

  it.each(MODES)('an endpoint not behind this IOMMU (%s)', (mode) => {
    const r = setup(mode);
    expect(r.dev.translate(NO_EP, 0x10000n, 4n, 1)).toEqual(fault(FAULT_R_UNKNOWN, FAULT_F_ADDRESS, 0x10000n, NO_EP));
  });

  it('QEMU: R_DOMAIN after a failed re-ATTACH left the endpoint in the tree without a domain', () => {
    const r = setup('qemu');
    expect(r.attach(9, EP3, ATTACH_F_BYPASS)).toBe(S_OK);
    expect(r.attach(9, EP1)).toBe(S_INVAL);
    expect(r.dev.translate(EP1, 0x10000n, 4n, 1)).toEqual(fault(FAULT_R_DOMAIN, FAULT_F_ADDRESS, 0x10000n));
    // MSI still passes: the reserved-region check comes before the domain check.
    expect(r.dev.translate(EP1, 0xfee00000n, 4n, 2)).toEqual({ kind: 'msi' });
    // With config.bypass = 1 the endpoint is bypassed again (address-space switch).
    r.dev.writeConfig(36, Uint8Array.of(1));
    expect(r.dev.translate(EP1, 0x10000n, 4n, 1)).toEqual({ kind: 'bypass' });
  });
});

describe('translate: QEMU interval [addr, addr + 1] lookup and 64-bit edges', () => {
  it.each(MODES)('an address just below a mapping (%s)', (mode) => {
    const r = rig(mode, { bootBypass: false });
    r.attach(1, EP1);
    r.map(1, 0x2000n, 0x2fffn, 0x9000n, MAP_F_READ);
    // QEMU matches [0x1fff, 0x2000] with the mapping and computes 0x1fff - 0x2000 + 0x9000.
    expect(r.dev.translate(EP1, 0x1fffn, 1n, 1)).toEqual(mode === 'qemu' ? { kind: 'translated', phys: 0x8fffn, domain: 1 } : fault(FAULT_R_MAPPING, FAULT_F_ADDRESS, 0x1fffn));
    expect(r.dev.translate(EP1, 0x1ffen, 1n, 1).kind).toBe('fault');
    expect(r.dev.translate(EP1, 0x3000n, 1n, 1).kind).toBe('fault');
  });

  it.each(MODES)('the last page of the 64-bit space (%s)', (mode) => {
    const r = rig(mode, { bootBypass: false, awBits: 64 });
    r.attach(1, EP1);
    expect(r.map(1, 0xfffffffffffff000n, 0xffffffffffffffffn, 0xfffffffffff00000n, MAP_F_READ)).toBe(S_OK);
    expect(r.dev.translate(EP1, 0xfffffffffffff000n, 1n, 1)).toEqual({ kind: 'translated', phys: 0xfffffffffff00000n, domain: 1 });
    expect(r.dev.translate(EP1, 0xfffffffffffffffen, 1n, 1)).toEqual({ kind: 'translated', phys: 0xfffffffffff00ffen, domain: 1 });
    // addr + 1 wraps to 0 in QEMU's lookup interval: only a [0, 2^64 - 1] mapping would match.
    expect(r.dev.translate(EP1, 0xffffffffffffffffn, 1n, 1)).toEqual(mode === 'qemu' ? fault(FAULT_R_MAPPING, FAULT_F_ADDRESS, 0xffffffffffffffffn) : { kind: 'translated', phys: 0xfffffffffff00fffn, domain: 1 });
    expect(decodeFault(r.dev.takeFaultRecords().at(-1) ?? new Uint8Array(24)).address).toBe(mode === 'qemu' ? 0xffffffffffffffffn : 0n);
  });

  it.each(MODES)('one mapping over the whole 64-bit space (%s)', (mode) => {
    const r = rig(mode, { bootBypass: false, awBits: 64, reservedRegions: [] });
    r.attach(1, EP1);
    expect(r.map(1, 0n, 0xffffffffffffffffn, 0x1000n)).toBe(S_OK);
    expect(r.dev.mappedBytes()).toBe(1n << 64n);
    expect(r.dev.translate(EP1, 0xffffffffffffffffn, 1n, 2)).toEqual({ kind: 'translated', phys: 0xfffn, domain: 1 });
    expect(r.dev.translate(EP1, 0n, 1n, 2)).toEqual({ kind: 'translated', phys: 0x1000n, domain: 1 });
  });

  it.each(MODES)('carries across the 32-bit halves (%s)', (mode) => {
    const r = rig(mode, { bootBypass: false, awBits: 64, reservedRegions: [] });
    r.attach(1, EP1);
    expect(r.map(1, 0xfffff000n, 0x100000fffn, 0xffffffffffffe000n)).toBe(S_OK);
    expect(r.dev.translate(EP1, 0x100000010n, 1n, 1)).toEqual({ kind: 'translated', phys: 0xfffffffffffff010n, domain: 1 });
    expect(r.map(1, 0x200000000n, 0x200000fffn, 0xfffff800n & ~0xfffn)).toBe(S_OK);
    expect(r.dev.translate(EP1, 0x200000c00n, 1n, 1)).toEqual({ kind: 'translated', phys: 0xfffffc00n, domain: 1 });
  });

  it('translateFast goes through the same decision order', () => {
    const r = rig('qemu', { bootBypass: false });
    r.attach(1, EP1);
    r.map(1, 0x100000000n, 0x100000fffn, 0x5000n, MAP_F_READ);
    expect(r.dev.translateFast(EP1, 1, 0x10, 4, 1)).toBe(TR_TRANSLATED);
    expect([r.dev.slots.physHi, r.dev.slots.physLo]).toEqual([0, 0x5010]);
    expect(r.dev.translateFast(EP1, 1, 0x10, 4, 2)).toBe(TR_FAULT);
    expect([r.dev.slots.reason, r.dev.slots.flags]).toEqual([FAULT_R_MAPPING, 0x102]);
    expect(r.dev.takeFaultRecords().length).toBe(1);
  });
});

describe('translate: fault reporting on a broken device', () => {
  it('QEMU: a broken device pops no eventq buffer, so the fault record is dropped', () => {
    const r = rig('qemu', { bootBypass: false });
    r.dev.handleRequest(new Uint8Array(2), 4); // virtio_error
    r.events();
    expect(r.dev.translate(EP1, 0x1000n, 4n, 1)).toEqual(fault(FAULT_R_UNKNOWN, FAULT_F_ADDRESS, 0x1000n));
    expect(r.dev.takeFaultRecords()).toEqual([]);
    expect(r.dev.droppedFaults).toBe(1);
    expect(r.events()).toEqual([]);
    r.dev.reset(false);
    r.dev.translate(EP1, 0x1000n, 4n, 1);
    expect(r.dev.takeFaultRecords().length).toBe(1);
  });
});
