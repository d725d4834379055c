/** Display formatting shared by the views (pure functions). */
import type { EventFamily } from '../../core/events/catalog.ts';
import { ALWAYS_PROBLEM_KINDS, KINDS_BY_FAMILY, familyOf } from '../../core/events/problems.ts';
import type { MetricUnit } from '../../core/events/metric-catalog.ts';

/**
 * True for event kinds whose every event is a problem (faults, device errors): shown in the
 * problem colour wherever a kind is named. From the catalog's one problem definition
 * (core/events/problems.ts); rows carry their own EventRow.problem for the kinds where it depends.
 */
export function isProblemKind(kind: string): boolean {
  return (ALWAYS_PROBLEM_KINDS as readonly string[]).includes(kind);
}

/** The problem colour (faults, device errors, failed expectations). */
export const PROBLEM_COLOR = '#ef6b6b';
/** Colour of kinds this build does not declare. */
const UNKNOWN_COLOR = '#6b7890';

/**
 * Shades of each event family (catalog `family`), assigned to the family's kinds in code order
 * (wrapping): the vIOMMU's kinds in blues and teals, the run's (expectations) in violet; room for
 * the host side's families.
 */
const FAMILY_SHADES: Readonly<Record<EventFamily, readonly string[]>> = {
  'virtio-iommu': ['#4d9bf0', '#8b93a1', '#3a78c0', '#4ec9b0', '#6aa8e8', '#5f8fb8', '#7fb8d8', '#3f9f95'],
  'intel-iommu': ['#4ec98a', '#3fa870', '#7fd8a8'],
  'host-backend': ['#e5b454', '#c9953a', '#f0cc80'],
  'host-iommu-device': ['#d19a66', '#b8804d'],
  'host-iommu': ['#c586c0', '#a56aa0'],
  guest: ['#9cdcfe', '#7fc0e0'],
  trace: ['#ce9178', '#b5cea8', '#d7ba7d'],
  run: ['#9d8cf0', '#8070d0'],
};

/**
 * The colour of an event kind: the problem colour for kinds whose every event is a problem, else a
 * shade of its family's colour (catalog declaration; renderer-only palette).
 */
export function kindColor(kind: string): string {
  if (isProblemKind(kind)) return PROBLEM_COLOR;
  const family = familyOf(kind);
  if (!family) return UNKNOWN_COLOR;
  const shades = FAMILY_SHADES[family];
  const kinds = (KINDS_BY_FAMILY.get(family) ?? []) as readonly string[];
  const nonProblem = kinds.filter((k) => !isProblemKind(k));
  return shades[Math.max(0, nonProblem.indexOf(kind)) % shades.length];
}

/** A metric value as its card shows it, by its declared unit: counts with separators, bytes as "12.5 MiB", ns as "1.2 µs". */
export function formatMetricValue(unit: MetricUnit, value: number | string | undefined): string {
  if (value === undefined) return '—';
  switch (unit) {
    case 'bytes':
      return formatBytes(String(value));
    case 'ns': {
      const n = Number(value);
      return n < 1e3 ? `${n} ns` : n < 1e6 ? `${(n / 1e3).toFixed(1)} µs` : n < 1e9 ? `${(n / 1e6).toFixed(1)} ms` : `${(n / 1e9).toFixed(2)} s`;
    }
    case 'events/s':
      return `${formatCount(Math.round(Number(value)))}/s`;
    default:
      return formatCount(Number(value));
  }
}
import type { RunConfig } from '../../core/contract/index.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Formats a byte count given as a decimal string (may exceed 2^53) as "12.5 MiB". */
export function formatBytes(decimal: string | null | undefined): string {
  if (decimal === null || decimal === undefined || decimal === '') return '—';
  let v: bigint;
  try {
    v = BigInt(decimal);
  } catch {
    return decimal;
  }
  let unit = 0;
  let whole = v;
  while (whole >= 1024n * 1024n && unit < UNITS.length - 2) {
    whole /= 1024n;
    unit++;
  }
  // whole < 2^20 * 1024 now: safe to finish in floating point.
  let n = Number(whole);
  if (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${n.toFixed(n >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

/** Thousands separators. */
export function formatCount(n: number | undefined): string {
  return n === undefined ? '—' : n.toLocaleString('en-US');
}

/** "14:03:22" for today, "2026-11-21 14:03" otherwise. */
export function formatTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const now = new Date();
  const pad = (x: number) => String(x).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
}

/** Duration between two ISO times: "320 ms", "4.2 s". */
export function formatDuration(from: string, to: string | null): string {
  if (!to) return '';
  const ms = new Date(to).getTime() - new Date(from).getTime();
  if (!Number.isFinite(ms) || ms < 0) return '';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * An endpoint ID as the PCI address it stands for: virtio-iommu endpoint IDs of PCI devices are
 * requester IDs, bus << 8 | devfn (QEMU `pci_requester_id`), shown "bb:dd.f" like lspci.
 * Values above 0xffff (not a requester ID) stay decimal.
 */
export function formatEndpoint(id: number): string {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) return String(id);
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(id >> 8, 2)}:${hex((id >> 3) & 0x1f, 2)}.${id & 7}`;
}

/** One labelled item of a run's configuration line. */
export interface ConfigItem {
  label: string;
  value: string;
  title: string;
}

/**
 * A run configuration as the run header shows it: machine, vIOMMU model, conformance mode,
 * granule, aw-bits and the devices ("nic0 00:03.0"). `title` says what each item is.
 */
export function configText(c: RunConfig): ConfigItem[] {
  const items: ConfigItem[] = [
    { label: 'machine', value: c.machine, title: 'QEMU machine type' },
    { label: 'viommu', value: c.model, title: 'vIOMMU model' },
    { label: 'mode', value: c.conformance, title: 'conformance: qemu behaves as QEMU does (deviations included), spec follows the virtio spec' },
    { label: 'granule', value: c.granule === 'host' ? 'host (4k)' : c.granule, title: 'QEMU granule property: the smallest page size in page_size_mask' },
    { label: 'aw-bits', value: String(c.awBits), title: 'QEMU aw-bits: input address width (input_range ends at 2^aw-bits − 1)' },
  ];
  if (c.cachingMode !== undefined) items.push({ label: 'caching-mode', value: c.cachingMode ? 'on' : 'off', title: 'intel-iommu caching-mode (needed for assigned devices)' });
  if (c.xFlts) items.push({ label: 'x-flts', value: 'on', title: 'intel-iommu x-flts: first-stage translation (nesting on the host)' });
  if (c.devices.length) items.push({ label: 'devices', value: c.devices.map((d) => `${d.name} ${d.bdf}${d.host ? ` → ${d.host}` : ''}`).join(', '), title: 'endpoints declared in the scenario (→ the host device assigned to it)' });
  if (c.backend) items.push({ label: 'backend', value: `${c.backend} · kernel ${c.kernel ?? '?'}`, title: 'how QEMU reaches assigned devices (iommufd or VFIO type1), and the kernel era the uAPI outcomes follow' });
  if (c.groups?.length) {
    const groups = c.groups.map((g) => `${g.id} [${g.members.join(' ')}]${g.iommu ? '' : ' emulated'}`).join(', ');
    items.push({ label: 'groups', value: groups, title: 'IOMMU groups computed by Linux\'s rules (or `group: N`)' });
  }
  return items;
}

/** The short form for the runs list: "q35 · qemu · 4k · aw39" (intel-iommu: "q35 · vt-d · 4k · aw48"). */
export function configShort(c: RunConfig): string {
  return [c.machine, c.model === 'intel-iommu' ? 'vt-d' : c.conformance, c.granule === 'host' ? '4k' : c.granule, `aw${c.awBits}`].join(' · ');
}

/** Colour of a component layer (DESIGN.md §2), matching its events' family shades. */
const LAYER_COLORS: Readonly<Record<string, string>> = {
  guest: '#9cdcfe',
  viommu: '#4d9bf0',
  'host-iommu-device': '#d19a66',
  backend: '#e5b454',
  iommu: '#c586c0',
  run: '#9d8cf0',
};

/** The colour of a layer (grey for one this build does not know). */
export function layerColor(layer: string): string {
  return LAYER_COLORS[layer] ?? UNKNOWN_COLOR;
}

/** Short names of the layers, as QEMU's code says them (hiod: vfio_device_hiod_create_and_realize), and their full names. */
const LAYER_LABELS: Readonly<Record<string, readonly [string, string]>> = {
  guest: ['guest', 'guest devices (DMA)'],
  viommu: ['vIOMMU', 'vIOMMU'],
  'host-iommu-device': ['hiod', 'HostIOMMUDevice'],
  backend: ['backend', 'host backend (iommufd, VFIO type1)'],
  iommu: ['IOMMU', 'physical (host) IOMMU'],
  run: ['run', 'the run itself (expectations)'],
};

/** The short label of a layer (its id when unknown). */
export function layerLabel(layer: string): string {
  return LAYER_LABELS[layer]?.[0] ?? layer;
}

/** The full name of a layer (its id when unknown). */
export function layerTitle(layer: string): string {
  return LAYER_LABELS[layer]?.[1] ?? layer;
}

/** Virtual time (ns) in µs with three decimals, "" when absent (rows stored before schema version 6). */
export function formatVirtualTime(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '';
  return (ns / 1000).toLocaleString('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 });
}

/** iommufd's object type names (IOMMUFD_OBJ_*, drivers/iommu/iommufd/iommufd_private.h), VFIO's for containers and groups. */
const OBJECT_TYPE_NAMES: Readonly<Record<string, string>> = {
  ioas: 'IOAS',
  'hwpt-paging': 'HWPT_PAGING',
  'hwpt-nested': 'HWPT_NESTED',
  device: 'DEVICE',
  access: 'ACCESS',
  viommu: 'VIOMMU',
  vdevice: 'VDEVICE',
  fault: 'FAULT',
  'vfio-container': 'CONTAINER',
  'vfio-group': 'GROUP',
};

/** The kernel's name of a host object type. */
export function objectTypeName(type: string): string {
  return OBJECT_TYPE_NAMES[type] ?? type.toUpperCase();
}
