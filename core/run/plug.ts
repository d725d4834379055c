/**
 * THE HOOK for guest devices backed by host devices (issue 7 §4): how the runner plugs them, with
 * core/host/assign.ts's VfioPciComponent (QEMU's vfio-pci realize: backend attach, HostIOMMUDevice
 * realize, set_iommu_device, IOMMU notifier).
 *
 * The runner calls, in this order:
 *  1. `coldplugDevices(ctx)` once, after `machine.realize()` and before feature negotiation: every
 *     scenario device with `host` that no `device-add` step names is plugged as QEMU's -device
 *     vfio-pci,host=… at start, in declaration order; then machine init done (virtio-iommu freezes
 *     its granule; intel-iommu requires caching-mode with an assigned device). A non-null return
 *     is QEMU's error message, "-device vfio-pci,host=<host>,id=<name>: <error>" as QEMU prints
 *     the failing option: the run fails with it, as QEMU fails to start (ScenarioRun.failure: no
 *     step runs, the events so far are kept, the run is stored `failed` with the message).
 *  2. `hotplugDevice(ctx, device)` for each `device-add: {device}` step: QEMU's device_add. A
 *     non-null return is QEMU's error message ("vfio <host>: …"): the step's outcome ({error}),
 *     which `expect: {error: "substring"}` checks; null is success (`expect: OK`). A failed
 *     device_add leaves nothing behind.
 * Both emit their own events ('device-plug', 'hiod-realize', 'set-iommu-device', 'host-call', …)
 * through the components' emitters.
 */
import type { Machine } from '../machine/machine.ts';
import type { VIommu } from '../machine/layers.ts';
import type { Scenario, ScenarioDevice } from '../scenario/model.ts';
import { VfioPciComponent, componentIdOf, machineInitDone, type AssignContext } from '../host/assign.ts';
import type { VfioShadow } from '../host/shadow.ts';
import type { HostParts } from './machine.ts';
import { hotplugged } from './step-ops.ts';

/** What the plug hooks get: the scenario, its machine, its vIOMMU, its host side and VFIO's notifiers. */
export interface PlugContext {
  scenario: Scenario;
  machine: Machine;
  viommu: VIommu;
  /** Absent when the scenario has no host side. */
  host?: HostParts;
  /** VFIO's IOMMU notifiers on a virtio-iommu (core/run/machine.ts); absent otherwise. */
  shadow?: VfioShadow;
}

/** The devices to coldplug: those backed by a host device that no device-add step hotplugs. */
export function coldplugged(scenario: Scenario): ScenarioDevice[] {
  const hot = hotplugged(scenario);
  return scenario.devices.filter((d) => d.host !== undefined && !hot.has(d.name));
}

/** vbasedev->name of a host device: its BDF ("0000:3b:00.0"), an mdev's name. */
function hostNameOf(ctx: PlugContext, host: string): { name: string; mdev: boolean } {
  const d = ctx.scenario.host.platform.deviceByName.get(host);
  return { name: d?.bdf ?? host, mdev: d?.type === 'mdev' };
}

/** The vfio-pci component of `device` (its `host` set). */
function vfioPciOf(ctx: PlugContext, device: ScenarioDevice, hotplug: boolean): VfioPciComponent {
  const host = device.host!;
  const { name, mdev } = hostNameOf(ctx, host);
  const assign: AssignContext = { machine: ctx.machine, backend: ctx.host!.backend, viommu: ctx.viommu, shadow: ctx.shadow ?? null };
  return new VfioPciComponent({ id: componentIdOf(device.name), guestDevice: device.name, endpoint: device.endpoint, hostDevice: host, hostName: name, mdev, hotplug }, assign);
}

/** Coldplugs the scenario's host-backed devices, then machine init done (see the file comment). Returns null or QEMU's error message. */
export function coldplugDevices(ctx: PlugContext): string | null {
  for (const d of coldplugged(ctx.scenario)) {
    const c = ctx.machine.add(vfioPciOf(ctx, d, false));
    const error = c.realize();
    if (error !== null) return `-device vfio-pci,host=${c.spec.hostName},id=${d.name}: ${error}`;
  }
  return machineInitDone(ctx.machine, ctx.viommu);
}

/** QEMU's device_add of `device` (see the file comment). Returns null or QEMU's error message. */
export function hotplugDevice(ctx: PlugContext, device: ScenarioDevice): string | null {
  if (device.host === undefined) return `device-add ${device.name}: only devices backed by a host device (\`host:\`) can be hotplugged`;
  if (ctx.host === undefined) return `device-add ${device.name}: the scenario has no host side`;
  return ctx.machine.plug(vfioPciOf(ctx, device, true));
}
