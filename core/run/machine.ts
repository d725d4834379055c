/**
 * The machine a scenario describes (core/machine): today one virtio-iommu component, 'viommu0',
 * built from `scenario.props` with the scenario's endpoints behind it. Host platform, backends and
 * HostIOMMUDevices join it in issue 7 §2-§4.
 */
import { Machine } from '../machine/machine.ts';
import type { StampingSink } from '../machine/component.ts';
import type { Scenario } from '../scenario/model.ts';
import { VirtioIommuComponent } from '../virtio-iommu/component.ts';

/** Id of the scenario's vIOMMU component. */
export const VIOMMU_ID = 'viommu0';

/** A scenario's machine and its vIOMMU (the component the runner's requests and DMA go to). */
export interface ScenarioMachine {
  machine: Machine;
  viommu: VirtioIommuComponent;
}

/**
 * Builds the machine of `scenario`, its components coldplugged (allocated and finalized, not yet
 * realized: call `machine.realize()`). Every component's events go to `sink`.
 */
export function buildMachine(scenario: Scenario, sink: StampingSink): ScenarioMachine {
  const machine = new Machine(sink);
  const viommu = machine.add(new VirtioIommuComponent(VIOMMU_ID, scenario.props, scenario.endpoints));
  return { machine, viommu };
}
