import { describe, expect, it } from 'vitest';
import { ERRNO, errnoName } from '../../../../core/host/errno.ts';
import type { HostDesc } from '../../../../core/host/platform/host.ts';
import { VFIO_DMA_MAP_FLAG as M, VFIO_DMA_UNMAP_FLAG as U } from '../../../../core/host/backend/vfio-type1/vfio.ts';
import { COMPAT_HOST } from './dma-compat-cases.ts';
import { RW, setup } from './type1-fixture.ts';

const U64_MAX = 0xffffffffffffffffn;

describe('MAP_DMA argument rules (vfio_iommu_type1_map_dma / vfio_dma_do_map order, reference §4)', () => {
  it('argsz below 32, or an unknown flag → EINVAL', () => {
    const { v, c } = setup();
    expect(v.mapDma(c, { argsz: 31, flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { flags: RW | 8, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { argsz: 32, flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.OK);
  });

  it('neither READ nor WRITE → EINVAL; READ or WRITE alone is fine; READ/WRITE with VADDR → EINVAL', () => {
    const { v, c } = setup();
    expect(v.mapDma(c, { flags: 0, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { flags: M.READ | M.VADDR, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { flags: M.READ, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.mapDma(c, { flags: M.WRITE, iova: 0x1000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
  });

  it('vaddr not page aligned → EINVAL', () => {
    const { v, c } = setup();
    expect(v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n, vaddr: 0x7f0000000800n }).errno).toBe(ERRNO.EINVAL);
  });

  it.each([
    ['2024', 'EINVAL'],
    ['2025', 'EOVERFLOW'],
  ] as const)('IOVA or VA wrap past 2^64 (kernel %s) → %s; ending exactly at 0xffffffffffffffff does not wrap', (era, errno) => {
    const { v, c } = setup({ iommus: [{ name: 'a', model: 'amd-vi', 'aw-bits': 64, 'reserved-regions': [] }], devices: [{ name: 'vf0', bdf: '01:00.0', type: 'vfio-pci', iommu: 'a' }] }, ['vf0'], 'type1v2', { kernel: era });
    expect(errnoName(v.mapDma(c, { flags: RW, iova: 0xfffffffffffff000n, size: 0x2000n }).errno)).toBe(errno);
    expect(errnoName(v.mapDma(c, { flags: RW, iova: 0n, size: 0x2000n, vaddr: 0xfffffffffffff000n }).errno)).toBe(errno);
    expect(errnoName(v.unmapDma(c, { flags: 0, iova: 0xfffffffffffff000n, size: 0x2000n }).errno)).toBe(errno);
    expect(v.mapDma(c, { flags: RW, iova: 0xfffffffffffff000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.translate('vf0', U64_MAX, 1n, 'write')).toEqual({ translated: U64_MAX });
    expect(v.unmapDma(c, { flags: 0, iova: 0xfffffffffffff000n, size: 0x1000n })).toEqual({ errno: 0, size: 0x1000n });
  });

  it('dma_entry_limit (default 65535) ends in ENOSPC; EEXIST is checked before it and the IOVA list after it; an unmap frees a slot', () => {
    const { v, c } = setup();
    for (let i = 0n; i < 65535n; i++) if (v.mapDma(c, { flags: RW, iova: i << 12n, size: 0x1000n }).errno !== 0) throw new Error(`map ${i}`);
    expect(v.getInfo(c).capabilities!.dmaAvail.avail).toBe(0);
    expect(v.mapDma(c, { flags: RW, iova: 0x10000000n, size: 0x1000n }).errno).toBe(ERRNO.ENOSPC);
    expect(v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EEXIST);
    expect(v.mapDma(c, { flags: RW, iova: 0xfee00000n, size: 0x1000n }).errno).toBe(ERRNO.ENOSPC);
    expect(v.unmapDma(c, { flags: 0, iova: 0n, size: 0x1000n })).toEqual({ errno: 0, size: 0x1000n });
    expect(v.mapDma(c, { flags: RW, iova: 0x10000000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
  });

  it('a dmaEntryLimit option sets the limit', () => {
    const { v, c } = setup(COMPAT_HOST, ['vf0'], 'type1v2', { dmaEntryLimit: 2 });
    expect(v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.mapDma(c, { flags: RW, iova: 0x1000n, size: 0x1000n }).errno).toBe(ERRNO.OK);
    expect(v.mapDma(c, { flags: RW, iova: 0x2000n, size: 0x1000n }).errno).toBe(ERRNO.ENOSPC);
  });
});

describe('VADDR update (VFIO_UPDATE_VADDR)', () => {
  it('UNMAP_DMA with VADDR invalidates (mappings stay); MAP_DMA with VADDR needs an exact invalidated entry', () => {
    const { v, c } = setup();
    expect(v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x4000n, vaddr: 0x7f0000000000n }).errno).toBe(0);
    expect(v.mapDma(c, { flags: M.VADDR, iova: 0x20000n, size: 0x1000n, vaddr: 0x1000n }).errno).toBe(ERRNO.ENOENT);
    expect(v.mapDma(c, { flags: M.VADDR, iova: 0x10000n, size: 0x4000n, vaddr: 0x1000n }).errno).toBe(ERRNO.EINVAL); // not invalidated
    expect(v.unmapDma(c, { flags: U.VADDR, iova: 0x10000n, size: 0x4000n })).toEqual({ errno: 0, size: 0x4000n });
    expect(v.translate('vf0', 0x10000n, 8n, 'read')).toEqual({ translated: 0x7f0000000000n }); // still mapped
    expect(v.unmapDma(c, { flags: U.VADDR, iova: 0x10000n, size: 0x4000n })).toEqual({ errno: ERRNO.EINVAL, size: 0x4000n }); // already invalid
    expect(v.mapDma(c, { flags: M.VADDR, iova: 0x10000n, size: 0x2000n, vaddr: 0x1000n }).errno).toBe(ERRNO.EINVAL); // size mismatch
    expect(v.mapDma(c, { flags: M.VADDR, iova: 0x10000n, size: 0x4000n, vaddr: 0x55550000n }).errno).toBe(0);
    expect(v.translate('vf0', 0x10010n, 8n, 'read')).toEqual({ translated: 0x55550010n });
  });

  it('a failing VADDR invalidation restores the entries it marked', () => {
    const { v, c } = setup();
    v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n });
    v.mapDma(c, { flags: RW, iova: 0x11000n, size: 0x1000n });
    expect(v.unmapDma(c, { flags: U.VADDR, iova: 0x11000n, size: 0x1000n }).errno).toBe(0);
    expect(v.unmapDma(c, { flags: U.VADDR, iova: 0x10000n, size: 0x2000n })).toEqual({ errno: ERRNO.EINVAL, size: 0x2000n });
    // 0x10000 was restored: a VADDR map there is refused (not invalidated); 0x11000 is still invalid.
    expect(v.mapDma(c, { flags: M.VADDR, iova: 0x10000n, size: 0x1000n, vaddr: 0n }).errno).toBe(ERRNO.EINVAL);
    expect(v.mapDma(c, { flags: M.VADDR, iova: 0x11000n, size: 0x1000n, vaddr: 0n }).errno).toBe(0);
  });

  it('ALL|VADDR invalidates every entry; a group attach is refused while a vaddr is invalid', () => {
    const host: HostDesc = { iommus: COMPAT_HOST.iommus, devices: [...COMPAT_HOST.devices!, { name: 'vf1', bdf: '0000:3c:00.0', type: 'vfio-pci', iommu: 'dmar0' }] };
    const { v, c } = setup(host);
    v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n });
    v.mapDma(c, { flags: RW, iova: 0x20000n, size: 0x1000n });
    expect(v.unmapDma(c, { flags: U.ALL | U.VADDR, iova: 0n, size: 0n })).toEqual({ errno: 0, size: 0x2000n });
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.EINVAL);
    v.mapDma(c, { flags: M.VADDR, iova: 0x10000n, size: 0x1000n, vaddr: 0n });
    v.mapDma(c, { flags: M.VADDR, iova: 0x20000n, size: 0x1000n, vaddr: 0n });
    expect(v.groupSetContainer('vf1', c).errno).toBe(ERRNO.OK);
  });
});

describe('UNMAP_DMA rules (vfio_dma_do_unmap)', () => {
  it('argsz below 24, unknown flags, GET_DIRTY_BITMAP (with ALL or VADDR, or without dirty tracking) → EINVAL', () => {
    const { v, c } = setup();
    v.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n });
    expect(v.unmapDma(c, { argsz: 23, flags: 0, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: 8, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: U.GET_DIRTY_BITMAP | U.ALL, iova: 0n, size: 0n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: U.GET_DIRTY_BITMAP | U.VADDR, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: U.GET_DIRTY_BITMAP, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { argsz: 24, flags: 0, iova: 0n, size: 0x1000n })).toEqual({ errno: 0, size: 0x1000n });
  });

  it('ALL with a non-zero iova or size → EINVAL; ALL ignores the v2 split rule', () => {
    const { v, c } = setup();
    v.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x4000n });
    expect(v.unmapDma(c, { flags: U.ALL, iova: 0x1000n, size: 0n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: U.ALL, iova: 0n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
    expect(v.unmapDma(c, { flags: U.ALL, iova: 0n, size: 0n })).toEqual({ errno: 0, size: 0x4000n });
    expect(v.getInfo(c).capabilities!.dmaAvail.avail).toBe(65535);
  });

  it('unmap size not page aligned → EINVAL', () => {
    const { v, c } = setup();
    expect(v.unmapDma(c, { flags: 0, iova: 0n, size: 0x1800n }).errno).toBe(ERRNO.EINVAL);
  });

  it('type1 (v1): a walk stops at a mapping starting before iova (success, size 0); one starting inside is removed whole', () => {
    const { v, c } = setup(COMPAT_HOST, ['vf0'], 'type1');
    v.mapDma(c, { flags: RW, iova: 0x1000n, size: 0x2000n });
    v.mapDma(c, { flags: RW, iova: 0x4000n, size: 0x1000n });
    expect(v.unmapDma(c, { flags: 0, iova: 0x2000n, size: 0x4000n })).toEqual({ errno: 0, size: 0n });
    expect(v.unmapDma(c, { flags: 0, iova: 0n, size: 0x2000n })).toEqual({ errno: 0, size: 0x2000n });
    expect(v.translate('vf0', 0x2000n, 4n, 'read')).toMatchObject({ fault: { reason: 'unmapped' } });
    expect(v.unmapDma(c, { flags: 0, iova: 0x4000n, size: 0x1000n })).toEqual({ errno: 0, size: 0x1000n });
  });

  it('type1-nesting takes the v2 rules', () => {
    const { v, c } = setup(COMPAT_HOST, ['vf0'], 'type1-nesting');
    v.mapDma(c, { flags: RW, iova: 0x1000n, size: 0x2000n });
    expect(v.unmapDma(c, { flags: 0, iova: 0x2000n, size: 0x1000n }).errno).toBe(ERRNO.EINVAL);
  });

  it('a v2 unmap of many whole mappings across B+tree leaves removes exactly those', () => {
    const { v, c } = setup();
    for (let i = 0n; i < 1000n; i++) v.mapDma(c, { flags: RW, iova: 0x100000n + i * 0x2000n, size: 0x1000n });
    expect(v.unmapDma(c, { flags: 0, iova: 0x100000n + 100n * 0x2000n, size: 500n * 0x2000n })).toEqual({ errno: 0, size: 500n * 0x1000n });
    expect(v.getInfo(c).capabilities!.dmaAvail.avail).toBe(65535 - 500);
    expect(v.translate('vf0', 0x100000n + 99n * 0x2000n, 1n, 'read')).toHaveProperty('translated');
    expect(v.translate('vf0', 0x100000n + 100n * 0x2000n, 1n, 'read')).toHaveProperty('fault');
    expect(v.translate('vf0', 0x100000n + 600n * 0x2000n, 1n, 'read')).toHaveProperty('translated');
  });
});
