// How a DMA access meets the granule: QEMU's IOMMUTLBEntry covers one granule page, so the access
// lands on (translated_addr & ~addr_mask) | (addr & addr_mask) and an access crossing a page is
// translated page by page (system/physmem.c address_space_translate_iommu).
import { describe, expect, it } from 'vitest';
import { MAP_F_READ, MAP_F_WRITE } from '../../../../core/viommu/virtio-iommu/constants.ts';
import { TR_FAULT, TR_TRANSLATED } from '../../../../core/viommu/virtio-iommu/device.ts';
import { EP1, MODES, rig } from './helpers.ts';

const RW = MAP_F_READ | MAP_F_WRITE;

describe('translate: granule pages', () => {
  it('qemu: a mapping starting inside a granule page — the offset within the page comes from addr', () => {
    const r = rig('qemu', { granule: '4k', bootBypass: false });
    expect(r.attach(1, EP1)).toBe(0);
    expect(r.map(1, 5n, 9n, 0xb000n, RW)).toBe(0); // QEMU does not check alignment
    r.events();
    expect(r.dev.translate(EP1, 5n, 1n, 1)).toEqual({ kind: 'translated', phys: 0xb005n, domain: 1 });
    expect(r.dev.translate(EP1, 9n, 1n, 1)).toEqual({ kind: 'translated', phys: 0xb009n, domain: 1 });
    expect(r.events()).toEqual([
      { kind: 'translate', endpoint: EP1, domain: 1, iova: 5n, phys: 0xb005n, size: 1n, access: 1, path: 0 },
      { kind: 'translate', endpoint: EP1, domain: 1, iova: 9n, phys: 0xb009n, size: 1n, access: 1, path: 0 },
    ]);
    // The allocation-free path agrees.
    expect(r.dev.translateFast(EP1, 0, 7, 1, 1)).toBe(TR_TRANSLATED);
    expect([r.dev.slots.physHi, r.dev.slots.physLo]).toEqual([0, 0xb007]);
  });

  it('qemu: an unaligned phys_start keeps its page, the offset comes from addr', () => {
    const r = rig('qemu', { granule: '4k', bootBypass: false });
    r.attach(1, EP1);
    expect(r.map(1, 0x10000n, 0x10fffn, 0xc0123n, RW)).toBe(0);
    expect(r.dev.translate(EP1, 0x10010n, 4n, 1)).toEqual({ kind: 'translated', phys: 0xc0010n, domain: 1 });
  });

  it.each(MODES)('an access crossing into an unmapped page faults at that page, after translating the first (%s)', (mode) => {
    const r = rig(mode, { granule: '4k', bootBypass: false });
    r.attach(1, EP1);
    expect(r.map(1, 0x10000n, 0x10fffn, 0x80000n, RW)).toBe(0);
    r.events();
    expect(r.dev.translate(EP1, 0x10ff0n, 0x20n, 2)).toEqual({ kind: 'fault', reason: 2, flags: 0x100, address: 0x11000n, endpoint: EP1 });
    expect(r.events()).toEqual([
      { kind: 'translate', endpoint: EP1, domain: 1, iova: 0x10ff0n, phys: 0x80ff0n, size: 0x10n, access: 2, path: 0 },
      { kind: 'fault', reason: 2, flags: 0x100, endpoint: EP1, address: 0x11000n },
    ]);
    expect(r.dev.translateFast(EP1, 0, 0x10ff0, 0x20, 2)).toBe(TR_FAULT);
  });

  it.each(MODES)('an access over two mapped pages is one decision per page; the outcome is the first page (%s)', (mode) => {
    const r = rig(mode, { granule: '4k', bootBypass: false });
    r.attach(1, EP1);
    r.map(1, 0x10000n, 0x10fffn, 0x80000n, RW);
    r.map(1, 0x11000n, 0x11fffn, 0x40000n, RW);
    r.events();
    expect(r.dev.translate(EP1, 0x10800n, 0x1000n, 1)).toEqual({ kind: 'translated', phys: 0x80800n, domain: 1 });
    expect(r.events().map((e) => [e.iova, e.phys, e.size])).toEqual([
      [0x10800n, 0x80800n, 0x800n],
      [0x11000n, 0x40000n, 0x800n],
    ]);
    expect(r.dev.translateFast(EP1, 0, 0x10800, 0x1000, 1)).toBe(TR_TRANSLATED);
    expect([r.dev.slots.physHi, r.dev.slots.physLo]).toEqual([0, 0x80800]);
  });

  it.each(MODES)('an access at the top of the address space stops at 2^64 (%s)', (mode) => {
    const r = rig(mode, { granule: '4k', bootBypass: false, awBits: 64 });
    r.attach(1, EP1);
    expect(r.map(1, 0xfffffffffffff000n, 0xffffffffffffffffn, 0x1000n, RW)).toBe(0);
    r.events();
    expect(r.dev.translate(EP1, 0xffffffffffffff00n, 0x1000n, 1)).toEqual({ kind: 'translated', phys: 0x1f00n, domain: 1 });
    expect(r.events().map((e) => [e.iova, e.size])).toEqual([[0xffffffffffffff00n, 0x100n]]);
  });
});
