/**
 * VFIO container semantics over both backends QEMU's legacy path can meet: VFIO type1 and iommufd's
 * VFIO compatibility (drivers/iommu/iommufd/vfio_compat.c). The shared MAP/UNMAP table runs over
 * both; then each rule where they differ is one test body run over both, asserting each backend's
 * outcome.
 */
import { describe, expect, it } from 'vitest';
import { IommufdVfioCompat, COMPAT_DMA_AVAIL, IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET } from '../../../../core/host/backend/iommufd/vfio-compat.ts';
import type { VfioContainerBackend } from '../../../../core/host/backend/vfio-api.ts';
import { VFIO_DMA_MAP_FLAG as M, VFIO_DMA_UNMAP_FLAG as U, VFIO_EXT, VfioType1 } from '../../../../core/host/backend/vfio-type1/vfio.ts';
import { hostBackends } from '../../../../core/host/backend/from-platform.ts';
import { errnoName } from '../../../../core/host/errno.ts';
import { KERNEL_ERAS, type KernelEra } from '../../../../core/host/kernel.ts';
import type { HostDesc, HostPlatform } from '../../../../core/host/platform/host.ts';
import { COMPAT_CASES, COMPAT_HOST, expected, runCase, type CompatFactory } from './dma-compat-cases.ts';
import { RW, platform } from './type1-fixture.ts';

type Name = 'vfio-type1' | 'iommufd-compat';
const NAMES: readonly Name[] = ['vfio-type1', 'iommufd-compat'];

function make(name: Name, host: HostPlatform = platform(COMPAT_HOST), kernel: KernelEra = '2025'): VfioContainerBackend {
  return name === 'vfio-type1' ? new VfioType1(host, { kernel }) : new IommufdVfioCompat(host, { kernel });
}

/** QEMU's legacy sequence: container, group, set-iommu, device fd. */
function ready(name: Name, type: string = 'type1v2', kernel: KernelEra = '2025') {
  const be = make(name, platform(COMPAT_HOST), kernel);
  const c = be.containerOpen().container;
  expect(errnoName(be.groupSetContainer('vf0', c).errno)).toBe('OK');
  expect(errnoName(be.setIommu(c, type).errno)).toBe('OK');
  expect(errnoName(be.deviceOpen('vf0').errno)).toBe('OK');
  return { be, c };
}

const factory =
  (name: Name): CompatFactory =>
  (kernel) => {
    const { be, c } = ready(name, 'type1v2', kernel);
    return {
      map: (iova, size) => be.mapDma(c, { flags: RW, iova, size }).errno,
      unmap: (iova, size) => be.unmapDma(c, { flags: 0, iova, size }),
      unmapAll: () => be.unmapDma(c, { flags: U.ALL, iova: 0n, size: 0n }),
    };
  };

const BACKENDS: readonly (readonly [Name, CompatFactory])[] = NAMES.map((n) => [n, factory(n)] as const);

describe.each(BACKENDS)('shared VFIO MAP/UNMAP semantics on %s', (name, f) => {
  for (const era of KERNEL_ERAS) {
    it.each(COMPAT_CASES.filter((c) => c.eras === undefined || c.eras.includes(era)).map((c) => [c.name, c] as const))(`[kernel ${era}] %s`, (_n, c) => {
      const r = runCase(f(era), c);
      expect(r.setup.every((e) => e === 'OK')).toBe(true);
      expect(r.outcome).toEqual(expected(c, name, era));
    });
  }
});

/** Per-backend expectation of one rule. */
type By<T> = Record<Name, T>;
const e = (x: { errno: number }): string => errnoName(x.errno);

describe.each(NAMES)('where type1 and iommufd compat differ (%s)', (name) => {
  it('no group set yet: set-iommu, map, get-info, DMA_CC_IOMMU (type1 EINVAL / value 0; compat get_compat_ioas → ENODEV)', () => {
    const be = make(name);
    const c = be.containerOpen().container;
    const want: By<string[]> = { 'vfio-type1': ['EINVAL', 'EINVAL', 'EINVAL', 'OK', 'EINVAL'], 'iommufd-compat': ['ENODEV', 'ENODEV', 'ENODEV', 'ENODEV', 'ENODEV'] };
    expect([e(be.setIommu(c, 'type1v2')), e(be.mapDma(c, { flags: RW, iova: 0n, size: 0x1000n })), e(be.getInfo(c)), e(be.checkExtension(c, VFIO_EXT.DMA_CC_IOMMU)), e(be.unmapDma(c, { flags: 0, iova: 0n, size: 0x1000n }))]).toEqual(want[name]);
  });

  it('group set, no set-iommu, no device open: type1 refuses MAP and the device fd (EINVAL); compat maps anywhere (no domain yet) and opens the device', () => {
    const be = make(name);
    const c = be.containerOpen().container;
    be.groupSetContainer('vf0', c);
    const want: By<string[]> = { 'vfio-type1': ['EINVAL', 'EINVAL', 'EINVAL'], 'iommufd-compat': ['OK', 'OK', 'OK'] };
    // 0x10800: no iova_alignment yet in the compat IOAS; 0x8000000000: no aperture reserved yet.
    expect([e(be.mapDma(c, { flags: RW, iova: 0x10800n, size: 0x800n })), e(be.mapDma(c, { flags: RW, iova: 0x8000000000n, size: 0x1000n })), e(be.deviceOpen('vf0'))]).toEqual(
      name === 'vfio-type1' ? want[name] : ['OK', 'OK', 'EADDRINUSE'],
    );
  });

  it('set-iommu types: nesting, an unknown type, a second set-iommu', () => {
    const be = make(name);
    const c = be.containerOpen().container;
    be.groupSetContainer('vf0', c);
    const want: By<string[]> = { 'vfio-type1': ['ENODEV', 'OK', 'EINVAL'], 'iommufd-compat': ['EINVAL', 'EINVAL', 'OK'] };
    expect([e(be.setIommu(c, 99)), e(be.setIommu(c, 'type1-nesting')), e(be.setIommu(c, 'type1v2'))]).toEqual(want[name]);
  });

  it('check-extension values (type1: UPDATE_VADDR 1, NESTING 0 since 35890f85573c; compat: both 0)', () => {
    const { be, c } = ready(name);
    const exts = [VFIO_EXT.TYPE1_IOMMU, VFIO_EXT.TYPE1v2_IOMMU, VFIO_EXT.TYPE1_NESTING_IOMMU, VFIO_EXT.UNMAP_ALL, VFIO_EXT.UPDATE_VADDR, VFIO_EXT.DMA_CC_IOMMU, VFIO_EXT.NOIOMMU_IOMMU, 42];
    const want: By<number[]> = { 'vfio-type1': [1, 1, 0, 1, 1, 1, 0, 0], 'iommufd-compat': [1, 1, 0, 1, 0, 1, 0, 0] };
    expect(exts.map((x) => be.checkExtension(c, x).value)).toEqual(want[name]);
    expect(e(be.checkExtension(99, 1))).toBe('EBADF');
  });

  it('MAP_DMA flags: none (compat maps without permission), VADDR (compat EINVAL)', () => {
    const { be, c } = ready(name);
    const want: By<string[]> = { 'vfio-type1': ['EINVAL', 'ENOENT'], 'iommufd-compat': ['OK', 'EINVAL'] };
    expect([e(be.mapDma(c, { flags: 0, iova: 0x10000n, size: 0x1000n })), e(be.mapDma(c, { flags: M.VADDR, iova: 0x20000n, size: 0x1000n }))]).toEqual(want[name]);
    if (be instanceof IommufdVfioCompat) expect(be.translate('vf0', 0x10000n, 4n, 'read')).toMatchObject({ fault: { reason: 'permission' } });
  });

  it('UNMAP_DMA flags: VADDR (type1 invalidates; compat EINVAL), GET_DIRTY_BITMAP (EINVAL on both)', () => {
    const { be, c } = ready(name);
    be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n });
    const want: By<string[]> = { 'vfio-type1': ['OK', 'EINVAL'], 'iommufd-compat': ['EINVAL', 'EINVAL'] };
    expect([e(be.unmapDma(c, { flags: U.VADDR, iova: 0x10000n, size: 0x1000n })), e(be.unmapDma(c, { flags: U.GET_DIRTY_BITMAP, iova: 0x10000n, size: 0x1000n }))]).toEqual(want[name]);
  });

  it('a failed unmap: type1 leaves size as given; compat writes back the bytes unmapped (0)', () => {
    const { be, c } = ready(name);
    be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x2000n });
    const want: By<{ errno: string; size: bigint }> = { 'vfio-type1': { errno: 'EINVAL', size: 0x1000n }, 'iommufd-compat': { errno: 'ENOENT', size: 0n } };
    const r = be.unmapDma(c, { flags: 0, iova: 0x10000n, size: 0x1000n });
    expect({ errno: errnoName(r.errno), size: r.size }).toEqual(want[name]);
  });

  it('dma_entry_limit: type1 ENOSPC after 65535 mappings, compat has no such limit', () => {
    const { be, c } = ready(name);
    for (let i = 0n; i < 65535n; i++) if (be.mapDma(c, { flags: RW, iova: 0x100000000n + (i << 12n), size: 0x1000n }).errno !== 0) throw new Error(`map ${i}`);
    const want: By<string> = { 'vfio-type1': 'ENOSPC', 'iommufd-compat': 'OK' };
    expect(e(be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n }))).toBe(want[name]);
  });

  it('GET_INFO: caps chain (type1 MIGRATION, DMA_AVAIL, IOVA_RANGE; compat DMA_AVAIL=U32_MAX, IOVA_RANGE), argsz written back', () => {
    const { be, c } = ready(name);
    be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n });
    const ranges = [
      { start: 0n, end: 0xfedfffffn },
      { start: 0xfef00000n, end: 0x7fffffffffn },
    ];
    const full = be.getInfo(c, 512);
    const want: By<object> = {
      'vfio-type1': { errno: 0, argsz: 512, flags: 3, iovaPgsizes: 0x40201000n, capOffset: 24, capabilities: { migration: { flags: 0, pgsizeBitmap: 0x1000n, maxDirtyBitmapSize: 0x10000000n }, dmaAvail: { avail: 65534 }, iovaRange: { nrIovas: 2, iovaRanges: ranges } } },
      'iommufd-compat': { errno: 0, argsz: 88, flags: 3, iovaPgsizes: 0x40201000n, capOffset: 24, capabilities: { dmaAvail: { avail: COMPAT_DMA_AVAIL }, iovaRange: { nrIovas: 2, iovaRanges: ranges } } },
    };
    expect(full).toEqual(want[name]);
    const small: By<object> = { 'vfio-type1': { errno: 0, argsz: 120, capOffset: 0 }, 'iommufd-compat': { errno: 0, argsz: 88, capOffset: 0 } };
    expect(be.getInfo(c, 24)).toMatchObject(small[name]);
    expect(be.getInfo(c, 24).capabilities).toBeUndefined();
    expect(e(be.getInfo(c, 15))).toBe('EINVAL');
  });

  it('TYPE1 (v1) unmaps inside a mapping: type1 removes entries starting in range whole, or stops; compat cuts the areas', () => {
    const { be, c } = ready(name, 'type1');
    be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x2000n });
    be.mapDma(c, { flags: RW, iova: 0x20000n, size: 0x2000n });
    const want: By<bigint[]> = { 'vfio-type1': [0x2000n, 0n], 'iommufd-compat': [0x1000n, 0x1000n] };
    const r1 = be.unmapDma(c, { flags: 0, iova: 0x10000n, size: 0x1000n });
    const r2 = be.unmapDma(c, { flags: 0, iova: 0x21000n, size: 0x1000n });
    expect([r1.errno, r2.errno]).toEqual([0, 0]);
    expect([r1.size, r2.size]).toEqual(want[name]);
  });

  it('IOVA wrap past 2^64 in the 2024 era: type1 EINVAL, compat EOVERFLOW', () => {
    const { be, c } = ready(name, 'type1v2', '2024');
    const want: By<string> = { 'vfio-type1': 'EINVAL', 'iommufd-compat': 'EOVERFLOW' };
    expect(e(be.mapDma(c, { flags: RW, iova: 0x1000n, size: 0x2000n, vaddr: 0xfffffffffffff000n }))).toBe(want[name]);
  });

  it('EBADF for a container not open; EINVAL for a group already set; device open of a group in no container → EINVAL', () => {
    const be = make(name);
    const c = be.containerOpen().container;
    expect([e(be.groupSetContainer('vf0', 7)), e(be.deviceOpen('vf0')), e(be.groupSetContainer('vf0', c)), e(be.groupSetContainer('vf0', c)), e(be.groupSetContainer('nope', c))]).toEqual(['EBADF', 'EINVAL', 'OK', 'EINVAL', 'ENOENT']);
  });
});

const OWN_HOST: HostDesc = {
  iommus: [{ name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 }],
  devices: [
    { name: 'rp0', bdf: '0000:00:1c.0', type: 'root-port', iommu: 'dmar0', acs: false },
    { name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', behind: 'rp0' },
    { name: 'nic0', bdf: '0000:3b:00.1', type: 'endpoint', behind: 'rp0' },
    { name: 'vf1', bdf: '0000:5e:00.0', type: 'vfio-pci', iommu: 'dmar0' },
    { name: 'mdev0', type: 'mdev', parent: 'vf1' },
  ],
};

describe('iommufd VFIO compatibility only', () => {
  it('DMA ownership is claimed at device open: a group with a host-driver endpoint sets its container but the device open is EBUSY (type1: set-container EBUSY)', () => {
    const b = hostBackends(platform(OWN_HOST));
    const c = b.compat.containerOpen().container;
    expect(e(b.compat.groupSetContainer('vf0', c))).toBe('OK');
    expect(e(b.compat.deviceOpen('vf0'))).toBe('EBUSY');
    const t = b.type1.containerOpen().container;
    expect(e(b.type1.groupSetContainer('vf0', t))).toBe('EBUSY');
    // vf1 opened through the compat layer: type1 cannot take its group (its file is open, and the
    // compat context owns its DMA); the device fd keeps both after group-unset-container; closing
    // the device releases them.
    b.compat.groupSetContainer('vf1', c);
    expect(e(b.compat.deviceOpen('vf1'))).toBe('OK');
    expect(e(b.type1.groupSetContainer('vf1', t))).toBe('EBUSY');
    expect(e(b.compat.groupUnsetContainer('vf1'))).toBe('OK');
    expect(e(b.type1.groupSetContainer('vf1', t))).toBe('EBUSY');
    expect(b.ownership.ownerOf(b.host.deviceByName.get('vf1')!.group)).toBe(b.compat.container(c)!.fd.ctx);
    expect(e(b.compat.deviceClose('vf1'))).toBe('OK');
    expect(e(b.compat.deviceClose('vf1'))).toBe('EBADF');
    expect(b.ownership.ownerOf(b.host.deviceByName.get('vf1')!.group)).toBeUndefined();
    expect(e(b.type1.groupSetContainer('vf1', t))).toBe('OK');
  });

  it('the compat IOAS is an ordinary IOAS of the container iommufd: IOMMU_VFIO_IOAS GET/SET/CLEAR; cleared → ENODEV; device open attaches an auto HWPT', () => {
    const be = new IommufdVfioCompat(platform(COMPAT_HOST));
    const c = be.containerOpen().container;
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_GET)).toEqual({ errno: 19, ioasId: 0 });
    be.groupSetContainer('vf0', c);
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_GET)).toEqual({ errno: 0, ioasId: 1 });
    const open = be.deviceOpen('vf0');
    expect(open).toEqual({ errno: 0, devId: 2, hwptId: 3 });
    expect(be.deviceOpen('vf0')).toEqual(open);
    const fd = be.container(c)!.fd;
    expect(fd.objects().map((o) => [o.id, o.kind])).toEqual([
      [1, 'ioas'],
      [2, 'device'],
      [3, 'hwpt-paging'],
    ]);
    expect(be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n }).errno).toBe(0);
    expect(fd.ioasIovaRanges(1, 0).numIovas).toBe(2);
    expect(be.translate('vf0', 0x10008n, 8n, 'write')).toEqual({ translated: 0x10008n, hwptId: 3 });
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_SET, 2).errno).toBe(2); // a DEVICE is not an IOAS: ENOENT
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_CLEAR).errno).toBe(0);
    expect(e(be.mapDma(c, { flags: RW, iova: 0x20000n, size: 0x1000n }))).toBe('ENODEV');
    const other = fd.ioasAlloc().outIoasId;
    expect(be.vfioIoas(c, IOMMU_VFIO_IOAS_SET, other).errno).toBe(0);
    expect(be.mapDma(c, { flags: RW, iova: 0x20000n, size: 0x1000n }).errno).toBe(0);
    expect(be.vfioIoas(c, 7).errno).toBe(95);
  });

  it('set-iommu TYPE1 with mappings in an attached domain: iopt_disable_large_pages gives EINVAL; a cut at a misaligned IOVA gives EINVAL (size unchanged)', () => {
    const be = new IommufdVfioCompat(platform(COMPAT_HOST));
    const c = be.containerOpen().container;
    be.groupSetContainer('vf0', c);
    be.deviceOpen('vf0');
    be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x2000n });
    expect(e(be.setIommu(c, 'type1'))).toBe('EINVAL');
    be.unmapDma(c, { flags: U.ALL, iova: 0n, size: 0n });
    expect(e(be.setIommu(c, 'type1'))).toBe('OK');
    be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x2000n });
    expect(be.unmapDma(c, { flags: 0, iova: 0x10800n, size: 0x800n })).toEqual({ errno: 22, size: 0x800n });
    expect(be.unmapDma(c, { flags: 0, iova: 0x11000n, size: 0x1000n })).toEqual({ errno: 0, size: 0x1000n });
    expect(be.translate('vf0', 0x10000n, 0x1000n, 'read')).toEqual({ translated: 0x10000n, hwptId: 3 });
  });

  it('MAP_DMA: vaddr + size reaching 2^64 exactly → EOVERFLOW (check_add_overflow in iopt_alloc_user_pages); one page less maps', () => {
    const be = new IommufdVfioCompat(platform(COMPAT_HOST));
    const c = be.containerOpen().container;
    be.groupSetContainer('vf0', c);
    be.deviceOpen('vf0');
    expect(e(be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n, vaddr: 0xfffffffffffff000n }))).toBe('EOVERFLOW');
    expect(e(be.mapDma(c, { flags: RW, iova: 0x10000n, size: 0x1000n, vaddr: 0xffffffffffffe000n }))).toBe('OK');
  });

  it('an mdev opens as an emulated access (not modelled: devId 0, no DMA path); an endpoint is no vfio device (ENODEV)', () => {
    const be = new IommufdVfioCompat(platform(OWN_HOST));
    const c = be.containerOpen().container;
    expect(e(be.groupSetContainer('mdev0', c))).toBe('OK');
    expect(be.deviceOpen('mdev0')).toEqual({ errno: 0, devId: 0, hwptId: 0 });
    expect(be.translate('mdev0', 0n, 1n, 'read')).toMatchObject({ fault: { reason: 'not-bound' } });
    be.groupSetContainer('vf0', c);
    expect(e(be.deviceOpen('nic0'))).toBe('ENODEV');
  });
});
