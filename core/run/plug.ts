/**
 * THE HOOK for guest devices backed by host devices (issue 7 §4; filled by the HostIOMMUDevice /
 * vIOMMU work, core/host/assign.ts): how the runner plugs them.
 *
 * The runner calls, in this order:
 *  1. `coldplugDevices(ctx)` once, after `machine.realize()` and before feature negotiation: every
 *     scenario device with `host` that no `device-add` step names is plugged as QEMU's -device
 *     vfio-pci,host=… at start (backend attach, HostIOMMUDevice realize, set_iommu_device, IOMMU
 *     notifier). A non-null return is QEMU's error message: the run fails with it, as QEMU fails
 *     to start (ScenarioRun's constructor throws Error(message)).
 *  2. `hotplugDevice(ctx, device)` for each `device-add: {device}` step: QEMU's device_add. A
 *     non-null return is QEMU's error message: the step's outcome ({error}), which
 *     `expect: {error: "substring"}` checks; null is success (`expect: OK`).
 * Both emit their own events ('device-plug', 'hiod-realize', 'set-iommu-device', 'host-call', …)
 * through the components' emitters; `ctx.host` holds the backend components (core/run/machine.ts
 * HostParts: `backend` implements core/machine/layers.ts HostBackend) and the physical IOMMUs.
 *
 * Until that work lands: coldplug plugs nothing (the devices stay plain endpoints behind the
 * vIOMMU) and device-add fails with a message saying so.
 */
import type { Machine } from '../machine/machine.ts';
import type { Scenario, ScenarioDevice } from '../scenario/model.ts';
import type { VirtioIommuComponent } from '../virtio-iommu/component.ts';
import type { HostParts } from './machine.ts';

/** What the plug hooks get: the scenario, its machine, its vIOMMU and its host side. */
export interface PlugContext {
  scenario: Scenario;
  machine: Machine;
  viommu: VirtioIommuComponent;
  /** Absent when the scenario has no host side. */
  host?: HostParts;
}

/** The devices to coldplug: those backed by a host device that no device-add step hotplugs. */
export function coldplugged(scenario: Scenario): ScenarioDevice[] {
  const hot = new Set(scenario.steps.flatMap((s) => (s.op === 'device-add' ? [s.device] : [])));
  return scenario.devices.filter((d) => d.host !== undefined && !hot.has(d.name));
}

/** Coldplugs the scenario's host-backed devices (see the file comment). Returns null or QEMU's error message. */
export function coldplugDevices(ctx: PlugContext): string | null {
  void ctx;
  return null;
}

/** QEMU's device_add of `device` (see the file comment). Returns null or QEMU's error message. */
export function hotplugDevice(ctx: PlugContext, device: ScenarioDevice): string | null {
  void ctx;
  return `device-add ${device.name}: hotplug of host-backed devices is not available yet`;
}
