/**
 * The machine a scenario describes (core/machine): its vIOMMU 'viommu0' (virtio-iommu, built from
 * `scenario.props` with the scenario's endpoints behind it) and, when the scenario has a host side
 * (a `host:` block, host steps or a guest device backed by a host device), the host components:
 *  - one physical IOMMU component per `host.iommus` entry (layer 'iommu', core/host/components/iommu.ts);
 *  - the backend component of `backend:` — 'iommufd0' (iommufd; `vfio:` steps go to iommufd's VFIO
 *    compatibility, drivers/iommu/iommufd/vfio_compat.c, as a VFIO container opened on a kernel with
 *    CONFIG_IOMMUFD_VFIO_CONTAINER would) or 'vfio0' (vfio-type1) — plus 'iommufd0' beside 'vfio0'
 *    when a vfio-type1 scenario also scripts `iommufd:` steps. The engines share one DMA ownership
 *    (core/host/backend/from-platform.ts hostBackends): a group in a type1 container cannot be
 *    bound through iommufd, and the reverse (EBUSY), as on one real host.
 * Guest devices backed by host devices are plugged by core/run/plug.ts after realize.
 */
import { Machine } from '../machine/machine.ts';
import type { StampingSink } from '../machine/component.ts';
import type { Scenario } from '../scenario/model.ts';
import { VirtioIommuComponent } from '../viommu/virtio-iommu/component.ts';
import { hostBackends, type HostBackends } from '../host/backend/from-platform.ts';
import { IommufdBackendComponent, VfioType1BackendComponent, type BackendComponent } from '../host/components/backend.ts';
import { PhysicalIommuComponent } from '../host/components/iommu.ts';
import type { VIommu } from '../machine/layers.ts';
import { IntelIommuComponent, defaultIntelIommuProps } from '../viommu/intel-iommu/intel-iommu.ts';
import { VfioShadow } from '../host/shadow.ts';
import { GuestKernelComponent } from '../guest/component.ts';
import { stepOps } from './step-ops.ts';

/** Id of the scenario's vIOMMU component. */
export const VIOMMU_ID = 'viommu0';

/** The host side of a scenario's machine. */
export interface HostParts {
  /** The engines over the scenario's platform (shared DMA ownership). */
  engines: HostBackends;
  /** The backend QEMU uses (`backend:`): what assigned devices attach through. */
  backend: BackendComponent;
  /** 'iommufd0', when present (the backend, or beside 'vfio0' for scripted iommufd steps). */
  iommufd?: IommufdBackendComponent;
  /** 'vfio0', when the backend is vfio-type1. */
  vfio?: VfioType1BackendComponent;
  /** Physical IOMMU components by IOMMU name. */
  iommus: ReadonlyMap<string, PhysicalIommuComponent>;
}

/** A scenario's machine, its vIOMMU (the component the runner's requests and DMA go to) and its host side. */
export interface ScenarioMachine {
  machine: Machine;
  /** The vIOMMU 'viommu0': virtio-iommu or intel-iommu (`viommu.model`). DMA goes through it. */
  viommu: VIommu;
  /** The same component when it is a virtio-iommu (the runner's requests, config, features); absent for intel-iommu. */
  virtio?: VirtioIommuComponent;
  /**
   * VFIO's IOMMU notifiers (core/host/shadow.ts), registered on a virtio-iommu when a guest device
   * is backed by a host device: assigned devices plugged by core/run/plug.ts join it.
   */
  shadow?: VfioShadow;
  /** The host components; absent when the scenario has no host side. */
  host?: HostParts;
  /** The guest DMA layer 'guest0' (issue 8), when the scenario has one (`guest:` or guest DMA steps) over a virtio-iommu. */
  guest?: GuestKernelComponent;
}

/** True when the scenario has a host side: a `host:` block, a host step, or a guest device backed by a host device. */
export function hasHostSide(scenario: Scenario): boolean {
  const ops = stepOps(scenario);
  return scenario.host.declared || scenario.devices.some((d) => d.host !== undefined) || ops.has('iommufd') || ops.has('vfio') || ops.has('host-dma') || ops.has('device-add');
}

/**
 * Builds the machine of `scenario`, its components coldplugged (allocated and finalized, not yet
 * realized: call `machine.realize()`). Every component's events go to `sink`. Order: physical
 * IOMMUs, backends, the vIOMMU (realize runs in this order: groups are reported first).
 */
export function buildMachine(scenario: Scenario, sink: StampingSink): ScenarioMachine {
  const machine = new Machine(sink);
  let host: HostParts | undefined;
  if (hasHostSide(scenario)) {
    const h = scenario.host;
    const engines = hostBackends(h.platform, { kernel: h.kernel });
    const explicit = new Set((h.desc.devices ?? []).filter((d) => d.group !== undefined).map((d) => d.name));
    const iommus = new Map<string, PhysicalIommuComponent>();
    for (const m of h.platform.iommus.values()) iommus.set(m.name, machine.add(new PhysicalIommuComponent(m, h.platform, explicit)));
    let iommufd: IommufdBackendComponent | undefined;
    let vfio: VfioType1BackendComponent | undefined;
    if (h.backend === 'vfio-type1') {
      vfio = machine.add(new VfioType1BackendComponent(engines));
      if (scenario.steps.some((s) => s.op === 'iommufd')) iommufd = machine.add(new IommufdBackendComponent(engines));
    } else iommufd = machine.add(new IommufdBackendComponent(engines));
    const backend = (h.backend === 'vfio-type1' ? vfio : iommufd)!;
    backend.reportsEmulatedGroups = true;
    host = { engines, backend, iommufd, vfio, iommus };
  }
  if (scenario.viommuModel === 'intel-iommu') {
    // intel-iommu at realize level (core/viommu/intel-iommu): QEMU's defaults under the scenario's props.
    const viommu = machine.add(new IntelIommuComponent(VIOMMU_ID, { ...defaultIntelIommuProps(), ...scenario.intelIommu }));
    return { machine, viommu, host };
  }
  const virtio = machine.add(new VirtioIommuComponent(VIOMMU_ID, scenario.props, scenario.endpoints));
  let shadow: VfioShadow | undefined;
  if (scenario.devices.some((d) => d.host !== undefined)) {
    shadow = new VfioShadow();
    virtio.setNotifier(shadow);
  }
  let guest: GuestKernelComponent | undefined;
  if (scenario.guest !== null) {
    const devices = scenario.devices.map((d) => ({ name: d.name, endpoint: d.endpoint, type: d.type, behind: d.behind, acs: d.acs, dmaMask: d.dmaMask, host: d.host }));
    guest = machine.add(new GuestKernelComponent(scenario.guest, devices, () => virtio.device, shadow));
  }
  return { machine, viommu: virtio, virtio, host, shadow, guest };
}
