/**
 * The resolved model of the host side of a scenario (issue 7 §2-§4; syntax in host-schema.ts):
 * the `host:` block resolved by core/host/platform's resolveHost (its problems become diagnostics
 * at the YAML node they name), `backend:` and `kernel:`, and the `iommufd:` / `vfio:` /
 * `host-dma:` / `device-add:` steps with their object references checked (an `out` name must be
 * bound by an earlier step; a host device or group name must exist) and their `expect` keys checked
 * against the op's outputs (an object-ID output may name an earlier step's `out`, checked the same way).
 */
import { NEWEST_KERNEL, type KernelEra } from '../host/kernel.ts';
import { resolveHost, type HostDesc, type HostPlatform } from '../host/platform/host.ts';
import { ID_OUTPUTS, IOMMUFD_OUTPUTS, VFIO_OUTPUTS, type IommufdOp, type VfioOp } from './host-schema.ts';
import type { ScenarioDoc } from './schema.ts';

/** A reference to a value an earlier step's `out` bound (an object ID, a container, an IOVA). */
export interface OutRef {
  ref: string;
}

/** An argument value as resolved: numbers (u32), bigints (u64), booleans, strings (names), refs, lists and maps of them. */
export type CallArg = number | bigint | boolean | string | OutRef | readonly CallArg[] | { readonly [k: string]: CallArg };

/** A scripted uAPI call: the op and its arguments by kebab uAPI name (flags as written: names or raw bits). */
export interface HostCall<Op extends string> {
  op: Op;
  args: Readonly<Record<string, CallArg>>;
}

/**
 * `expect` of an iommufd / vfio step: the errno name (absent: not compared) and the outputs to
 * compare, by kebab uAPI name. An object-ID output (host-schema.ts ID_OUTPUTS) may be an
 * {@link OutRef}: compared against the value the name is bound to when the step runs.
 */
export interface CallExpectation {
  errno?: string;
  outputs: Readonly<Record<string, unknown>>;
}

/** `expect` of a host-dma step. */
export type HostDmaExpectation = { kind: 'translated'; addr: bigint; stale?: boolean } | { kind: 'fault'; reason?: string; address?: bigint };

/** `expect` of a device-add step: success, or an error whose message contains `error`. */
export type DeviceAddExpectation = { kind: 'ok' } | { kind: 'error'; error: string };

/** The host-side steps (members of model.ts ScenarioStep). */
export type HostStep =
  | { op: 'iommufd'; call: HostCall<IommufdOp>; out?: string; expect?: CallExpectation }
  | { op: 'vfio'; call: HostCall<VfioOp>; out?: string; expect?: CallExpectation }
  | { op: 'host-dma'; device: string; iova: bigint | OutRef; size: bigint; access: 1 | 2; expect?: HostDmaExpectation }
  | { op: 'device-add'; device: string; expect?: DeviceAddExpectation };

/** The resolved host side of a scenario. */
export interface ScenarioHost {
  /** The platform (an empty one when the scenario has no `host:`). */
  platform: HostPlatform;
  /** The `host:` block as written (kebab keys, canonical numbers). */
  desc: HostDesc;
  /** Whether the scenario has a `host:` block. */
  declared: boolean;
  backend: 'iommufd' | 'vfio-type1';
  kernel: KernelEra;
}

/** Error/position helpers of model.ts resolveScenario. */
export interface ModelEnv {
  err(path: string, message: string): void;
  /** True when no schema error was reported at `path` or below. */
  isValid(path: string): boolean;
  /** True when the walker recorded a span at `path` (the node exists). */
  has(path: string): boolean;
}

/**
 * Resolves `host:`, `backend:` and `kernel:`. resolveHost's problems are reported at
 * `host.<problem path>`, or at the nearest enclosing node that exists. Returns undefined when the
 * host block has errors.
 */
export function resolveScenarioHost(doc: ScenarioDoc, env: ModelEnv): ScenarioHost | undefined {
  const declared = doc.host !== undefined;
  const desc = (doc.host ?? {}) as HostDesc;
  if (declared && !env.isValid('host')) return undefined;
  const r = resolveHost(desc);
  if (!r.ok) {
    for (const p of r.problems) {
      let path = `host.${p.path}`;
      while (!env.has(path) && path.includes('.')) path = path.slice(0, path.lastIndexOf('.'));
      env.err(path, p.message);
    }
    return undefined;
  }
  const k = doc.kernel;
  return { platform: r.host, desc, declared, backend: doc.backend ?? 'iommufd', kernel: k === undefined ? NEWEST_KERNEL : (String(k) as KernelEra) };
}

/** Argument keys that name objects bound by `out` (or numeric IDs). */
const REF_KEYS = new Set(['ioas', 'dst-ioas', 'src-ioas', 'dev', 'pt', 'hwpt', 'viommu', 'id', 'container']);
/** Argument keys that are addresses (a u64, or an `out` name bound to an IOVA). */
const ADDR_KEYS = new Set(['iova', 'src-iova', 'dst-iova']);
/** Argument keys that name host devices. */
const DEVICE_KEYS = new Set(['device']);

/** Tracks `out` names in step order: a reference must be bound by an earlier step. */
export class OutNames {
  private readonly bound = new Map<string, number>();

  /** Binds `name` at step `index`. */
  bind(name: string, index: number): void {
    this.bound.set(name, index);
  }

  has(name: string): boolean {
    return this.bound.has(name);
  }

  /** The names bound so far, for messages. */
  list(): string {
    return this.bound.size ? `bound so far: ${[...this.bound.keys()].join(', ')}` : 'no step has bound a name with `out` yet';
  }
}

/**
 * Resolves one host-side step (`raw`: the step as the walker returned it; `p`: the path of its op
 * body, "steps.3.iommufd"). Returns null after reporting an error.
 */
export function resolveHostStep(
  raw: Record<string, unknown>,
  op: 'iommufd' | 'vfio' | 'host-dma' | 'device-add',
  p: string,
  host: ScenarioHost | undefined,
  guestDevices: ReadonlySet<string>,
  outs: OutNames,
  index: number,
  env: ModelEnv,
): HostStep | null {
  const body = raw[op] as Record<string, unknown>;
  const expectPath = p.slice(0, p.lastIndexOf('.')) + '.expect';
  const hostDevices = host?.platform.deviceByName;
  let ok = true;
  const checkDevice = (name: string, path: string) => {
    if (hostDevices && !hostDevices.has(name)) {
      const known = [...hostDevices.keys()];
      env.err(path, `unknown host device "${name}"; ${known.length ? `host.devices: ${known.join(', ')}` : 'host.devices declares none'}`);
      ok = false;
    }
  };
  const refOf = (v: string, path: string): OutRef => {
    if (!outs.has(v)) {
      env.err(path, `"${v}" is not bound by an earlier step's \`out\` (${outs.list()}); write an out name or a numeric ID`);
      ok = false;
    }
    return { ref: v };
  };

  if (op === 'device-add') {
    const device = body.device as string;
    if (!guestDevices.has(device)) {
      env.err(`${p}.device`, `unknown device "${device}"; devices: ${[...guestDevices].join(', ') || 'none declared'}`);
      return null;
    }
    const e = raw.expect as string | { error: string } | undefined;
    return { op, device, expect: e === undefined ? undefined : typeof e === 'string' ? { kind: 'ok' } : { kind: 'error', error: e.error } };
  }

  if (op === 'host-dma') {
    const device = body.device as string;
    checkDevice(device, `${p}.device`);
    const iova = typeof body.iova === 'string' ? refOf(body.iova, `${p}.iova`) : (body.iova as bigint);
    const size = (body.size as bigint | undefined) ?? 1n;
    if (size === 0n) {
      env.err(`${p}.size`, 'a DMA access is at least 1 byte');
      ok = false;
    }
    const e = raw.expect as { translated?: bigint; stale?: boolean; fault?: { reason?: string; address?: bigint } } | undefined;
    let expect: HostDmaExpectation | undefined;
    if (e?.translated !== undefined) {
      expect = { kind: 'translated', addr: e.translated };
      if (e.stale !== undefined) expect.stale = e.stale;
    }
    else if (e?.fault !== undefined) {
      expect = { kind: 'fault' };
      if (e.fault.reason !== undefined) expect.reason = e.fault.reason;
      if (e.fault.address !== undefined) expect.address = e.fault.address;
    }
    return ok ? { op, device, iova, size, access: body.access === 'write' ? 2 : 1, expect } : null;
  }

  // iommufd / vfio: arguments by name; references resolved to OutRef; names checked.
  const name = body.op as string;
  const args: Record<string, CallArg> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === 'op' || k === 'out') continue;
    const path = `${p}.${k}`;
    if (typeof v === 'string' && (REF_KEYS.has(k) || ADDR_KEYS.has(k))) args[k] = refOf(v, path);
    else if (typeof v === 'string' && DEVICE_KEYS.has(k)) {
      checkDevice(v, path);
      args[k] = v;
    } else if (k === 'group' && typeof v === 'string') {
      checkDevice(v, path);
      args[k] = v;
    } else args[k] = v as CallArg;
  }
  const outputs = (op === 'iommufd' ? IOMMUFD_OUTPUTS[name as IommufdOp] : VFIO_OUTPUTS[name as VfioOp]) ?? {};
  let expect: CallExpectation | undefined;
  const e = raw.expect as string | Record<string, unknown> | undefined;
  if (typeof e === 'string') expect = { errno: e, outputs: {} };
  else if (e !== undefined) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      if (k === 'errno') continue;
      if (!Object.hasOwn(outputs, k)) {
        const names = Object.keys(outputs);
        env.err(`${expectPath}.${k}`, `${op} ${name} has no output "${k}"; ${names.length ? `its outputs: ${names.join(', ')}` : 'it has no outputs (expect errno only)'}`);
        ok = false;
        continue;
      }
      // An object-ID output named by an earlier step's `out` (e.g. {pt-id: hwpt0}).
      out[k] = typeof v === 'string' && ID_OUTPUTS.has(k) ? refOf(v, `${expectPath}.${k}`) : v;
    }
    expect = { outputs: out };
    if (typeof e.errno === 'string') expect.errno = e.errno;
  }
  const outName = body.out as string | undefined;
  if (outName !== undefined) outs.bind(outName, index);
  if (!ok) return null;
  const step = op === 'iommufd' ? { op, call: { op: name as IommufdOp, args } } : { op, call: { op: name as VfioOp, args } };
  return { ...step, ...(outName !== undefined ? { out: outName } : {}), expect } as HostStep;
}
