/**
 * The container-level VFIO uAPI both host backends offer to QEMU's legacy VFIO path: VfioType1
 * (vfio-type1/vfio.ts, the type1 IOMMU driver) and IommufdVfioCompat (iommufd/vfio-compat.ts,
 * /dev/vfio/vfio served by iommufd). Same operations, argument shapes and outputs; the errnos
 * differ where the kernels differ (each class documents its rules). A scenario's `vfio:` steps
 * can drive either through this interface. Every method returns `errno` (0 = success).
 */
import type { DmaMapArgs, DmaUnmapArgs, DmaUnmapResult, Type1InfoResult } from './vfio-type1/dma.ts';

export type { DmaMapArgs, DmaUnmapArgs, DmaUnmapResult, Type1InfoCaps, Type1InfoResult } from './vfio-type1/dma.ts';

/** VFIO container operations (container.c / group.c / the IOMMU driver's ioctls). */
export interface VfioContainerBackend {
  /** open("/dev/vfio/vfio"): `container` is the new container's id (from 1). */
  containerOpen(): { errno: number; container: number };
  /** VFIO_GROUP_SET_CONTAINER: a group by number or by a member device's name. */
  groupSetContainer(group: number | string, container: number): { errno: number };
  /** VFIO_GROUP_UNSET_CONTAINER. */
  groupUnsetContainer(group: number | string): { errno: number };
  /** VFIO_SET_IOMMU: `type` by number (VFIO_EXT) or name (type1, type1v2, type1-nesting). */
  setIommu(container: number, type: number | string): { errno: number };
  /** VFIO_CHECK_EXTENSION: `value` is the ioctl's non-negative result. */
  checkExtension(container: number, ext: number): { errno: number; value: number };
  /** VFIO_GROUP_GET_DEVICE_FD for a host device (by name). */
  deviceOpen(device: string): { errno: number };
  /** VFIO_IOMMU_MAP_DMA (`vaddr` defaults to `iova`). */
  mapDma(container: number, a: Omit<DmaMapArgs, 'vaddr'> & { vaddr?: bigint }): { errno: number };
  /** VFIO_IOMMU_UNMAP_DMA: `size` as written back (bytes unmapped). */
  unmapDma(container: number, a: DmaUnmapArgs): DmaUnmapResult;
  /** VFIO_IOMMU_GET_INFO (`argsz` undefined = large enough for every capability). */
  getInfo(container: number, argsz?: number): Type1InfoResult;
}
