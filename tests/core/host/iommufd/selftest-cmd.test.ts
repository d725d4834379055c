/**
 * The generic ioctl rules (main.c iommufd_fops_ioctl, reference §1.2) as the iommufd selftest
 * checks them (tools/testing/selftests/iommu/iommufd.c @ torvalds 0795b305): cmd_fail's unknown
 * ioctl → ENOTTY, cmd_length (size - 1 → EINVAL; size + 1 with a non-zero extra byte → E2BIG;
 * with a zero extra byte the same outcome as the exact size), cmd_ex_fail (a longer IOMMU_DESTROY
 * with a zero tail reaches the handler: ENOENT for id 0; a non-zero tail → E2BIG; one byte short
 * → EINVAL).
 */
import { describe, expect, it } from 'vitest';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { IOMMUFD_CMDS, IOMMUFD_CMD_BASE, ioctlNrCheck, ucmdSizeCheck } from '../../../../core/host/backend/iommufd/ucmd.ts';
import { errnoName } from '../../../../core/host/errno.ts';

const n = errnoName;

describe('iommufd fixture: generic command rules', () => {
  it('cmd_fail: an unknown ioctl (IOMMUFD_CMD_BASE - 1) → ENOTTY; known numbers pass', () => {
    expect(n(ioctlNrCheck(IOMMUFD_CMD_BASE - 1))).toBe('ENOTTY');
    expect(n(ioctlNrCheck(0xff))).toBe('ENOTTY');
    for (const c of Object.values(IOMMUFD_CMDS)) expect(ioctlNrCheck(c.nr)).toBe(0);
  });

  // The structs cmd_length lists, with the member TEST_LENGTH names as the last mandatory one.
  it.each([
    ['destroy', 8],
    ['get-hw-info', 28],
    ['hwpt-alloc', 24],
    ['ioas-alloc', 12],
    ['ioas-iova-ranges', 32],
    ['ioas-allow-iovas', 24],
    ['ioas-map', 40],
    ['ioas-copy', 40],
    ['ioas-unmap', 24],
    ['option', 24],
    ['vfio-ioas', 12],
  ] as const)('cmd_length %s: min %i; min - 1 → EINVAL; size + 1 with a non-zero byte → E2BIG; with a zero byte → as the exact size', (op, min) => {
    const c = IOMMUFD_CMDS[op];
    expect(c.minSize).toBe(min);
    expect(n(ucmdSizeCheck(c, min - 1))).toBe('EINVAL');
    expect(n(ucmdSizeCheck(c, c.size + 1, true))).toBe('E2BIG');
    expect(ucmdSizeCheck(c, c.size + 1, false)).toBe(ucmdSizeCheck(c, c.size));
    expect(ucmdSizeCheck(c, c.size)).toBe(0);
  });

  it('cmd_ex_fail: IOMMU_DESTROY with an 8-byte zero tail → the handler (ENOENT for id 0); non-zero tail → E2BIG; exact → ENOENT; one byte short → EINVAL', () => {
    const c = IOMMUFD_CMDS.destroy;
    const fd = new Iommufd();
    const call = (size: number, tail: boolean) => {
      const rc = ucmdSizeCheck(c, size, tail);
      return n(rc !== 0 ? rc : fd.destroy(0));
    };
    expect(call(16, false)).toBe('ENOENT');
    expect(call(16, true)).toBe('E2BIG');
    expect(call(8, false)).toBe('ENOENT');
    expect(call(7, false)).toBe('EINVAL');
  });
});
