/**
 * Every row of the per-case table (reference §2.2) in both conformance modes: one body per row,
 * run over both modes with the expectation of each mode.
 */
import { describe, it, expect } from 'vitest';
import { encodeHead, encodeRequest } from '../../../../core/viommu/virtio-iommu/codec.ts';
import {
  ATTACH_F_BYPASS, F_BYPASS_CONFIG, F_MAP_UNMAP, F_MMIO, LINUX_DRIVER_FEATURES, MAP_F_MMIO, MAP_F_READ, S_DEVERR, S_INVAL, S_NOENT, S_OK,
  S_RANGE, S_UNSUPP, T_ATTACH, T_MAP, T_PROBE, featureBit,
} from '../../../../core/viommu/virtio-iommu/constants.ts';
import { EP1, EP2, EP3, MODES, NO_EP, rig, type Mode } from './helpers.ts';

const both = <T>(q: T, s: T): Record<Mode, T> => ({ qemu: q, spec: s });
const MB = 0x100000n;

describe('§2.2 ATTACH rows', () => {
  it.each(MODES)('row 1: unknown endpoint → NOENT (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, NO_EP)).toBe(S_NOENT);
    expect(r.kinds()).toEqual(['request']);
  });

  it.each(MODES)('row 2: reserved != 0 (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1, 0, 1)).toBe(both(S_OK, S_INVAL)[mode]);
  });

  it.each(MODES)('row 3: unknown flag → INVAL, checked before the endpoint (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1, 0x2)).toBe(S_INVAL);
    expect(r.attach(1, NO_EP, 0x2)).toBe(S_INVAL);
    expect(r.dev.snapshot().endpoints).toEqual([]);
  });

  it.each(MODES)('row 4: endpoint attached elsewhere → implicit detach, old domain destroyed with its mappings (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_OK);
    expect(r.map(1, 0x1000n, 0x1fffn, 0n)).toBe(S_OK);
    r.events();
    expect(r.attach(2, EP1)).toBe(S_OK);
    expect(r.events()).toEqual([
      { kind: 'detach', domain: 1, endpoint: EP1, implicit: 1 },
      { kind: 'domain-free', domain: 1, mappings: 2 },
      { kind: 'domain-alloc', domain: 2, bypass: 0 },
      { kind: 'attach', domain: 2, endpoint: EP1 },
      { kind: 'request', reqType: T_ATTACH, status: S_OK, domain: 2, endpoint: EP1, reqFlags: 0, used: 4 },
    ]);
    expect(r.dev.mappingCount()).toBe(0);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_NOENT);
  });

  it.each(MODES)('row 5: a domain shared by two endpoints; both see its mappings (%s)', (mode) => {
    const r = rig(mode, { bootBypass: false });
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0x10000n, 0x10fffn, 0xa0000n, MAP_F_READ)).toBe(S_OK);
    expect(r.attach(1, EP2)).toBe(S_OK);
    expect(r.dev.snapshot().domains).toEqual([{ id: 1, bypass: false, endpoints: [EP2, EP1], mappings: 1 }]);
    expect(r.dev.translate(EP2, 0x10010n, 4n, 1)).toEqual({ kind: 'translated', phys: 0xa0010n, domain: 1 });
    expect(r.dev.translate(EP1, 0x10010n, 4n, 1)).toEqual({ kind: 'translated', phys: 0xa0010n, domain: 1 });
  });

  it.each(MODES)('row 6: BYPASS flag inconsistent with the domain → INVAL (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(5, EP2, ATTACH_F_BYPASS)).toBe(S_OK); // bypass domain 5
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_OK);
    r.events();
    expect(r.attach(5, EP1)).toBe(S_INVAL);
    if (mode === 'qemu') {
      // Quirk: EP1 was detached (and domain 1 destroyed) before the mismatch was found.
      expect(r.kinds()).toEqual(['detach', 'domain-free', 'request']);
      expect(r.dev.snapshot().endpoints).toEqual([{ id: EP1, domain: null }, { id: EP2, domain: 5 }]);
      expect(r.dev.mappingCount()).toBe(0);
    } else {
      expect(r.kinds()).toEqual(['request']);
      expect(r.dev.snapshot().endpoints).toEqual([{ id: EP1, domain: 1 }, { id: EP2, domain: 5 }]);
      expect(r.dev.mappingCount()).toBe(1);
    }
    // Re-ATTACH of a domain's sole endpoint with the other flag: QEMU detaches first, which
    // destroys the domain, then creates it again as a bypass domain; the spec keeps the domain.
    expect(r.attach(7, EP3)).toBe(S_OK);
    expect(r.attach(7, EP3, ATTACH_F_BYPASS)).toBe(both(S_OK, S_INVAL)[mode]);
    expect(r.dev.snapshot().domains.find((d) => d.id === 7)?.bypass).toBe(mode === 'qemu');
  });

  it.each(MODES)('row 6: ATTACH_F_BYPASS without BYPASS_CONFIG negotiated (%s)', (mode) => {
    const r = rig(mode);
    r.dev.negotiate(LINUX_DRIVER_FEATURES & ~featureBit(F_BYPASS_CONFIG));
    expect(r.attach(1, EP1, ATTACH_F_BYPASS)).toBe(both(S_OK, S_INVAL)[mode]);
  });

  it.each(MODES)('row 7: domain outside domain_range (%s)', (mode) => {
    const r = rig(mode, { domainRange: [0, 100] });
    expect(r.attach(200, EP1)).toBe(both(S_OK, S_RANGE)[mode]);
    // Without F_DOMAIN_RANGE offered any domain is valid in both modes.
    const r2 = rig(mode, { domainRange: [0, 100], offer: { mmio: true, probe: true, bypassConfig: true, inputRange: true, domainRange: false } });
    expect(r2.attach(200, EP1)).toBe(S_OK);
  });
});

describe('§2.2 DETACH rows', () => {
  it.each(MODES)('row 8: unknown endpoint → NOENT; never-attached or second DETACH (%s)', (mode) => {
    const r = rig(mode);
    expect(r.detach(1, NO_EP)).toBe(S_NOENT);
    expect(r.detach(1, EP1)).toBe(both(S_NOENT, S_INVAL)[mode]);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.detach(1, EP1)).toBe(S_OK);
    expect(r.detach(1, EP1)).toBe(both(S_NOENT, S_INVAL)[mode]);
  });

  it.each(MODES)('row 9: endpoint attached to another domain → INVAL (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.detach(2, EP1)).toBe(S_INVAL);
    expect(r.dev.snapshot().endpoints).toEqual([{ id: EP1, domain: 1 }]);
  });

  it.each(MODES)('row 10: reserved is ignored (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.detach(1, EP1, 0xffffffffffffffffn)).toBe(S_OK);
  });

  it.each(MODES)('row 11: last endpoint leaves → domain and mappings gone, ID reusable (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.attach(1, EP2)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_OK);
    r.events();
    expect(r.detach(1, EP1)).toBe(S_OK);
    expect(r.kinds()).toEqual(['detach', 'endpoint-free', 'request']);
    expect(r.dev.mappingCount()).toBe(1);
    expect(r.detach(1, EP2)).toBe(S_OK);
    expect(r.events().slice(0, 3)).toEqual([
      { kind: 'detach', domain: 1, endpoint: EP2, implicit: 0 },
      { kind: 'domain-free', domain: 1, mappings: 1 },
      { kind: 'endpoint-free', endpoint: EP2 },
    ]);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_NOENT);
    expect(r.attach(1, EP3)).toBe(S_OK);
    expect(r.dev.domainMappings(1)).toEqual([]);
  });
});

describe('§2.2 MAP rows', () => {
  it.each(MODES)('row 12: MAP/UNMAP on a missing domain → NOENT (%s)', (mode) => {
    const r = rig(mode);
    expect(r.map(3, 0n, 0xfffn, 0n)).toBe(S_NOENT);
    expect(r.unmap(3, 0n, 0xfffn)).toBe(S_NOENT);
  });

  it.each(MODES)('row 13: unknown MAP flag → INVAL, checked before the domain (%s)', (mode) => {
    const r = rig(mode);
    expect(r.map(3, 0n, 0xfffn, 0n, 0x8)).toBe(S_INVAL);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n, 0x10 | MAP_F_READ)).toBe(S_INVAL);
    expect(r.dev.mappingCount()).toBe(0);
  });

  it.each(MODES)('row 14: MMIO flag without F_MMIO negotiated (%s)', (mode) => {
    const r = rig(mode);
    r.dev.negotiate(LINUX_DRIVER_FEATURES & ~featureBit(F_MMIO));
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n, MAP_F_MMIO | MAP_F_READ)).toBe(both(S_OK, S_INVAL)[mode]);
    r.dev.negotiate();
    expect(r.map(1, 0x1000n, 0x1fffn, 0n, MAP_F_MMIO)).toBe(S_OK);
  });

  it.each(MODES)('row 15: MAP on a bypass domain → INVAL (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1, ATTACH_F_BYPASS)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_INVAL);
  });

  it.each(MODES)('row 16: MAP overlapping a mapping → INVAL (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0x1000n, 0x2fffn, 0n)).toBe(S_OK);
    r.events();
    expect(r.map(1, 0x2000n, 0x3fffn, 0n)).toBe(S_INVAL);
    expect(r.map(1, 0x0n, 0x1fffn, 0n)).toBe(S_INVAL);
    expect(r.kinds()).toEqual(['request', 'request']);
    expect(r.map(1, 0x3000n, 0x3fffn, 0n)).toBe(S_OK);
  });

  it.each(MODES)('row 17: unaligned virt_start / phys_start / virt_end + 1 (%s)', (mode) => {
    const r = rig(mode, { awBits: 64, reservedRegions: [] });
    expect(r.attach(1, EP1)).toBe(S_OK);
    const want = both(S_OK, S_RANGE)[mode];
    expect(r.map(1, 0n, 4n, 0n)).toBe(want); // the QTEST maps [0, 4] and gets OK from QEMU
    expect(r.map(1, 0x10001000n, 0x10001fffn, 0x800n)).toBe(want);
    expect(r.map(1, 0x20000800n, 0x20000fffn, 0n)).toBe(want);
    expect(r.map(1, 0x30000000n, 0x30000ffen, 0n)).toBe(want);
    // virt_end = 2^64 - 1: virt_end + 1 wraps to 0, which is aligned.
    expect(r.map(1, 0xfffffffffffff000n, 0xffffffffffffffffn, 0x5000n)).toBe(S_OK);
    // 64k granule: 4 KiB alignment is not enough in spec mode.
    const r64 = rig(mode, { granule: '64k' });
    expect(r64.attach(1, EP1)).toBe(S_OK);
    expect(r64.map(1, 0x1000n, 0x10fffn, 0n)).toBe(want);
    expect(r64.map(1, 0x20000n, 0x2ffffn, 0x20000n)).toBe(S_OK);
  });

  it.each(MODES)('row 18: virt_start > virt_end (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0x2000n, 0xfffn, 0n)).toBe(both(S_OK, S_INVAL)[mode]);
    expect(r.dev.mappingCount()).toBe(0); // QEMU's inverted node is unreachable: nothing stored
    expect(r.map(1, 0x0n, 0x3fffn, 0n)).toBe(S_OK);
    // An inverted range whose bounds both fall in one mapping collides with it (QEMU GTree lookup).
    expect(r.map(1, 0x2000n, 0x1000n, 0n)).toBe(S_INVAL);
  });

  it.each(MODES)('row 19: MAP outside input_range (q35: aw-bits 39) (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0x7ffffff000n, 0x7fffffffffn, 0n)).toBe(S_OK);
    expect(r.map(1, 0x8000000000n, 0x8000000fffn, 0n)).toBe(both(S_OK, S_RANGE)[mode]);
    expect(r.map(1, 0x7fffff0000n, 0x8000000fffn, 0n)).toBe(both(S_INVAL, S_RANGE)[mode]);
  });

  it.each(MODES)('row 20: MAP overlapping a RESV_MEM region (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0xfee00000n, 0xfee00fffn, 0xfee00000n)).toBe(both(S_OK, S_INVAL)[mode]);
    expect(r.map(1, 0xfed00000n, 0xfee00fffn, 0n)).toBe(both(S_INVAL /* overlaps the mapping above */, S_INVAL)[mode]);
    expect(r.map(1, 0xfef00000n, 0xfef00fffn, 0n)).toBe(S_OK);
  });

  it.each(MODES)('MAP/UNMAP without F_MAP_UNMAP negotiated (%s)', (mode) => {
    const r = rig(mode);
    r.dev.negotiate(LINUX_DRIVER_FEATURES & ~featureBit(F_MAP_UNMAP));
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(both(S_OK, S_UNSUPP)[mode]);
    expect(r.unmap(1, 0n, 0xfffn)).toBe(both(S_OK, S_UNSUPP)[mode]);
  });
});

describe('§2.2 UNMAP rows', () => {
  it.each(MODES)('row 22: UNMAP reserved != 0 is ignored (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0n, 0xfffn, 0n)).toBe(S_OK);
    expect(r.unmap(1, 0n, 0xfffn, 0xffffffff)).toBe(S_OK);
    expect(r.dev.mappingCount()).toBe(0);
  });

  it.each(MODES)('row 23/24: UNMAP missing domain → NOENT, bypass domain → INVAL (%s)', (mode) => {
    const r = rig(mode);
    expect(r.unmap(9, 0n, 0xfffn)).toBe(S_NOENT);
    expect(r.attach(1, EP1, ATTACH_F_BYPASS)).toBe(S_OK);
    expect(r.unmap(1, 0n, 0xfffn)).toBe(S_INVAL);
  });

  it.each(MODES)('row 25: UNMAP that would split → RANGE; QEMU is not atomic (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.map(1, 0x0n, 0xfffn, 0n)).toBe(S_OK);
    expect(r.map(1, 0x1000n, 0x2fffn, 0n)).toBe(S_OK);
    r.events();
    expect(r.unmap(1, 0x0n, 0x1fffn)).toBe(S_RANGE);
    if (mode === 'qemu') {
      expect(r.kinds()).toEqual(['unmap', 'request']);
      expect(r.dev.domainMappings(1)?.map((m) => m.start)).toEqual([0x1000n]);
    } else {
      expect(r.kinds()).toEqual(['request']);
      expect(r.dev.domainMappings(1)?.map((m) => m.start)).toEqual([0x0n, 0x1000n]);
    }
    // A partial first mapping removes nothing in both modes.
    expect(r.unmap(1, 0x1800n, 0x3fffn)).toBe(S_RANGE);
    expect(r.dev.domainMappings(1)?.some((m) => m.start === 0x1000n)).toBe(true);
  });

  it.each(MODES)('row 26: UNMAP of nothing or spilling over gaps → OK (%s)', (mode) => {
    const r = rig(mode);
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.unmap(1, 0n, 0xffffffffffffffffn)).toBe(S_OK);
    expect(r.map(1, 0x10000n, 0x10fffn, 0n)).toBe(S_OK);
    expect(r.map(1, 0x30000n, 0x30fffn, 0n)).toBe(S_OK);
    expect(r.unmap(1, 0n, 0xffffffffffffffffn)).toBe(S_OK);
    expect(r.dev.mappingCount()).toBe(0);
  });
});

describe('§2.2 PROBE rows', () => {
  it.each(MODES)('row 27: unknown endpoint → NOENT; an unattached existing one answers (%s)', (mode) => {
    const r = rig(mode);
    const bad = r.probe(NO_EP);
    expect(bad.length).toBe(516);
    expect(bad[512]).toBe(S_NOENT);
    expect([...bad.subarray(0, 512)].every((x) => x === 0)).toBe(true);
    const ok = r.probe(EP2);
    expect(ok[512]).toBe(S_OK);
    expect([...ok.subarray(513)]).toEqual([0, 0, 0]);
  });

  it.each(MODES)('row 28: no properties → all zero, OK (%s)', (mode) => {
    const r = rig(mode, { reservedRegions: [] });
    const b = r.probe(EP1);
    expect(b.length).toBe(516);
    expect([...b].every((x) => x === 0)).toBe(true);
  });

  it.each(MODES)('row 29: properties do not fit probe_size → INVAL, nothing written (%s)', (mode) => {
    const regions = [0n, 1n, 2n].map((i) => ({ start: i * MB, end: i * MB + 0xfffn, subtype: 0 }));
    const r = rig(mode, { reservedRegions: regions, probeSize: 64 });
    const b = r.probe(EP1);
    expect(b.length).toBe(68);
    expect(b[64]).toBe(S_INVAL);
    expect([...b.subarray(0, 64)].every((x) => x === 0)).toBe(true);
    const fits = rig(mode, { reservedRegions: regions, probeSize: 72 }).probe(EP1);
    expect(fits[72]).toBe(S_OK);
  });

  it.each(MODES)('row 30: PROBE when F_PROBE is not offered (%s)', (mode) => {
    const r = rig(mode, { offer: { mmio: true, probe: false, bypassConfig: true, inputRange: true, domainRange: true } });
    const b = r.probe(EP1);
    expect(b.length).toBe(both(516, 0)[mode]);
    expect(r.events().at(-1)).toEqual(mode === 'qemu'
      ? { kind: 'request', reqType: T_PROBE, status: S_OK, endpoint: EP1, used: 516 }
      : { kind: 'request', reqType: T_PROBE, endpoint: EP1, used: 0 });
  });

  it.each(MODES)('row 31: writable part smaller than probe_size + 4 (%s)', (mode) => {
    const r = rig(mode);
    const b = r.probe(EP1, 100);
    if (mode === 'qemu') expect([...b]).toEqual([S_DEVERR, 0, 0, 0]);
    else expect(b.length).toBe(0);
    expect(r.dev.broken).toBe(false);
  });
});

describe('§2.1 framing rules', () => {
  it.each(MODES)('unknown request type (%s)', (mode) => {
    const r = rig(mode);
    const b = r.dev.handleRequest(encodeHead(6), 4);
    expect([...b]).toEqual(mode === 'qemu' ? [S_UNSUPP, 0, 0, 0] : []);
    expect(r.events()).toEqual([mode === 'qemu' ? { kind: 'request', reqType: 6, status: S_UNSUPP, used: 4 } : { kind: 'request', reqType: 6, used: 0 }]);
  });

  it.each(MODES)('payload shorter than the type needs (%s)', (mode) => {
    const r = rig(mode);
    const map = encodeRequest({ type: T_MAP, domain: 1, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 1 });
    const b = r.dev.handleRequest(map.subarray(0, 20), 4);
    expect([...b]).toEqual(mode === 'qemu' ? [S_INVAL, 0, 0, 0] : []);
    const p = r.dev.handleRequest(encodeRequest({ type: T_PROBE, endpoint: EP1 }).subarray(0, 8), 516);
    expect(p.length).toBe(mode === 'qemu' ? 516 : 0);
    if (mode === 'qemu') expect(p[512]).toBe(S_INVAL);
  });

  it.each(MODES)('readable < 4 or writable < 4 (%s)', (mode) => {
    const r = rig(mode);
    expect(r.dev.handleRequest(new Uint8Array(3), 4).length).toBe(0);
    if (mode === 'qemu') {
      expect(r.dev.broken).toBe(true);
      expect(r.events().map((e) => e.kind)).toEqual(['device-error', 'request']);
      // Broken: every request is returned unwritten until reset.
      expect(r.dev.handleRequest(encodeRequest({ type: T_ATTACH, domain: 1, endpoint: EP1, flags: 0 }), 4).length).toBe(0);
      expect(r.dev.snapshot().endpoints).toEqual([]);
      r.dev.reset(false);
      expect(r.dev.broken).toBe(false);
    } else {
      expect(r.dev.broken).toBe(false);
    }
    expect(r.attach(1, EP1)).toBe(S_OK);
    expect(r.dev.handleRequest(encodeRequest({ type: T_ATTACH, domain: 1, endpoint: EP2, flags: 0 }), 3).length).toBe(0);
    expect(r.dev.broken).toBe(mode === 'qemu');
  });

  it.each(MODES)('used length is the full writable size on errors too; extra writable bytes are not used (%s)', (mode) => {
    const r = rig(mode);
    const b = r.dev.handleRequest(encodeRequest({ type: T_ATTACH, domain: 1, endpoint: NO_EP, flags: 0 }), 16);
    expect([...b]).toEqual([S_NOENT, 0, 0, 0]);
    const p = r.dev.handleRequest(encodeRequest({ type: T_PROBE, endpoint: NO_EP }), 600);
    expect(p.length).toBe(516);
    expect(p[512]).toBe(S_NOENT);
  });
});
