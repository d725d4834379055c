/**
 * Execution of the host steps (issue 7 §3): `iommufd:` and `vfio:` calls on the backend components
 * (core/host/components), `host-dma:` through the device's physical IOMMU, `device-add:` through
 * the plug hook (plug.ts). `out` names are bound to what a call returns (object ID, container
 * number, IOVA; 0 when it failed, which the kernel never hands out: a later use gives what an
 * absent ID gives), in step order. Each step's StepResult carries `errno` (the name) and `outputs`
 * (kebab-case uAPI names, u64 as "0x…"); `expect` is checked by host-expect.ts.
 */
import type { StepResult } from '../contract/index.ts';
import { errnoName } from '../host/errno.ts';
import { parseBdf } from '../host/platform/host.ts';
import type { CallOutcome, ResolvedArg } from '../host/components/calls.ts';
import { jsonValue, type HostDmaOutcome } from '../host/components/backend.ts';
import type { CallArg, HostStep, ScenarioStep } from '../scenario/model.ts';
import { checkCall, checkDeviceAdd, checkHostDma, type HostDmaJson } from './host-expect.ts';
import type { ExpectationCheck } from './expect.ts';
import type { HostParts } from './machine.ts';
import { hotplugDevice, type PlugContext } from './plug.ts';

/** A host step as the runner holds it. */
export type HostScenarioStep = Extract<ScenarioStep, { op: HostStep['op'] }>;

/** True for the host steps. */
export function isHostStep(s: ScenarioStep): s is HostScenarioStep {
  return s.op === 'iommufd' || s.op === 'vfio' || s.op === 'host-dma' || s.op === 'device-add';
}

/** Runs host steps in order against a machine's host side. */
export class HostStepRunner {
  /** `out` name → the value it was bound to. */
  private readonly names = new Map<string, bigint>();

  constructor(
    private readonly plug: PlugContext,
    /** Records the step's expectation (the runner's `expectation` event and result fields). */
    private readonly expectation: (result: StepResult, check: ExpectationCheck) => void,
    /**
     * The guest layer's check of a translated host DMA (issue 8): the virtual ns since the guest
     * unmapped that address when its UNMAP is still queued (a stale translation), else null.
     */
    private readonly staleCheck?: (hostDevice: string, iova: bigint, translated: bigint, access: 1 | 2) => { sinceNs: number } | null,
    /** Called after a successful device-add (the guest probes the new device). */
    private readonly afterHotplug?: (device: string) => void,
  ) {}

  private get host(): HostParts {
    if (this.plug.host === undefined) throw new Error('host step without a host side (core/run/machine.ts hasHostSide)');
    return this.plug.host;
  }

  /** The value an `out` name is bound to (0 when the binding step failed). */
  value(name: string): bigint | undefined {
    return this.names.get(name);
  }

  /** Executes one host step; returns its result. */
  run(step: HostScenarioStep): StepResult {
    const result: StepResult = { index: step.index, op: step.op, line: step.line };
    switch (step.op) {
      case 'iommufd':
      case 'vfio': {
        const args = this.resolve(step.call.args);
        let o: CallOutcome;
        if (step.op === 'iommufd') {
          const c = this.host.iommufd;
          if (c === undefined) throw new Error('iommufd step without an iommufd component');
          o = c.iommufdStep(step.call.op, args);
        } else o = this.host.backend.vfioStep(step.call.op, args);
        const expectNames = step.expect !== undefined && step.out !== undefined && this.names.has(step.out) ? new Map(this.names) : this.names;
        if (step.out !== undefined) this.names.set(step.out, o.errno === 0 ? (o.bound ?? 0n) : 0n);
        const errno = errnoName(o.errno);
        result.errno = errno;
        result.status = errno;
        const outputs = jsonValue(o.outputs) as Record<string, unknown>;
        if (Object.keys(outputs).length) result.outputs = outputs;
        result.message = `${o.ioctl} → ${errno}`;
        // `out` names in the expect (object IDs) compare against their values before this step's own binding.
        if (step.expect) this.expectation(result, checkCall(step.expect, errno, o.outputs, (n) => expectNames.get(n)));
        break;
      }
      case 'host-dma': {
        const iova = typeof step.iova === 'bigint' ? step.iova : (this.names.get(step.iova.ref) ?? 0n);
        const v = this.hostDma(step.device, iova, step.size, step.access === 2 ? 'write' : 'read');
        if ('translated' in v && this.staleCheck !== undefined) {
          const stale = this.staleCheck(step.device, iova, BigInt(v.translated), step.access === 2 ? 2 : 1);
          if (stale !== null) {
            v.stale = true;
            v['stale-ns'] = stale.sinceNs;
          }
        }
        result.outcome = v;
        if (step.expect) this.expectation(result, checkHostDma(step.expect, v));
        break;
      }
      case 'device-add': {
        const device = this.plug.scenario.devices.find((d) => d.name === step.device)!;
        const error = hotplugDevice(this.plug, device);
        if (error === null) this.afterHotplug?.(device.name);
        result.status = error === null ? 'OK' : 'ERROR';
        if (error !== null) {
          result.outcome = { error };
          result.message = error;
        }
        if (step.expect) this.expectation(result, checkDeviceAdd(step.expect, error));
        break;
      }
    }
    return result;
  }

  /**
   * A host device's DMA: decided by the backend holding its group (iommufd0 — native or VFIO
   * compatibility — first, then vfio0), recorded by its physical IOMMU (an mdev's: its parent's).
   */
  hostDma(device: string, iova: bigint, size: bigint, access: 'read' | 'write'): HostDmaJson {
    const h = this.host;
    let outcome: HostDmaOutcome | undefined = h.iommufd?.hostDma(device, iova, size, access);
    if (outcome === undefined && h.vfio !== undefined) outcome = h.vfio.hostDma(device, iova, size, access);
    outcome ??= { fault: { reason: 'not-bound', address: iova } };
    const platform = h.engines.host;
    let dev = platform.deviceByName.get(device);
    if (dev?.type === 'mdev' && dev.parent !== null) dev = platform.deviceByName.get(dev.parent);
    const iommu = dev?.iommu ? h.iommus.get(dev.iommu) : undefined;
    const endpoint = dev?.bdf ? (parseBdf(dev.bdf)?.key ?? 0) & 0xffff : 0;
    iommu?.recordDma(device, endpoint, iova, size, access, outcome);
    return 'translated' in outcome ? { translated: '0x' + outcome.translated.toString(16) } : { fault: { reason: outcome.fault.reason, address: '0x' + outcome.fault.address.toString(16) } };
  }

  /** Arguments with `out` references replaced by the values they are bound to. */
  private resolve(args: Readonly<Record<string, CallArg>>): Record<string, ResolvedArg> {
    const one = (v: CallArg): ResolvedArg => {
      if (Array.isArray(v)) return (v as readonly CallArg[]).map(one);
      if (v !== null && typeof v === 'object') {
        if ('ref' in v && typeof (v as { ref: unknown }).ref === 'string' && Object.keys(v).length === 1) return this.names.get((v as { ref: string }).ref) ?? 0n;
        return Object.fromEntries(Object.entries(v as Record<string, CallArg>).map(([k, x]) => [k, one(x)]));
      }
      return v as ResolvedArg;
    };
    const out: Record<string, ResolvedArg> = {};
    for (const [k, v] of Object.entries(args)) out[k] = one(v);
    return out;
  }
}
