/** Fixtures of the VFIO type1 tests: a resolved host and a container with groups set and an IOMMU type. */
import { expect } from 'vitest';
import { VFIO_DMA_MAP_FLAG as M, VfioType1 } from '../../../../core/host/backend/vfio-type1/vfio.ts';
import { ERRNO, errnoName } from '../../../../core/host/errno.ts';
import type { KernelEra } from '../../../../core/host/kernel.ts';
import { resolveHost, type HostDesc } from '../../../../core/host/platform/host.ts';
import { COMPAT_HOST } from './dma-compat-cases.ts';

/** MAP_DMA READ|WRITE. */
export const RW = M.READ | M.WRITE;

/** The resolved platform of `desc` (throws on problems: a fixture bug). */
export function platform(desc: HostDesc) {
  const r = resolveHost(desc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.host;
}

/** A type1 container over `desc` with `groups` set, then set-iommu `type`. */
export function setup(desc: HostDesc = COMPAT_HOST, groups: (number | string)[] = ['vf0'], type: string = 'type1v2', opts: { kernel?: KernelEra; dmaEntryLimit?: number } = {}) {
  const v = new VfioType1(platform(desc), opts);
  const c = v.containerOpen().container;
  for (const g of groups) expect(errnoName(v.groupSetContainer(g, c).errno)).toBe('OK');
  expect(v.setIommu(c, type).errno).toBe(ERRNO.OK);
  return { v, c };
}

