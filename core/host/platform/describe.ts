/**
 * The plain description of a host platform (issue 7 §2's `host:` block, kebab-case keys as in the
 * scenario) and the problem values its resolution reports. Numbers may be given as bigint or as
 * safe integers; the scenario layer hands over what its schema validated.
 */

/** A reserved region as written: [start, end] or [start, start + length - 1], and its type (models.ts RESV_TYPES). */
export interface ReservedRegionDesc {
  start: bigint | number;
  end?: bigint | number;
  length?: bigint | number;
  type: string;
}

/** One physical IOMMU: `{name, model, aw-bits?, page-sizes?, dirty-tracking?, nesting?, cache-coherency?, reserved-regions?}`. */
export interface IommuDesc {
  name: string;
  /** intel-vtd, amd-vi or arm-smmuv3. */
  model: string;
  /** Input address width in bits (model range in models.ts AW_BITS_RANGE). */
  'aw-bits'?: number;
  /** Page sizes: a bitmap (bit n = 2^n bytes) or a list of sizes in bytes; each at least 4 KiB. */
  'page-sizes'?: bigint | number | readonly (bigint | number)[];
  'dirty-tracking'?: boolean;
  nesting?: boolean;
  'cache-coherency'?: boolean;
  /** Replaces the model's platform reserved regions ([] removes them). */
  'reserved-regions'?: readonly ReservedRegionDesc[];
}

/** Device types: PCIe ports and bridges shape the groups; vfio-pci and endpoint are functions; mdev is a mediated device. */
export const DEVICE_TYPES = ['root-port', 'switch-port', 'pcie-to-pci-bridge', 'vfio-pci', 'endpoint', 'mdev'] as const;
/** One of {@link DEVICE_TYPES}. */
export type DeviceType = (typeof DEVICE_TYPES)[number];

/**
 * One device: `{name, bdf, type, iommu?, behind?, acs?, group?, parent?}`.
 *  - `bdf`: "DDDD:BB:DD.F" or "BB:DD.F" (domain 0); required except for mdev.
 *  - `iommu`: the IOMMU's name; when absent, inherited from the port or bridge it is `behind`.
 *  - `behind`: the root port, switch port or PCIe-to-PCI bridge upstream of it.
 *  - `acs`: for ports, whether ACS isolates what is below (default true).
 *  - `group`: an explicit IOMMU group number, overriding Linux's rule.
 *  - `parent`: for an mdev, the device that does its DMA.
 */
export interface DeviceDesc {
  name: string;
  bdf?: string;
  type: string;
  iommu?: string;
  behind?: string;
  acs?: boolean;
  group?: number;
  parent?: string;
}

/** The `host:` block. */
export interface HostDesc {
  iommus?: readonly IommuDesc[];
  devices?: readonly DeviceDesc[];
}

/** A problem in the description: the dotted field path ("devices.2.behind") and what is wrong. */
export interface HostProblem {
  path: string;
  message: string;
}
