/**
 * The resolved scenario model the runner executes, and the semantic checks that build it from a
 * schema-valid document (ScenarioDoc).
 *
 * The document types come from the schema (schema.ts, `Static<>`); this model is the next stage:
 * endpoint references resolved to endpoint IDs, flag lists folded into bit masks, machine defaults
 * applied to the device properties, `expect` shorthands expanded. Problems found here (unknown
 * device name, duplicate PCI address, bad reserved-region string, bad hex, …) are Diagnostics that
 * point at the offending node, like the schema's own; a step endpoint (raw ID or PCI address) no
 * device declares is a warning (the run goes ahead).
 */
import { defaultProps, parseReservedRegion, type VirtioIommuProps } from '../viommu/virtio-iommu/device.ts';
import {
  ATTACH_F_BYPASS,
  F_BYPASS,
  F_BYPASS_CONFIG,
  F_DOMAIN_RANGE,
  F_INPUT_RANGE,
  F_MAP_UNMAP,
  F_MMIO,
  F_PROBE,
  FAULT_F_ADDRESS,
  FAULT_F_READ,
  FAULT_F_WRITE,
  FAULT_R_DOMAIN,
  FAULT_R_MAPPING,
  FAULT_R_UNKNOWN,
  MAP_F_MMIO,
  MAP_F_READ,
  MAP_F_WRITE,
  RESV_MEM_T_MSI,
  RESV_MEM_T_RESERVED,
  T_PROBE,
  TAIL_SIZE,
  VIRTIO_F_VERSION_1,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
} from '../viommu/virtio-iommu/constants.ts';
import { bdfToString, parseBdf } from '../events/format.ts';
import { U64_MAX, hex, readInteger } from './kinds.ts';
import type { FeatureName, ScenarioDoc, StatusName, StepArgs, StepDoc, StepExpectDoc, StepOp, ViommuDoc } from './schema.ts';
import { STEP_OPS } from './schema.ts';
import type { WalkContext } from './validate.ts';
import { OutNames, resolveHostStep, resolveScenarioHost, type HostStep, type ScenarioHost } from './host-model.ts';
import { GuestHandles, isGuestDmaOp, isGuestStepOp, resolveGuestConfig, resolveGuestDevice, resolveGuestStep, type GuestConfig, type GuestDeviceFields, type GuestStep, type GuestStepEnv } from './guest-model.ts';

export type { CallArg, CallExpectation, DeviceAddExpectation, HostCall, HostDmaExpectation, HostStep, OutRef, ScenarioHost } from './host-model.ts';
export type { DmaDir, DmaMapExpectation, DmaStreamExpectation, DmaUnmapExpectation, GuestConfig, GuestDeviceFields, GuestStep } from './guest-model.ts';

/** Endpoint ID of the host bridge 00:00.0, which always exists behind the vIOMMU. */
export const HOST_BRIDGE_ENDPOINT = 0;

/** Feature bit numbers by name (virtio spec §5.13.3 device bits; §6 transport bits). */
export const FEATURE_BITS: Readonly<Record<FeatureName, number>> = {
  INPUT_RANGE: F_INPUT_RANGE,
  DOMAIN_RANGE: F_DOMAIN_RANGE,
  MAP_UNMAP: F_MAP_UNMAP,
  BYPASS: F_BYPASS,
  PROBE: F_PROBE,
  MMIO: F_MMIO,
  BYPASS_CONFIG: F_BYPASS_CONFIG,
  RING_INDIRECT_DESC: VIRTIO_RING_F_INDIRECT_DESC,
  RING_EVENT_IDX: VIRTIO_RING_F_EVENT_IDX,
  VERSION_1: VIRTIO_F_VERSION_1,
};

/** One device (endpoint or guest root port) declared in `devices`; the guest topology fields are GuestDeviceFields'. */
export interface ScenarioDevice extends GuestDeviceFields {
  name: string;
  /** PCI address as written, normalised to lowercase "bb:dd.f". */
  bdf: string;
  /** Endpoint ID: the requester ID bus << 8 | device << 3 | function. */
  endpoint: number;
  line: number;
  /** The host device assigned to it (a name in host.devices), when given: QEMU -device vfio-pci,host=…. */
  host?: string;
}

/** `expect` of a request step: the status name the tail must hold (UNWRITTEN = used length 0). */
export interface StatusExpectation {
  status: StatusName;
}

/** `expect` of a probe step: the status and/or the full list of RESV_MEM regions. */
export interface ProbeExpectation {
  status?: StatusName;
  regions?: { subtype: number; start: bigint; end: bigint }[];
}

/** `expect` of a dma step. Fault flags and address are compared only when given. */
export type DmaExpectation =
  | { kind: 'translated'; phys: bigint; stale?: boolean }
  | { kind: 'bypass' }
  | { kind: 'msi' }
  | { kind: 'fault'; reason: number; flags?: number; address?: bigint };

/** `expect` of read-config / set-bypass / reset: config fields to compare (only those given). */
export interface ConfigExpectation {
  pageSizeMask?: bigint;
  inputRange?: [bigint, bigint];
  domainRange?: [number, number];
  probeSize?: number;
  bypass?: number;
}

/** `expect` of a workload step: totals to compare (only those given). */
export interface WorkloadExpectation {
  faults?: number;
  failedRequests?: number;
}

interface StepBase {
  /** 0-based position in `steps` (the `step` stamped on its events). */
  index: number;
  /** 1-based line of the step in the scenario text. */
  line: number;
}

/** A resolved step. u64 values are bigint; endpoints are endpoint IDs; flags are bit masks. */
export type ScenarioStep = StepBase &
  (
    | { op: 'attach'; domain: number; endpoint: number; flags: number; reserved: number; expect?: StatusExpectation }
    | { op: 'detach'; domain: number; endpoint: number; expect?: StatusExpectation }
    | { op: 'map'; domain: number; virtStart: bigint; virtEnd: bigint; physStart: bigint; flags: number; expect?: StatusExpectation }
    | { op: 'unmap'; domain: number; virtStart: bigint; virtEnd: bigint; reserved: number; expect?: StatusExpectation }
    | { op: 'probe'; endpoint: number; expect?: ProbeExpectation }
    | {
        op: 'dma';
        endpoint: number;
        addr: bigint;
        size: bigint;
        access: 1 | 2;
        expect?: DmaExpectation;
        /**
         * A replay's access into a guest buffer (core/replay/intent.ts; not scenario syntax): the
         * address is the DMA address the dma-map bound to this handle got in this run, plus
         * `offset` bytes (`addr` is then the trace's address, for messages). When the handle's
         * map failed, the device does not access (the step's outcome says so).
         */
        handle?: string;
        offset?: bigint;
      }
    | { op: 'request'; bytes: Uint8Array; writable: number; expect?: StatusExpectation }
    | { op: 'read-config'; expect?: ConfigExpectation }
    | { op: 'set-bypass'; value: number; expect?: ConfigExpectation }
    | { op: 'reset'; system: boolean; expect?: ConfigExpectation }
    | {
        op: 'workload';
        domain: number;
        endpoint: number;
        /** Iterations. */
        count: number;
        /** Bytes per iteration (mapping and DMA size). */
        size: bigint;
        iovaBase: bigint;
        physBase: bigint;
        ops: { map: boolean; dma: boolean; unmap: boolean };
        flags: number;
        access: 1 | 2;
        expect?: WorkloadExpectation;
      }
    | HostStep
    | GuestStep
  );

/** intel-iommu's properties (`viommu: {model: intel-iommu, …}`; QEMU hw/i386/intel_iommu.c vtd_properties). */
export interface IntelIommuProps {
  /** QEMU `aw-bits` as written (QEMU accepts 39 or 48; realize checks it). */
  awBits: number;
  cachingMode: boolean;
  /** QEMU `x-scalable-mode` (x-flts needs it). */
  scalableMode: boolean;
  xFlts: boolean;
}

/** A validated, resolved scenario, ready for ScenarioRun. */
export interface Scenario {
  name: string;
  description?: string;
  /** File name the scenario was parsed from (for messages). */
  file: string;
  machine: 'q35' | 'virt';
  /** Device properties: machine defaults, then the scenario's `viommu` settings. */
  props: VirtioIommuProps;
  /** Driver-accepted feature bits; undefined = Linux's negotiation (the device's default). */
  driverFeatures?: bigint;
  devices: ScenarioDevice[];
  /** Endpoint IDs behind the vIOMMU: the host bridge (0) then each device's. */
  endpoints: number[];
  steps: ScenarioStep[];
  /** The document as written (canonical numbers, defaults applied). */
  doc: ScenarioDoc;
  /** The host side: platform, backend, kernel era (issue 7 §2-§3). */
  host: ScenarioHost;
  /** The vIOMMU model: virtio-iommu (default; `props`) or intel-iommu (`intelIommu`). */
  viommuModel: 'virtio-iommu' | 'intel-iommu';
  /** intel-iommu's properties when viommuModel is intel-iommu. */
  intelIommu?: IntelIommuProps;
  /** The guest DMA layer (issue 8 §1): present with `guest:` or any dma-map / dma-unmap / dma-stream step; else null. */
  guest: GuestConfig | null;
}

const STATUS_FIELD = 'status';
const FAULT_REASONS: Record<string, number> = { UNKNOWN: FAULT_R_UNKNOWN, DOMAIN: FAULT_R_DOMAIN, MAPPING: FAULT_R_MAPPING };
const FAULT_FLAGS: Record<string, number> = { read: FAULT_F_READ, write: FAULT_F_WRITE, address: FAULT_F_ADDRESS };
const MAP_FLAGS: Record<string, number> = { read: MAP_F_READ, write: MAP_F_WRITE, mmio: MAP_F_MMIO };

function foldFlags(list: readonly (string | number)[] | undefined, names: Record<string, number>): number {
  let v = 0;
  for (const x of list ?? []) v |= typeof x === 'number' ? x : names[x];
  return v >>> 0;
}

function statusExpect(e: StepExpectDoc['attach'] | undefined): StatusExpectation | undefined {
  if (e === undefined) return undefined;
  return typeof e === 'string' ? { status: e } : { status: e[STATUS_FIELD] };
}

function configExpect(e: StepExpectDoc['read-config'] | undefined): ConfigExpectation | undefined {
  if (e === undefined) return undefined;
  const out: ConfigExpectation = {};
  if (e['page-size-mask'] !== undefined) out.pageSizeMask = e['page-size-mask'];
  if (e['input-range'] !== undefined) out.inputRange = [e['input-range'][0], e['input-range'][1]];
  if (e['domain-range'] !== undefined) out.domainRange = [e['domain-range'][0], e['domain-range'][1]];
  if (e['probe-size'] !== undefined) out.probeSize = e['probe-size'];
  if (e.bypass !== undefined) out.bypass = e.bypass;
  return out;
}

/** Parses request hex text ("03 00 00 00", "0x0300…", underscores allowed) into bytes; a string is an error message. */
export function parseHexBytes(text: string): Uint8Array | string {
  let s = text.replace(/[\s_]/g, '');
  if (/^0x/i.test(s)) s = s.slice(2);
  if (!/^[0-9a-f]*$/i.test(s)) {
    const bad = /[^0-9a-f]/i.exec(s)?.[0];
    return `not hex: unexpected character "${bad}"`;
  }
  if (s.length % 2 !== 0) return `odd number of hex digits (${s.length}); each byte needs two`;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Builds the resolved Scenario from a document the schema walker produced, reporting semantic
 * problems into `ctx` (with positions from `ctx.spans`). The document may be partial (walker in
 * partial mode): subtrees with schema errors are skipped, so their semantic problems are not
 * reported twice. Returns null when any error was reported.
 */
export function resolveScenario(doc: ScenarioDoc, ctx: WalkContext): Scenario | null {
  const before = ctx.diagnostics.filter((d) => d.severity === 'error').length;
  const at = (path: string) => ctx.spans.get(path) ?? ([0, 0] as const);
  const err = (path: string, message: string) => ctx.error(at(path), `${path}: ${message}`, path);
  const warn = (path: string, message: string) => ctx.diagnostics.push(ctx.diag(at(path), `${path}: ${message}`, path, 'warning'));
  const lineOf = (path: string) => ctx.lines.linePos(at(path)[0]).line;

  // Devices: unique names and PCI addresses; the host bridge is implicit.
  const devices: ScenarioDevice[] = [];
  // Where each name is first declared (for `behind` naming a port declared too late).
  const declaredAt = new Map<string, number>();
  (doc.devices ?? []).forEach((x, j) => typeof x?.name === 'string' && !declaredAt.has(x.name) && declaredAt.set(x.name, j));
  const declaredAfter = (i: number) => (name: string) => {
    const j = declaredAt.get(name);
    return j !== undefined && j > i ? lineOf(`devices.${j}`) : undefined;
  };
  const byName = new Map<string, ScenarioDevice>();
  const byId = new Map<number, ScenarioDevice>();
  (doc.devices ?? []).forEach((d, i) => {
    if (!ctx.isValid(`devices.${i}`)) return;
    const id = parseBdf(d.bdf);
    if (id === null) {
      err(`devices.${i}.bdf`, `"${d.bdf}" is not a PCI address "bb:dd.f"`);
      return;
    }
    if (byName.has(d.name)) {
      err(`devices.${i}.name`, `duplicate device name "${d.name}" (first declared on line ${byName.get(d.name)!.line})`);
      return;
    }
    if (id === HOST_BRIDGE_ENDPOINT) {
      err(`devices.${i}.bdf`, `00:00.0 is the host bridge, which always exists; choose another address`);
      return;
    }
    if (byId.has(id)) {
      err(`devices.${i}.bdf`, `duplicate PCI address ${bdfToString(id)} (already used by "${byId.get(id)!.name}")`);
      return;
    }
    const guestFields = resolveGuestDevice(d, `devices.${i}`, id >> 8, byName, declaredAfter(i), err);
    const dev: ScenarioDevice = { name: d.name, bdf: bdfToString(id), endpoint: id, line: lineOf(`devices.${i}`), ...guestFields };
    if (d.host !== undefined) dev.host = d.host;
    devices.push(dev);
    byName.set(d.name, dev);
    byId.set(id, dev);
  });

  // An endpoint no device declares (a raw endpoint ID, a number or a "0x…" string, or a PCI
  // address) is taken as written: the spec's error cases are written that way. It is warned about,
  // since the device answers NOENT to its requests and faults its DMA (UNKNOWN). The host bridge
  // 00:00.0 always exists.
  const declaredOrWarn = (id: number, path: string, written: string): number => {
    if (id !== HOST_BRIDGE_ENDPOINT && !byId.has(id)) warn(path, undeclaredEndpoint(id, written, devices));
    return id;
  };
  const endpointOf = (ref: string | number, path: string): number => {
    if (typeof ref === 'number') return declaredOrWarn(ref, path, `endpoint ID ${ref} (0x${ref.toString(16)})`);
    const dev = byName.get(ref);
    if (dev) return dev.endpoint;
    const raw = readInteger(ref);
    if (raw.ok && raw.value <= 0xffff_ffffn) return declaredOrWarn(Number(raw.value), path, `endpoint ID ${ref}`);
    const id = parseBdf(ref);
    if (id !== null) return declaredOrWarn(id, path, `PCI address ${bdfToString(id)}`);
    const known = devices.map((d) => d.name);
    err(path, `unknown endpoint "${ref}"; ${known.length ? `devices: ${known.join(', ')}` : 'no devices are declared'} (or write a PCI address "bb:dd.f")`);
    return -1;
  };

  // Device properties: machine defaults, then the scenario's settings.
  const machine = doc.machine ?? 'q35';
  const gic = doc['gic-version'];
  if (gic !== undefined && machine !== 'virt') err('gic-version', `gic-version applies to machine virt only (this scenario's machine is ${machine})`);
  const props = defaultProps(machine, gic === 3 ? 3 : 2);
  const vdoc = doc.viommu;
  const viommuModel = vdoc?.model === 'intel-iommu' ? 'intel-iommu' : 'virtio-iommu';
  let intelIommu: IntelIommuProps | undefined;
  if (viommuModel === 'intel-iommu') {
    const id = vdoc as unknown as { 'aw-bits'?: number; 'caching-mode'?: boolean; 'x-scalable-mode'?: boolean; 'x-flts'?: boolean };
    // QEMU's defaults (intel_iommu.c vtd_properties; aw-bits 48 since QEMU 9.2).
    intelIommu = { awBits: id['aw-bits'] ?? 48, cachingMode: id['caching-mode'] ?? false, scalableMode: id['x-scalable-mode'] ?? false, xFlts: id['x-flts'] ?? false };
  }
  const v: Partial<ViommuDoc> = viommuModel === 'virtio-iommu' && vdoc ? (vdoc as ViommuDoc) : {};
  if (v.conformance !== undefined) props.conformance = v.conformance;
  if (v.granule !== undefined) props.granule = v.granule;
  if (v['aw-bits'] !== undefined) props.awBits = v['aw-bits'];
  if (v['boot-bypass'] !== undefined) props.bootBypass = v['boot-bypass'];
  if (v['probe-size'] !== undefined) props.probeSize = v['probe-size'];
  if (v['host-geometry'] !== undefined) props.hostGeometry = v['host-geometry'];
  props.reservedRegions = [...props.reservedRegions];
  (v['reserved-regions'] ?? []).forEach((s, i) => {
    if (typeof s !== 'string') return;
    const r = parseReservedRegion(s);
    if (typeof r === 'string') err(`viommu.reserved-regions.${i}`, `bad reserved region "${s}": ${r}`);
    else props.reservedRegions.push(r);
  });
  if (v.offer) {
    const o = v.offer;
    props.offer = {
      mmio: o.mmio ?? props.offer.mmio,
      probe: o.probe ?? props.offer.probe,
      bypassConfig: o['bypass-config'] ?? props.offer.bypassConfig,
      inputRange: o['input-range'] ?? props.offer.inputRange,
      domainRange: o['domain-range'] ?? props.offer.domainRange,
    };
  }

  let driverFeatures: bigint | undefined;
  if (doc.driver) {
    driverFeatures = 0n;
    for (const name of doc.driver.features ?? []) if (Object.hasOwn(FEATURE_BITS, name)) driverFeatures |= 1n << BigInt(FEATURE_BITS[name]);
  }

  // The host side: resolveHost's problems at their nodes; guest devices' `host` must name a host device.
  const env = { err, isValid: (path: string) => ctx.isValid(path), has: (path: string) => ctx.spans.has(path) };
  const host = resolveScenarioHost(doc, env);
  (doc.devices ?? []).forEach((d, i) => {
    if (host === undefined || d?.host === undefined || !ctx.isValid(`devices.${i}`)) return;
    const hd = host.platform.deviceByName.get(d.host);
    if (hd === undefined) err(`devices.${i}.host`, `unknown host device "${d.host}"; ${host.platform.devices.length ? `host.devices: ${host.platform.devices.map((x) => x.name).join(', ')}` : 'host.devices declares none'}`);
    else if (hd.type !== 'vfio-pci' && hd.type !== 'mdev') err(`devices.${i}.host`, `host device "${d.host}" is a ${hd.type}; only a vfio-pci function or an mdev can be assigned`);
  });
  const guestNames = new Set(devices.map((d) => d.name));
  const outs = new OutNames();
  // The guest DMA layer (guest-model.ts): `guest:`, or defaults when a dma-map/-unmap/-stream step exists.
  const hasDmaSteps = (doc.steps ?? []).some((s) => typeof s === 'object' && s !== null && Object.keys(s).some(isGuestDmaOp));
  const guest = ctx.isValid('guest') ? resolveGuestConfig(doc, hasDmaSteps, viommuModel, err) : null;
  const guestEnv: GuestStepEnv = { err, devices, byName, byId, cpus: guest?.cpus ?? doc.guest?.cpus ?? (doc.guest !== undefined ? 256 : 1), handles: new GuestHandles(), viommuModel };

  const steps: ScenarioStep[] = [];
  (doc.steps ?? []).forEach((s, index) => {
    // A step whose `expect` alone is invalid still gets its body checked (the expect is dropped).
    if (typeof s !== 'object' || s === null) return;
    const op = STEP_OPS.find((o) => Object.hasOwn(s, o));
    if (op === undefined || !ctx.isValid(`steps.${index}.${op}`)) {
      // An invalid dma-map still defines its `out` handle: its unmaps are not told off too.
      if (op === 'dma-map') guestEnv.handles.defineInvalid((s as { 'dma-map'?: { out?: unknown } })['dma-map']?.out, index, lineOf(`steps.${index}`));
      return;
    }
    const base = { index, line: lineOf(`steps.${index}`) };
    const p = `steps.${index}.${op}`;
    if (op === 'iommufd' || op === 'vfio' || op === 'host-dma' || op === 'device-add') {
      const hs = resolveHostStep(s as unknown as Record<string, unknown>, op, p, host, guestNames, outs, index, env);
      if (hs) steps.push({ ...base, ...hs });
      return;
    }
    if (isGuestStepOp(op)) {
      const gs = resolveGuestStep(s as unknown as Record<string, unknown>, op, p, index, base.line, guestEnv);
      if (gs) steps.push({ ...base, ...gs });
      return;
    }
    if (viommuModel === 'intel-iommu' && ((op !== 'dma' && op !== 'reset') || (op === 'reset' && Object.hasOwn(s, 'expect')))) {
      // intel-iommu has no virtio transport: requests, config (a reset's expect reads it) and workloads are virtio-iommu's.
      err(op === 'reset' ? `steps.${index}.expect` : p, `${op === 'reset' ? "a reset's expect reads virtio-iommu's config space" : `${op} is a virtio-iommu step`}; this scenario's vIOMMU is intel-iommu (realize-level: dma, reset, device-add and the host steps apply)`);
      return;
    }
    const step = resolveStep(s, op, p, base, props.probeSize, endpointOf, err);
    if (step) steps.push(step);
    // The guest DMA layer is not rebooted by a reset: its domains, mappings and handles no longer
    // match the device's (a system reset reboots a real guest; a device reset needs its driver).
    if (op === 'reset' && guest !== null) warn(p, "the guest DMA layer is not reset or rebooted with the device: its domains and mappings no longer match the device's after this step");
  });

  const after = ctx.diagnostics.filter((d) => d.severity === 'error').length;
  if (after > before) return null;
  if (host === undefined) return null;
  const scenario: Scenario = {
    name: doc.name,
    file: ctx.file,
    machine,
    props,
    devices,
    endpoints: [HOST_BRIDGE_ENDPOINT, ...devices.map((d) => d.endpoint)],
    steps,
    doc,
    host,
    viommuModel,
    guest,
  };
  if (intelIommu !== undefined) scenario.intelIommu = intelIommu;
  if (doc.description !== undefined) scenario.description = doc.description;
  if (driverFeatures !== undefined) scenario.driverFeatures = driverFeatures;
  return scenario;
}

/** The warning for a step endpoint (`written`: how the step names it) that no device in `devices` has. */
function undeclaredEndpoint(id: number, written: string, devices: readonly ScenarioDevice[]): string {
  const declared = devices.length ? `devices: ${devices.map((d) => `${d.name} ${d.bdf}`).join(', ')}` : 'no devices are declared';
  const bdf = id <= 0xffff && !written.startsWith('PCI') ? ` = PCI address ${bdfToString(id)}` : '';
  return `no device has ${written}${bdf} (${declared}; the host bridge is 00:00.0): the vIOMMU does not know this endpoint, so its requests answer NOENT and its DMA faults`;
}

function resolveStep(
  s: StepDoc,
  op: Exclude<StepOp, HostStep['op'] | GuestStep['op']>,
  p: string,
  base: StepBase,
  probeSize: number,
  endpointOf: (ref: string | number, path: string) => number,
  err: (path: string, message: string) => void,
): ScenarioStep | null {
  const raw = s as unknown as Record<string, unknown>;
  const expect = raw.expect;
  switch (op) {
    case 'attach': {
      const a = raw[op] as StepArgs['attach'];
      return { ...base, op, domain: a.domain, endpoint: endpointOf(a.endpoint, `${p}.endpoint`), flags: foldFlags(a.flags, { bypass: ATTACH_F_BYPASS }), reserved: a.reserved ?? 0, expect: statusExpect(expect as StepExpectDoc['attach']) };
    }
    case 'detach': {
      const a = raw[op] as StepArgs['detach'];
      return { ...base, op, domain: a.domain, endpoint: endpointOf(a.endpoint, `${p}.endpoint`), expect: statusExpect(expect as StepExpectDoc['detach']) };
    }
    case 'map': {
      const a = raw[op] as StepArgs['map'];
      return { ...base, op, domain: a.domain, virtStart: a['virt-start'], virtEnd: a['virt-end'], physStart: a['phys-start'], flags: foldFlags(a.flags, MAP_FLAGS), expect: statusExpect(expect as StepExpectDoc['map']) };
    }
    case 'unmap': {
      const a = raw[op] as StepArgs['unmap'];
      return { ...base, op, domain: a.domain, virtStart: a['virt-start'], virtEnd: a['virt-end'], reserved: a.reserved ?? 0, expect: statusExpect(expect as StepExpectDoc['unmap']) };
    }
    case 'probe': {
      const a = raw[op] as StepArgs['probe'];
      const e = expect as StepExpectDoc['probe'] | undefined;
      let pe: ProbeExpectation | undefined;
      if (typeof e === 'string') pe = { status: e };
      else if (e) {
        pe = {};
        if (e.status !== undefined) pe.status = e.status;
        if (e['resv-mem'] !== undefined) pe.regions = e['resv-mem'].map((r) => ({ subtype: r.subtype === 'msi' ? RESV_MEM_T_MSI : r.subtype === 'reserved' ? RESV_MEM_T_RESERVED : r.subtype, start: r.start, end: r.end }));
      }
      return { ...base, op, endpoint: endpointOf(a.endpoint, `${p}.endpoint`), expect: pe };
    }
    case 'dma': {
      const a = raw[op] as StepArgs['dma'];
      const e = expect as StepExpectDoc['dma'] | undefined;
      let de: DmaExpectation | undefined;
      if (e === 'bypass' || e === 'msi') de = { kind: e };
      else if (e && 'translated' in e) {
        de = { kind: 'translated', phys: e.translated };
        if (e.stale !== undefined) de.stale = e.stale;
      }
      else if (e && 'fault' in e) {
        const f: DmaExpectation & { kind: 'fault' } = { kind: 'fault', reason: FAULT_REASONS[e.fault.reason] };
        if (e.fault.flags !== undefined) f.flags = foldFlags(e.fault.flags, FAULT_FLAGS);
        if (e.fault.address !== undefined) f.address = e.fault.address;
        de = f;
      }
      const size = a.size ?? 1n;
      if (size === 0n) err(`${p}.size`, 'a DMA access is at least 1 byte');
      else if (a.addr + size - 1n > U64_MAX) err(`${p}.size`, `the access [${hex(a.addr)}, +${size}) runs past ${hex(U64_MAX)}`);
      return { ...base, op, endpoint: endpointOf(a.endpoint, `${p}.endpoint`), addr: a.addr, size, access: a.access === 'write' ? 2 : 1, expect: de };
    }
    case 'request': {
      const a = raw[op] as StepArgs['request'];
      const bytes = parseHexBytes(a.hex);
      if (typeof bytes === 'string') {
        err(`${p}.hex`, bytes);
        return null;
      }
      const writable = a.writable ?? (bytes[0] === T_PROBE ? probeSize + TAIL_SIZE : TAIL_SIZE);
      return { ...base, op, bytes, writable, expect: statusExpect(expect as StepExpectDoc['request']) };
    }
    case 'read-config':
      return { ...base, op, expect: configExpect(expect as StepExpectDoc['read-config']) };
    case 'set-bypass':
      return { ...base, op, value: raw[op] as number, expect: configExpect(expect as StepExpectDoc['set-bypass']) };
    case 'reset':
      return { ...base, op, system: raw[op] === 'system', expect: configExpect(expect as StepExpectDoc['reset']) };
    case 'workload': {
      const a = raw[op] as StepArgs['workload'];
      const size = a.size ?? 4096n;
      if (size === 0n) err(`${p}.size`, 'size must be at least 1 byte');
      const span = BigInt(a.count) * size - 1n;
      if (a['iova-base'] + span > U64_MAX) err(`${p}.count`, `${a.count} iterations of ${size} bytes from iova-base ${hex(a['iova-base'])} run past ${hex(U64_MAX)}`);
      if (a['phys-base'] + span > U64_MAX) err(`${p}.count`, `${a.count} iterations of ${size} bytes from phys-base ${hex(a['phys-base'])} run past ${hex(U64_MAX)}`);
      const ops = a.ops ?? ['map', 'dma', 'unmap'];
      const e = expect as StepExpectDoc['workload'] | undefined;
      let we: WorkloadExpectation | undefined;
      if (e) {
        we = {};
        if (e.faults !== undefined) we.faults = e.faults;
        if (e['failed-requests'] !== undefined) we.failedRequests = e['failed-requests'];
      }
      return {
        ...base,
        op,
        domain: a.domain,
        endpoint: endpointOf(a.endpoint, `${p}.endpoint`),
        count: a.count,
        size,
        iovaBase: a['iova-base'],
        physBase: a['phys-base'],
        ops: { map: ops.includes('map'), dma: ops.includes('dma'), unmap: ops.includes('unmap') },
        flags: foldFlags(a.flags ?? ['read', 'write'], MAP_FLAGS),
        access: a.access === 'write' ? 2 : 1,
        expect: we,
      };
    }
  }
}
