/**
 * The resolved model of the guest DMA layer of a scenario (issue 8 §1; syntax in guest-schema.ts):
 * the `guest:` block with its defaults, the guest topology fields of each device (root ports,
 * `behind`, ACS, the DMA mask), and the `dma-map` / `dma-unmap` / `dma-stream` / `wait` steps with
 * their references checked: a device is a declared endpoint (by name or PCI address), a dma-unmap
 * `handle` was named by an earlier dma-map's `out`, a `cpu` is below guest.cpus, sizes are 1 byte
 * to below 2^52. Problems are reported through the caller's `err(path, message)` at the YAML node.
 *
 * Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part B (B1 dma-iommu.c, B3
 * strict vs lazy); Linux drivers/iommu/dma-iommu.c, drivers/iommu/iova.c.
 */
import { bdfToString, parseBdf } from '../events/format.ts';
import { HZ_CHOICES, MAX_DMA_SIZE, type DmaDirName, type GuestStepOp } from './guest-schema.ts';
import { U64_MAX, hex } from './kinds.ts';
import type { ScenarioDevice } from './model.ts';
import type { ScenarioDoc, StepArgs, StepExpectDoc } from './schema.ts';

/**
 * A DMA direction as a bit mask of what the device may do, as dma_info_to_prot turns it into IOMMU
 * permissions (reference B1): 1 to-device (DMA_TO_DEVICE → IOMMU_READ), 2 from-device
 * (DMA_FROM_DEVICE → IOMMU_WRITE), 3 bidirectional (DMA_BIDIRECTIONAL → both). Not Linux's enum
 * values (include/linux/dma-direction.h numbers DMA_BIDIRECTIONAL 0, DMA_TO_DEVICE 1,
 * DMA_FROM_DEVICE 2, DMA_NONE 3).
 */
export type DmaDir = 1 | 2 | 3;

/** DmaDir of each direction name. */
export const DMA_DIR: Readonly<Record<DmaDirName, DmaDir>> = { 'to-device': 1, 'from-device': 2, bidirectional: 3 };

/** The guest kernel's DMA layer options (`guest:`; defaults as guest-schema.ts documents them). */
export interface GuestConfig {
  /** Linux iommu.strict: 'strict' (1) or 'lazy' (0, the default: CONFIG_IOMMU_DEFAULT_DMA_LAZY=y). */
  iommuDma: 'strict' | 'lazy';
  /** Guest CPUs, 1 to 256 (default 1). */
  cpus: number;
  /** Linux iommu.forcedac: no 32-bit-first allocation for PCI devices (default false). */
  forcedac: boolean;
  /** One shared flush queue (32768 entries, 1000 ms) instead of per-CPU ones (256, 10 ms). Default false. */
  singleFlushQueue: boolean;
  /** CONFIG_HZ: 100, 250, 300 or 1000 (default 1000). */
  hz: number;
  /** The host bridge's memory windows, [start, end] inclusive, bytes (default none). */
  pciWindows: { start: bigint; end: bigint }[];
}

/** The guest topology fields of a ScenarioDevice. */
export interface GuestDeviceFields {
  /** endpoint (does DMA; the default) or root-port (QEMU pcie-root-port). */
  type: 'endpoint' | 'root-port';
  /** The name of the root port this endpoint sits behind. */
  behind?: string;
  /** A root port's ACS capability (default true; false = QEMU disable-acs=on). true for endpoints. */
  acs: boolean;
  /** The device's DMA mask in bits, 12 to 64 (default 64 for an endpoint, 32 for a root port). */
  dmaMask: number;
}

/** `expect` of a dma-map step; only the keys given are compared (iova and error exclude each other). */
export interface DmaMapExpectation {
  iova?: bigint;
  error?: 'DMA_MAPPING_ERROR';
  host?: 'mapped' | 'failed' | 'none';
}

/** `expect` of a dma-unmap step. */
export interface DmaUnmapExpectation {
  host?: 'unmapped' | 'failed' | 'none';
}

/** `expect` of a dma-stream step: totals, only those given are compared. */
export interface DmaStreamExpectation {
  failedMaps?: number;
  failedHostMaps?: number;
  stale?: number;
  faults?: number;
}

/**
 * The guest steps (members of model.ts ScenarioStep). `device` is the device's name, `endpoint`
 * its endpoint ID; sizes and addresses are bytes; `cpu` is below GuestConfig.cpus. A dma-unmap
 * with a `handle` has device/endpoint filled from the dma-map that defined it and no
 * iova/size/dir; without one it has device, iova and size (dir when given). `wait` is in ns and
 * has nothing to expect (`expect?: undefined` keeps `step.expect` readable on every ScenarioStep).
 */
export type GuestStep =
  | {
      op: 'dma-map';
      device: string;
      endpoint: number;
      size: bigint;
      dir: DmaDir;
      phys?: bigint;
      offset: number;
      cpu: number;
      out?: string;
      expect?: DmaMapExpectation;
      /**
       * A replay's buffer that no later step names by its handle (core/replay/intent.ts; not
       * scenario syntax): the run holds it in slot `slot` of a table, reused after its dma-unmap,
       * instead of by name, so the names do not grow with the trace.
       */
      slot?: number;
    }
  | {
      op: 'dma-unmap';
      handle?: string;
      device: string;
      endpoint: number;
      iova?: bigint;
      size?: bigint;
      dir?: DmaDir;
      cpu: number;
      expect?: DmaUnmapExpectation;
      /** The slot of a replay's buffer held in a slot (dma-map `slot`); `handle` still names it. */
      slot?: number;
    }
  | { op: 'dma-stream'; device: string; endpoint: number; buffers: number; size: bigint; dir: DmaDir; iterations: number; access: boolean; cpu: number; expect?: DmaStreamExpectation }
  | { op: 'wait'; ns: number; expect?: undefined };

/** True for the ops whose presence creates the guest layer (`wait` alone does not). */
export function isGuestDmaOp(op: string): boolean {
  return op === 'dma-map' || op === 'dma-unmap' || op === 'dma-stream';
}

/** True for every guest step op. */
export function isGuestStepOp(op: string): op is GuestStepOp {
  return isGuestDmaOp(op) || op === 'wait';
}

/** Error reporting of model.ts resolveScenario: `path` is the dotted YAML path. */
export type ErrFn = (path: string, message: string) => void;

const INTEL_NOT_MODELLED = 'it needs viommu model virtio-iommu (intel-iommu DMA remapping is not modelled yet)';

/**
 * Resolves `guest:`. Returns null when the scenario has no guest layer: no `guest:` block and no
 * dma-map / dma-unmap / dma-stream step (`hasDmaSteps`). Errors: hz not a CONFIG_HZ choice, a PCI
 * window whose end is below its start, a guest block with intel-iommu.
 */
export function resolveGuestConfig(doc: ScenarioDoc, hasDmaSteps: boolean, viommuModel: 'virtio-iommu' | 'intel-iommu', err: ErrFn): GuestConfig | null {
  const g = doc.guest;
  if (g === undefined && !hasDmaSteps) return null;
  if (g !== undefined && viommuModel === 'intel-iommu') err('guest', `the guest DMA layer: ${INTEL_NOT_MODELLED}`);
  const hz = g?.hz ?? 1000;
  if (!(HZ_CHOICES as readonly number[]).includes(hz)) err('guest.hz', `${hz} is not a CONFIG_HZ choice; one of ${HZ_CHOICES.join(', ')} (kernel/Kconfig.hz)`);
  const pciWindows: GuestConfig['pciWindows'] = [];
  (g?.['pci-windows'] ?? []).forEach((w, i) => {
    if (w === undefined || typeof w !== 'object' || w.start === undefined || w.end === undefined) return;
    if (w.end < w.start) err(`guest.pci-windows.${i}.end`, `end ${hex(w.end)} is below start ${hex(w.start)} (end is the window's last address, inclusive)`);
    else pciWindows.push({ start: w.start, end: w.end });
  });
  return {
    iommuDma: g?.['iommu-dma'] ?? 'lazy',
    cpus: g?.cpus ?? 1,
    forcedac: g?.forcedac ?? false,
    singleFlushQueue: g?.['single-flush-queue'] ?? false,
    hz,
    pciWindows,
  };
}

/** One `devices[]` entry as written. */
type DeviceDoc = NonNullable<ScenarioDoc['devices']>[number];

/**
 * The guest topology fields of device `d` (at YAML `path`, e.g. "devices.2", on PCI bus `bus`).
 * `earlier`: the devices declared before it, by name; `declaredAfter(name)`: the line of a device
 * of that name declared after it, if any (for the message when `behind` names a port declared too late). Errors: `behind` on a root port, or
 * naming no earlier root port, or a device on the port's own bus; `acs` on an endpoint; `host` on a
 * root port.
 */
export function resolveGuestDevice(d: DeviceDoc, path: string, bus: number, earlier: ReadonlyMap<string, ScenarioDevice>, declaredAfter: (name: string) => number | undefined, err: ErrFn): GuestDeviceFields {
  const type = d.type ?? 'endpoint';
  // A PCI device's mask starts at 32 bits (drivers/pci/probe.c pci_setup_device: "Assume 32-bit
  // PCI"); an endpoint's driver raises it, the pcieport driver does not.
  const fields: GuestDeviceFields = { type, acs: type === 'root-port' ? (d.acs ?? true) : true, dmaMask: d['dma-mask'] ?? (type === 'root-port' ? 32 : 64) };
  if (type === 'root-port') {
    if (d.behind !== undefined) err(`${path}.behind`, 'a root port sits on the root complex (QEMU plugs pcie-root-port into the root bus); only an endpoint is `behind` one');
    if (d.host !== undefined) err(`${path}.host`, 'a root port is emulated by QEMU (pcie-root-port); only an endpoint can be assigned a host device');
    return fields;
  }
  if (d.acs !== undefined) err(`${path}.acs`, "acs applies to a root port (QEMU pcie-root-port's ACS capability, off with disable-acs=on); this device is an endpoint");
  if (d.behind === undefined) return fields;
  const port = earlier.get(d.behind);
  const ports = [...earlier.values()].filter((x) => x.type === 'root-port').map((x) => x.name);
  if (port === undefined) {
    const line = declaredAfter(d.behind);
    const hint = line !== undefined ? ` ("${d.behind}" is declared later, on line ${line}: declare the root port first)` : '';
    err(`${path}.behind`, `"${d.behind}" is not a device declared before this one; root ports declared before it: ${ports.length ? ports.join(', ') : 'none'}${hint}`);
  } else if (port.type !== 'root-port') {
    err(`${path}.behind`, `"${d.behind}" is an endpoint; \`behind\` names a root port (type: root-port)${ports.length ? `: ${ports.join(', ')}` : ''}`);
  } else if (port.endpoint >> 8 === bus) {
    err(`${path}.bdf`, `bus ${bus.toString(16).padStart(2, '0')} is the bus root port "${port.name}" (${port.bdf}) sits on; a device behind it is on the port's secondary bus`);
  } else fields.behind = d.behind;
  return fields;
}

/** A handle a dma-map's `out` defined. */
interface Handle {
  index: number;
  line: number;
  device: string;
  endpoint: number;
}

/** dma-map `out` handles in step order: unique in the scenario; a dma-unmap `handle` must be defined earlier. */
export class GuestHandles {
  private readonly handles = new Map<string, Handle>();

  /** Defines `name`; returns the earlier definition instead when it exists (the name is a duplicate). */
  define(name: string, h: Handle): Handle | undefined {
    const prev = this.handles.get(name);
    if (prev === undefined) this.handles.set(name, h);
    return prev;
  }

  /**
   * Defines the `out` of a dma-map step whose body has schema errors (`name` as the walker kept it:
   * absent or not a string when invalid itself), so later unmaps of it report nothing more.
   */
  defineInvalid(name: unknown, index: number, line: number): void {
    if (typeof name === 'string' && !this.handles.has(name)) this.handles.set(name, { index, line, device: '', endpoint: -1 });
  }

  get(name: string): Handle | undefined {
    return this.handles.get(name);
  }

  /** The names defined so far, for messages ("none" when there are none). */
  list(): string {
    return this.handles.size ? [...this.handles.keys()].join(', ') : 'none';
  }
}

/** What resolveGuestStep needs from resolveScenario. */
export interface GuestStepEnv {
  err: ErrFn;
  /** The declared devices (in order), by name and by endpoint ID. */
  devices: readonly ScenarioDevice[];
  byName: ReadonlyMap<string, ScenarioDevice>;
  byId: ReadonlyMap<number, ScenarioDevice>;
  /** guest.cpus (1 without a guest block). */
  cpus: number;
  handles: GuestHandles;
  viommuModel: 'virtio-iommu' | 'intel-iommu';
}

/**
 * Resolves one guest step (`raw`: the step as the walker returned it; `p`: the path of its op body,
 * "steps.3.dma-map"; `index`/`line`: the step's). Returns null after reporting an error.
 */
export function resolveGuestStep(raw: Record<string, unknown>, op: GuestStepOp, p: string, index: number, line: number, env: GuestStepEnv): GuestStep | null {
  const { err } = env;
  if (env.viommuModel !== 'virtio-iommu') {
    err(p, `${op} is a guest DMA step; ${INTEL_NOT_MODELLED}`);
    return null;
  }
  const expectPath = p.slice(0, p.lastIndexOf('.')) + '.expect';
  let ok = true;
  const fail = (path: string, message: string) => {
    err(path, message);
    ok = false;
  };
  const deviceOf = (ref: string, path: string): ScenarioDevice | undefined => {
    const declared = env.devices.length ? `devices: ${env.devices.map((d) => `${d.name} ${d.bdf}`).join(', ')}` : 'no devices are declared';
    let dev = env.byName.get(ref);
    if (dev === undefined) {
      const id = parseBdf(ref);
      if (id === null) return void fail(path, `unknown device "${ref}"; ${declared} (a device name, or a declared device's PCI address "bb:dd.f")`);
      dev = env.byId.get(id);
      if (dev === undefined) return void fail(path, `no device has PCI address ${bdfToString(id)}; ${declared}`);
    }
    if (dev.type === 'root-port') return void fail(path, `"${dev.name}" is a root port; only an endpoint does DMA`);
    return dev;
  };
  const cpuOf = (cpu: number | undefined, path: string): number => {
    const c = cpu ?? 0;
    if (c >= env.cpus) fail(path, `cpu ${c} is out of range: ${env.cpus === 1 ? 'the guest has 1 CPU (cpu 0; raise guest.cpus)' : `guest.cpus is ${env.cpus} (CPUs 0-${env.cpus - 1})`}`);
    return c;
  };
  const sizeOf = (size: bigint, path: string): bigint => {
    if (size === 0n) fail(path, 'size must be at least 1 byte');
    else if (size >= MAX_DMA_SIZE) fail(path, `size ${hex(size)} is too large: a DMA buffer is below 2^52 bytes (${hex(MAX_DMA_SIZE)})`);
    return size;
  };

  switch (op) {
    case 'dma-map': {
      const a = raw[op] as StepArgs['dma-map'];
      const dev = deviceOf(a.device, `${p}.device`);
      const size = sizeOf(a.size, `${p}.size`);
      const offset = a.offset ?? 0;
      if (a.phys !== undefined && ok && a.phys + BigInt(offset) + size - 1n > U64_MAX) fail(`${p}.size`, `the buffer [${hex(a.phys)} + ${hex(offset)}, +${hex(size)}) runs past ${hex(U64_MAX)}`);
      const cpu = cpuOf(a.cpu, `${p}.cpu`);
      if (a.out !== undefined) {
        const prev = env.handles.define(a.out, { index, line, device: dev?.name ?? '', endpoint: dev?.endpoint ?? -1 });
        if (prev) fail(`${p}.out`, `duplicate handle "${a.out}": step ${prev.index} (line ${prev.line}) already defines it; handles are unique in a scenario`);
      }
      let expect: DmaMapExpectation | undefined;
      const e = raw.expect as StepExpectDoc['dma-map'] | undefined;
      if (e !== undefined) {
        expect = {};
        if (e.iova !== undefined) expect.iova = e.iova;
        if (e.error !== undefined) expect.error = e.error;
        if (e.host !== undefined) expect.host = e.host;
        if (e.iova !== undefined && e.error !== undefined) fail(`${expectPath}.error`, 'expect either iova or error, not both: a failed dma-map returns DMA_MAPPING_ERROR, not an IOVA');
      }
      if (!ok || dev === undefined) return null;
      const step: GuestStep = { op, device: dev.name, endpoint: dev.endpoint, size, dir: DMA_DIR[a.dir], offset, cpu };
      if (a.phys !== undefined) step.phys = a.phys;
      if (a.out !== undefined) step.out = a.out;
      if (expect !== undefined) step.expect = expect;
      return step;
    }
    case 'dma-unmap': {
      const a = raw[op] as StepArgs['dma-unmap'];
      const cpu = cpuOf(a.cpu, `${p}.cpu`);
      const e = raw.expect as StepExpectDoc['dma-unmap'] | undefined;
      const expect: DmaUnmapExpectation | undefined = e === undefined ? undefined : e.host !== undefined ? { host: e.host } : {};
      const explicit = (['device', 'iova', 'size', 'dir'] as const).filter((k) => a[k] !== undefined);
      if (a.handle !== undefined) {
        if (explicit.length) fail(`${p}.${explicit[0]}`, `give either handle or device, iova and size, not both: with a handle the unmap takes the device, IOVA, size and direction of the dma-map that defined it`);
        const h = env.handles.get(a.handle);
        if (h === undefined) fail(`${p}.handle`, `unknown handle "${a.handle}"; handles defined before this step: ${env.handles.list()}`);
        if (!ok || h === undefined) return null;
        const step: GuestStep = { op, handle: a.handle, device: h.device, endpoint: h.endpoint, cpu };
        if (expect !== undefined) step.expect = expect;
        return step;
      }
      const missing = (['device', 'iova', 'size'] as const).filter((k) => a[k] === undefined);
      if (missing.length) {
        fail(p, `dma-unmap needs \`handle\`, or all of device, iova and size (missing: ${missing.join(', ')})`);
        return null;
      }
      const dev = deviceOf(a.device!, `${p}.device`);
      const size = sizeOf(a.size!, `${p}.size`);
      if (ok && a.iova! + size - 1n > U64_MAX) fail(`${p}.size`, `the range [${hex(a.iova!)}, +${hex(size)}) runs past ${hex(U64_MAX)}`);
      if (!ok || dev === undefined) return null;
      const step: GuestStep = { op, device: dev.name, endpoint: dev.endpoint, iova: a.iova!, size, cpu };
      if (a.dir !== undefined) step.dir = DMA_DIR[a.dir];
      if (expect !== undefined) step.expect = expect;
      return step;
    }
    case 'dma-stream': {
      const a = raw[op] as StepArgs['dma-stream'];
      const dev = deviceOf(a.device, `${p}.device`);
      const size = sizeOf(a.size, `${p}.size`);
      const cpu = cpuOf(a.cpu, `${p}.cpu`);
      const e = raw.expect as StepExpectDoc['dma-stream'] | undefined;
      let expect: DmaStreamExpectation | undefined;
      if (e !== undefined) {
        expect = {};
        if (e['failed-maps'] !== undefined) expect.failedMaps = e['failed-maps'];
        if (e['failed-host-maps'] !== undefined) expect.failedHostMaps = e['failed-host-maps'];
        if (e.stale !== undefined) expect.stale = e.stale;
        if (e.faults !== undefined) expect.faults = e.faults;
      }
      if (!ok || dev === undefined) return null;
      const step: GuestStep = { op, device: dev.name, endpoint: dev.endpoint, buffers: a.buffers, size, dir: DMA_DIR[a.dir], iterations: a.iterations, access: a.access ?? true, cpu };
      if (expect !== undefined) step.expect = expect;
      return step;
    }
    case 'wait': {
      const a = raw[op] as StepArgs['wait'];
      const given = (['ms', 'us', 'ns'] as const).filter((k) => a[k] !== undefined);
      if (given.length !== 1) {
        if (given.length === 0) fail(p, 'wait needs exactly one of ms, us, ns');
        else fail(`${p}.${given[1]}`, `give exactly one of ms, us, ns (this wait gives ${given.join(' and ')})`);
        return null;
      }
      const ns = a.ms !== undefined ? a.ms * 1_000_000 : a.us !== undefined ? a.us * 1000 : a.ns!;
      return { op, ns };
    }
  }
}
