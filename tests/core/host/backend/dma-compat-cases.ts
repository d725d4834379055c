/**
 * MAP/UNMAP cases shared by VFIO type1 (v2) and iommufd's VFIO compatibility (the ioctls QEMU's
 * legacy container path issues), as one table run by each backend's test through a small adapter
 * (`CompatBackend`). Fixture: a 39-bit VT-d (x86 MSI window 0xfee00000–0xfeefffff reserved, 4 KiB
 * smallest page) with one vfio-pci device attached, type1v2 semantics. Where the kernel differs
 * between the two, the case says so in `by` (reference §4: "iommufd's VFIO-compat layer rejects a
 * v2 partial unmap with ENOENT (selftest 42), while native type1 uses EINVAL"; §2.3: the empty-range
 * unmap before and after afb47765f923). dma-compat.test.ts runs the table over both backends
 * (BACKENDS there), plus the rules where they differ, one test body per rule.
 */
import { errnoName } from '../../../../core/host/errno.ts';
import type { KernelEra } from '../../../../core/host/kernel.ts';
import type { HostDesc } from '../../../../core/host/platform/host.ts';

/** The backend under test, reduced to the compat operations. Errno values as numbers (0 = OK). */
export interface CompatBackend {
  /** MAP_DMA with READ|WRITE (vaddr = iova), or its iommufd-compat equivalent. */
  map(iova: bigint, size: bigint): number;
  /** UNMAP_DMA without flags: errno and bytes unmapped. */
  unmap(iova: bigint, size: bigint): { errno: number; size: bigint };
  /** UNMAP_DMA with FLAG_ALL (iova 0, size 0). */
  unmapAll(): { errno: number; size: bigint };
}

/** Builds a fresh backend on {@link COMPAT_HOST}, device `vf0` attached, in the given kernel era. */
export type CompatFactory = (kernel: KernelEra) => CompatBackend;

/** The fixture host. */
export const COMPAT_HOST: HostDesc = {
  iommus: [{ name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 }],
  devices: [{ name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'dmar0' }],
};

type Op = readonly ['map', bigint, bigint] | readonly ['unmap', bigint, bigint] | readonly ['unmap-all'];
/** An expected outcome: errno name, and for unmap the bytes unmapped. */
export interface Outcome {
  errno: string;
  size?: bigint;
}

/** One case: mappings made first (each must succeed), the operation, the outcome, per-backend and per-era differences. */
export interface CompatCase {
  name: string;
  setup: readonly (readonly [bigint, bigint])[];
  op: Op;
  expect: Outcome;
  /** Outcome for one backend name (e.g. 'iommufd-compat'), optionally per kernel era. */
  by?: Readonly<Record<string, Outcome | Readonly<Partial<Record<KernelEra, Outcome>>>>>;
  /** Eras the case runs in (default both). */
  eras?: readonly KernelEra[];
}

const K = 0x1000n;
const A = [0x10000n, 0x4000n] as const; // the selftest's area shape: [0x10000, 0x14000)

/** The shared table. */
export const COMPAT_CASES: readonly CompatCase[] = [
  { name: 'map one page at IOVA 0', setup: [], op: ['map', 0n, K], expect: { errno: 'OK' } },
  { name: 'map length 0', setup: [], op: ['map', 0x10000n, 0n], expect: { errno: 'EINVAL' } },
  { name: 'map IOVA not page aligned', setup: [], op: ['map', 0x10800n, K], expect: { errno: 'EINVAL' } },
  { name: 'map size not page aligned', setup: [], op: ['map', 0x10000n, 0x1800n], expect: { errno: 'EINVAL' } },
  { name: 'map over an existing mapping: exact', setup: [A], op: ['map', 0x10000n, 0x4000n], expect: { errno: 'EEXIST' } },
  { name: 'map over an existing mapping: sub-range at the start', setup: [A], op: ['map', 0x10000n, K], expect: { errno: 'EEXIST' } },
  { name: 'map over an existing mapping: sub-range at the end', setup: [A], op: ['map', 0x13000n, K], expect: { errno: 'EEXIST' } },
  { name: 'map over an existing mapping: straddling its start', setup: [A], op: ['map', 0xf000n, 0x2000n], expect: { errno: 'EEXIST' } },
  { name: 'map over an existing mapping: straddling its end', setup: [A], op: ['map', 0x13000n, 0x2000n], expect: { errno: 'EEXIST' } },
  { name: 'map over an existing mapping: superset', setup: [A], op: ['map', 0xf000n, 0x6000n], expect: { errno: 'EEXIST' } },
  { name: 'map adjacent below and above', setup: [A, [0xf000n, K], [0x14000n, K]], op: ['map', 0x20000n, K], expect: { errno: 'OK' } },
  { name: 'map inside the MSI window (reserved)', setup: [], op: ['map', 0xfee00000n, K], expect: { errno: 'EINVAL' } },
  { name: 'map straddling into the MSI window', setup: [], op: ['map', 0xfedff000n, 0x2000n], expect: { errno: 'EINVAL' } },
  { name: 'map the last page below 2^39', setup: [], op: ['map', 0x7ffffff000n, K], expect: { errno: 'OK' } },
  { name: 'map above the 39-bit aperture', setup: [], op: ['map', 0x8000000000n, K], expect: { errno: 'EINVAL' } },
  { name: 'map across the 4 GiB line', setup: [], op: ['map', 0xfffff000n, 0x2000n], expect: { errno: 'OK' } },
  { name: 'unmap exactly one mapping: size written back', setup: [A], op: ['unmap', 0x10000n, 0x4000n], expect: { errno: 'OK', size: 0x4000n } },
  { name: 'issue 7 example: unmap a superset of one page', setup: [[0n, K]], op: ['unmap', 0n, 0x2000n], expect: { errno: 'OK', size: K } },
  { name: 'unmap a superset of two mappings with a hole: the sum of their sizes', setup: [A, [0x20000n, 0x2000n]], op: ['unmap', 0n, 0x100000n], expect: { errno: 'OK', size: 0x6000n } },
  {
    name: 'unmap bisecting a mapping at the start (v2)',
    setup: [A],
    op: ['unmap', 0x11000n, 0x3000n],
    expect: { errno: 'EINVAL' },
    by: { 'iommufd-compat': { errno: 'ENOENT' } },
  },
  {
    name: 'unmap bisecting a mapping at the end (v2)',
    setup: [A],
    op: ['unmap', 0x10000n, 0x2000n],
    expect: { errno: 'EINVAL' },
    by: { 'iommufd-compat': { errno: 'ENOENT' } },
  },
  {
    name: 'unmap one page of a two-page mapping',
    setup: [[0x10000n, 0x2000n]],
    op: ['unmap', 0x10000n, K],
    expect: { errno: 'EINVAL' },
    by: { 'iommufd-compat': { errno: 'ENOENT' } },
  },
  {
    name: 'unmap a range with nothing mapped',
    setup: [A],
    op: ['unmap', 0x100000n, K],
    expect: { errno: 'OK', size: 0n },
    by: { 'iommufd-compat': { '2024': { errno: 'ENOENT' }, '2025': { errno: 'OK', size: 0n } } },
  },
  { name: 'unmap size 0', setup: [A], op: ['unmap', 0x10000n, 0n], expect: { errno: 'EINVAL' } },
  {
    name: 'unmap IOVA not page aligned (inside a mapping)',
    setup: [A],
    op: ['unmap', 0x10800n, K],
    expect: { errno: 'EINVAL' },
    // iopt_unmap_iova checks no alignment: the area sticks out of the range → ENOENT.
    by: { 'iommufd-compat': { errno: 'ENOENT' } },
  },
  { name: 'unmap two adjacent mappings exactly', setup: [A, [0x14000n, 0x2000n]], op: ['unmap', 0x10000n, 0x6000n], expect: { errno: 'OK', size: 0x6000n } },
  {
    name: 'unmap straddling the end of one mapping into a hole',
    setup: [A],
    op: ['unmap', 0x12000n, 0x4000n],
    expect: { errno: 'EINVAL' },
    by: { 'iommufd-compat': { errno: 'ENOENT' } },
  },
  { name: 'map IOVA + size wrapping past 2^64', setup: [], op: ['map', 0xfffffffffffff000n, 0x2000n], expect: { errno: 'EOVERFLOW' }, by: { 'vfio-type1': { '2024': { errno: 'EINVAL' } } } },
  { name: 'unmap all: every mapping, size the total', setup: [A, [0x20000n, 0x2000n], [0x7ffffff000n, K]], op: ['unmap-all'], expect: { errno: 'OK', size: 0x7000n } },
  { name: 'unmap all on an empty container', setup: [], op: ['unmap-all'], expect: { errno: 'OK', size: 0n } },
];

/** The outcome `c` expects from backend `backend` in `era`. */
export function expected(c: CompatCase, backend: string, era: KernelEra): Outcome {
  const o = c.by?.[backend];
  if (o === undefined) return c.expect;
  if ('errno' in o) return o as Outcome;
  return (o as Partial<Record<KernelEra, Outcome>>)[era] ?? c.expect;
}

/** Runs one case on a backend: the setup maps (each must succeed), then the operation. */
export function runCase(b: CompatBackend, c: CompatCase): { setup: string[]; outcome: Outcome } {
  const setup = c.setup.map(([iova, size]) => errnoName(b.map(iova, size)));
  const op = c.op;
  if (op[0] === 'map') return { setup, outcome: { errno: errnoName(b.map(op[1], op[2])) } };
  const r = op[0] === 'unmap' ? b.unmap(op[1], op[2]) : b.unmapAll();
  // `size` is written back only on success; a failed ioctl leaves the caller's struct as it was.
  return { setup, outcome: r.errno === 0 ? { errno: 'OK', size: r.size } : { errno: errnoName(r.errno) } };
}
