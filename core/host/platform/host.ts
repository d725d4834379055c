/**
 * The host platform: physical IOMMUs, the PCI topology and IOMMU groups, resolved from a plain
 * description (describe.ts). Groups follow Linux's pci_device_group (drivers/iommu/iommu.c):
 *  - a device behind a PCIe-to-PCI bridge takes the bridge's requester ID (a DMA alias), so it
 *    shares the bridge's group;
 *  - walking upstream, the first port whose path to the root is not ACS-isolated
 *    (pci_acs_path_enabled fails) hands its group down: so every device below a root port or
 *    switch port without ACS shares that port's group. Equivalently, a device joins the group of
 *    its highest upstream "isolation breaker" (a PCIe-to-PCI bridge, or a port with acs: false);
 *  - an explicit `group: N` overrides the rule for that device (and for those that join it);
 *  - an mdev has no IOMMU domain of its own: it gets an emulated group (vfio
 *    VFIO_EMULATED_IOMMU, a new group per mdev) and its DMA goes through its parent.
 * Group numbers are stable: automatic groups are numbered from 0 in BDF order of their first
 * member, skipping explicit numbers; mdev groups come after, in description order.
 * Per device the result carries what VFIO's valid IOVA list and iommufd's reserved ranges are
 * computed from (reference §2.4, §4): the aperture, the reserved regions, the usable ranges
 * (aperture minus every reserved region but direct-relaxable) and the page-size bitmap.
 */
import type { DeviceDesc, DeviceType, HostDesc, HostProblem } from './describe.ts';
import { DEVICE_TYPES } from './describe.ts';
import { resolveIommu, type ResolvedIommu } from './iommus.ts';
import type { ReservedRegion } from './models.ts';
import { subtractRanges, type IovaRange } from './ranges.ts';

export type { DeviceDesc, HostDesc, HostProblem, IommuDesc, ReservedRegionDesc } from './describe.ts';
export type { ResolvedIommu } from './iommus.ts';

/** A resolved device. */
export interface ResolvedDevice {
  name: string;
  type: DeviceType;
  /** Canonical "DDDD:BB:DD.F"; null for an mdev. */
  bdf: string | null;
  /** The IOMMU translating its DMA; null for an mdev (no domain of its own). */
  iommu: string | null;
  /** IOMMU group number. */
  group: number;
  behind: string | null;
  /** For an mdev: the device doing its DMA. */
  parent: string | null;
  /** Whether a PCIe-to-PCI bridge is upstream (its DMA is aliased to the bridge). */
  behindPciBridge: boolean;
  /** The IOMMU's paging-domain aperture; null for an mdev. */
  aperture: IovaRange | null;
  /** Reserved regions the device reports (iommu_get_resv_regions), sorted; [] for an mdev. */
  reservedRegions: readonly ReservedRegion[];
  /** Aperture minus every reserved region except direct-relaxable, sorted; [] for an mdev (unconstrained). */
  usableRanges: readonly IovaRange[];
  /** The IOMMU's page-size bitmap; 0n for an mdev. */
  pgsizeBitmap: bigint;
}

/** One IOMMU group. */
export interface IommuGroup {
  id: number;
  /** Member device names in BDF order (mdev: the one mdev). */
  members: string[];
  /** The IOMMU of its members; null for an emulated (mdev) group. */
  iommu: string | null;
  /** VFIO_EMULATED_IOMMU: an mdev group, no IOMMU domain. */
  emulated: boolean;
}

/** The resolved platform. Lookups by name; `devices` in BDF order then mdevs; `groups` by id. */
export interface HostPlatform {
  iommus: ReadonlyMap<string, ResolvedIommu>;
  devices: readonly ResolvedDevice[];
  deviceByName: ReadonlyMap<string, ResolvedDevice>;
  groups: readonly IommuGroup[];
  groupById: ReadonlyMap<number, IommuGroup>;
}

/** resolveHost's result: the platform, or every problem found (a platform is built only when there are none). */
export type HostResolution = { ok: true; host: HostPlatform } | { ok: false; problems: HostProblem[] };

const BDF_RE = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])$/;

/** Parses "DDDD:BB:DD.F" or "BB:DD.F" into its canonical text and a sort key; undefined when malformed (device ≤ 0x1f). */
export function parseBdf(s: string): { text: string; key: number } | undefined {
  const m = BDF_RE.exec(s);
  if (m === null) return undefined;
  const dom = parseInt(m[1] ?? '0', 16);
  const bus = parseInt(m[2], 16);
  const dev = parseInt(m[3], 16);
  const fn = parseInt(m[4], 16);
  if (dev > 0x1f) return undefined;
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return { text: `${h(dom, 4)}:${h(bus, 2)}:${h(dev, 2)}.${fn}`, key: dom * 65536 + bus * 256 + dev * 8 + fn };
}

const PORTS: readonly string[] = ['root-port', 'switch-port', 'pcie-to-pci-bridge'];

/**
 * Resolves a host description (see the file comment). Problems (field paths relative to the
 * `host:` block): unknown model or bad override (iommus.N.*), duplicate names, unknown or missing
 * iommu, unknown `behind` or one that is not a port or bridge, a cycle through `behind`, a
 * malformed or duplicate BDF, an mdev without a (known, non-mdev) parent, a negative or
 * non-integer group, a group whose members sit behind different IOMMUs.
 */
export function resolveHost(desc: HostDesc): HostResolution {
  const problems: HostProblem[] = [];
  const iommus = new Map<string, ResolvedIommu>();
  const names = new Set<string>();
  (desc.iommus ?? []).forEach((d, i) => {
    const dup = names.has(d.name);
    if (typeof d.name !== 'string' || d.name === '') problems.push({ path: `iommus.${i}.name`, message: 'an IOMMU needs a name' });
    else if (dup) problems.push({ path: `iommus.${i}.name`, message: `duplicate IOMMU name "${d.name}"` });
    names.add(d.name);
    const r = resolveIommu(d, `iommus.${i}`, problems);
    if (r !== undefined && !dup) iommus.set(d.name, r);
  });

  const devs = desc.devices ?? [];
  const index = new Map<string, number>();
  const bdfs = new Map<string, number>();
  const keys: number[] = [];
  devs.forEach((d, i) => {
    const p = `devices.${i}`;
    if (typeof d.name !== 'string' || d.name === '') problems.push({ path: `${p}.name`, message: 'a device needs a name' });
    else if (index.has(d.name)) problems.push({ path: `${p}.name`, message: `duplicate device name "${d.name}"` });
    else index.set(d.name, i);
    if (!(DEVICE_TYPES as readonly string[]).includes(d.type)) problems.push({ path: `${p}.type`, message: `unknown device type "${String(d.type)}" (one of ${DEVICE_TYPES.join(', ')})` });
    if (d.group !== undefined && (!Number.isInteger(d.group) || d.group < 0 || d.group > 0xffffffff)) problems.push({ path: `${p}.group`, message: `group must be a u32, got ${String(d.group)}` });
    keys[i] = -1;
    if (d.type === 'mdev') {
      for (const k of ['bdf', 'iommu', 'behind', 'acs'] as const) if (d[k] !== undefined) problems.push({ path: `${p}.${k}`, message: `an mdev has no ${k}: its DMA goes through its parent` });
      return;
    }
    if (d.parent !== undefined) problems.push({ path: `${p}.parent`, message: 'only an mdev has a parent' });
    if (d.bdf === undefined) {
      problems.push({ path: `${p}.bdf`, message: 'a PCI device needs a bdf' });
      return;
    }
    const b = parseBdf(d.bdf);
    if (b === undefined) {
      problems.push({ path: `${p}.bdf`, message: `malformed BDF "${d.bdf}" (DDDD:BB:DD.F)` });
      return;
    }
    const seen = bdfs.get(b.text);
    if (seen !== undefined) problems.push({ path: `${p}.bdf`, message: `duplicate BDF ${b.text} (also devices.${seen})` });
    else bdfs.set(b.text, i);
    keys[i] = b.key;
  });

  // behind: known, a port or bridge, no cycle.
  const up: number[] = devs.map(() => -1);
  // Devices whose upstream chain is broken (bad behind, or a cycle): their missing iommu is not reported again.
  const broken = new Set<number>();
  devs.forEach((d, i) => {
    if (d.behind === undefined || d.type === 'mdev') return;
    const j = index.get(d.behind);
    if (j === undefined) problems.push({ path: `devices.${i}.behind`, message: `unknown device "${d.behind}"` });
    else if (!PORTS.includes(devs[j].type)) problems.push({ path: `devices.${i}.behind`, message: `"${d.behind}" is a ${devs[j].type}, not a root port, switch port or PCIe-to-PCI bridge` });
    else up[i] = j;
    if (up[i] < 0) broken.add(i);
  });
  const onCycle = new Set<number>();
  devs.forEach((_, i) => {
    const path: number[] = [];
    const at = new Map<number, number>();
    for (let k = i; k >= 0; k = up[k]) {
      if (onCycle.has(k)) {
        broken.add(i);
        break;
      }
      if (at.has(k)) {
        for (const c of path) broken.add(c);
        const cyc = path.slice(at.get(k));
        if (cyc[0] === i) problems.push({ path: `devices.${i}.behind`, message: `cycle through behind: ${[...cyc, i].map((c) => devs[c].name).join(' → ')}` });
        for (const c of cyc) onCycle.add(c);
        break;
      }
      at.set(k, path.length);
      path.push(k);
    }
  });
  if (onCycle.size > 0) for (const c of onCycle) up[c] = -1;

  // iommu: given, or inherited through behind.
  const iommuOf: (string | null)[] = devs.map(() => null);
  const iommuAt = (i: number): string | undefined => {
    for (let k = i; k >= 0; k = up[k]) if (devs[k].iommu !== undefined) return devs[k].iommu;
    return undefined;
  };
  devs.forEach((d, i) => {
    if (d.type === 'mdev') return;
    const name = iommuAt(i);
    if (name === undefined && broken.has(i)) return;
    if (name === undefined) problems.push({ path: `devices.${i}.iommu`, message: `no iommu for "${d.name}" (give one, or place it behind a port that has one)` });
    else if (!iommus.has(name)) {
      // An IOMMU that is described but invalid has its own problem already.
      if (d.iommu !== undefined && !names.has(name)) problems.push({ path: `devices.${i}.iommu`, message: `unknown IOMMU "${name}"` });
    } else iommuOf[i] = name;
  });

  // mdev parents.
  devs.forEach((d, i) => {
    if (d.type !== 'mdev') return;
    if (d.parent === undefined) problems.push({ path: `devices.${i}.parent`, message: 'an mdev needs a parent device' });
    else {
      const j = index.get(d.parent);
      if (j === undefined) problems.push({ path: `devices.${i}.parent`, message: `unknown device "${d.parent}"` });
      else if (devs[j].type === 'mdev') problems.push({ path: `devices.${i}.parent`, message: `"${d.parent}" is an mdev itself` });
    }
  });
  if (problems.length > 0) return { ok: false, problems };
  const host = buildGroups(devs, up, keys, iommuOf, iommus, problems);
  return host === undefined ? { ok: false, problems } : { ok: true, host };
}

/** Isolation breaker: a PCIe-to-PCI bridge, or a port without ACS (acs defaults to true). */
function breaks(d: DeviceDesc): boolean {
  return d.type === 'pcie-to-pci-bridge' || ((d.type === 'root-port' || d.type === 'switch-port') && d.acs === false);
}

function buildGroups(devs: readonly DeviceDesc[], up: readonly number[], keys: readonly number[], iommuOf: readonly (string | null)[], iommus: ReadonlyMap<string, ResolvedIommu>, problems: HostProblem[]): HostPlatform | undefined {
  const pci = devs.map((_, i) => i).filter((i) => devs[i].type !== 'mdev');
  pci.sort((a, b) => keys[a] - keys[b]);
  // Each device's group key: explicit "#N", else the owner's key, else its own index.
  const keyOf = new Map<number, string>();
  const groupKey = (i: number): string => {
    const known = keyOf.get(i);
    if (known !== undefined) return known;
    let k: string;
    if (devs[i].group !== undefined) k = `#${devs[i].group}`;
    else {
      let owner = -1;
      for (let a = up[i]; a >= 0; a = up[a]) if (breaks(devs[a])) owner = a;
      k = owner >= 0 ? groupKey(owner) : `@${i}`;
    }
    keyOf.set(i, k);
    return k;
  };
  const explicit = new Set(devs.filter((d) => d.group !== undefined).map((d) => d.group as number));
  const idOfKey = new Map<string, number>();
  let next = 0;
  const alloc = (): number => {
    while (explicit.has(next)) next++;
    return next++;
  };
  const byId = new Map<number, IommuGroup>();
  const member = (id: number, name: string, iommu: string | null, emulated: boolean, path: string): void => {
    const g = byId.get(id);
    if (g === undefined) byId.set(id, { id, members: [name], iommu, emulated });
    else {
      if (g.iommu !== iommu || g.emulated !== emulated) problems.push({ path, message: `group ${id} would mix devices of ${g.iommu ?? 'an mdev'} and ${iommu ?? 'an mdev'} (a group belongs to one IOMMU)` });
      g.members.push(name);
    }
  };
  const groupOf = new Map<number, number>();
  for (const i of pci) {
    const k = groupKey(i);
    let id = idOfKey.get(k);
    if (id === undefined) {
      id = k.startsWith('#') ? Number(k.slice(1)) : alloc();
      idOfKey.set(k, id);
    }
    groupOf.set(i, id);
    member(id, devs[i].name, iommuOf[i], false, `devices.${i}.group`);
  }
  devs.forEach((d, i) => {
    if (d.type !== 'mdev') return;
    const id = d.group ?? alloc();
    groupOf.set(i, id);
    member(id, d.name, null, true, `devices.${i}.group`);
  });
  if (problems.length > 0) return undefined;

  const resolved: ResolvedDevice[] = [];
  const order = [...pci, ...devs.map((_, i) => i).filter((i) => devs[i].type === 'mdev')];
  for (const i of order) {
    const d = devs[i];
    let behindPciBridge = false;
    for (let a = up[i]; a >= 0; a = up[a]) if (devs[a].type === 'pcie-to-pci-bridge') behindPciBridge = true;
    const mmu = iommuOf[i] === null ? undefined : iommus.get(iommuOf[i] as string);
    const resv = mmu?.reservedRegions ?? [];
    resolved.push({
      name: d.name,
      type: d.type as DeviceType,
      bdf: d.bdf === undefined ? null : (parseBdf(d.bdf)?.text ?? null),
      iommu: mmu?.name ?? null,
      group: groupOf.get(i) as number,
      behind: d.behind ?? null,
      parent: d.parent ?? null,
      behindPciBridge,
      aperture: mmu?.aperture ?? null,
      reservedRegions: resv,
      usableRanges: mmu === undefined ? [] : subtractRanges([mmu.aperture], resv.filter((r) => r.type !== 'direct-relaxable')),
      pgsizeBitmap: mmu?.pgsizeBitmap ?? 0n,
    });
  }
  const groups = [...byId.values()].sort((a, b) => a.id - b.id);
  return { iommus, devices: resolved, deviceByName: new Map(resolved.map((d) => [d.name, d])), groups, groupById: byId };
}
