/**
 * The configuration a run was made with, as the runs list, the run header and `iommu-lab show`
 * display it: the machine, the vIOMMU model and its effective properties (machine defaults
 * resolved, so a scenario that says nothing still shows q35's granule and aw-bits), and the
 * devices behind it. Stored with the run (runs.config, JSON) when the run is created.
 */
import type { RunConfig } from '../contract/index.ts';
import type { Scenario } from '../scenario/model.ts';
import { stepOps } from './step-ops.ts';

/**
 * The effective configuration of a resolved scenario.
 * - `granule`: the QEMU `granule` property ('4k' … '64k', or 'host' as written; 'host' is 4 KiB
 *   here, see VirtioIommuProps.granule).
 * - `awBits`: input address width in bits (config.input_range ends at 2^awBits − 1).
 * - `devices`: the declared devices in scenario order, with their PCI address and endpoint ID
 *   (the requester ID); the host bridge 00:00.0 is implicit and not listed.
 */
export function runConfig(scenario: Scenario): RunConfig {
  // intel-iommu: its own aw-bits; VT-d pages are 4 KiB (QEMU VTD_PAGE_SIZE), QEMU's behaviour modelled.
  const intel = scenario.viommuModel === 'intel-iommu' ? scenario.intelIommu : undefined;
  return {
    machine: scenario.machine,
    model: scenario.viommuModel,
    conformance: intel ? 'qemu' : scenario.props.conformance,
    granule: intel ? '4k' : scenario.props.granule,
    awBits: intel ? intel.awBits : scenario.props.awBits,
    ...(intel ? { cachingMode: intel.cachingMode, xFlts: intel.xFlts } : {}),
    devices: scenario.devices.map((d) => ({ name: d.name, bdf: d.bdf, endpoint: d.endpoint, ...(d.host !== undefined ? { host: d.host } : {}) })),
    ...hostConfig(scenario),
    ...guestConfig(scenario),
  };
}

/** The guest DMA layer's part (issue 8): `guest:`, the guest topology, and host-geometry when devices are assigned. */
function guestConfig(scenario: Scenario): Pick<RunConfig, 'guest' | 'topology' | 'hostGeometry'> {
  const out: Pick<RunConfig, 'guest' | 'topology' | 'hostGeometry'> = {};
  if (scenario.viommuModel === 'virtio-iommu' && scenario.devices.some((d) => d.host !== undefined)) out.hostGeometry = scenario.props.hostGeometry;
  const g = scenario.guest;
  if (g === null) return out;
  out.guest = { iommuDma: g.iommuDma, cpus: g.cpus, forcedac: g.forcedac, singleFlushQueue: g.singleFlushQueue, hz: g.hz };
  out.topology = scenario.devices.map((d) => ({ name: d.name, type: d.type, ...(d.behind !== undefined ? { behind: d.behind } : {}), acs: d.acs, dmaMask: d.dmaMask }));
  return out;
}

/** The host side's part of the configuration: backend and kernel when the scenario uses the host side, the groups when it declares `host:`. */
function hostConfig(scenario: Scenario): Pick<RunConfig, 'backend' | 'kernel' | 'groups'> {
  const h = scenario.host;
  const ops = stepOps(scenario);
  const uses = h.declared || ops.has('iommufd') || ops.has('vfio') || ops.has('host-dma');
  if (!uses) return {};
  const out: Pick<RunConfig, 'backend' | 'kernel' | 'groups'> = { backend: h.backend, kernel: h.kernel };
  if (h.declared) out.groups = h.platform.groups.map((g) => ({ id: g.id, iommu: g.iommu, members: [...g.members] }));
  return out;
}
