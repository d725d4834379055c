/**
 * strerror(3) texts of the errnos the backends return (glibc's messages), for QEMU's `%m` and
 * error_setg_errno texts (QEMU appends ": <strerror>").
 */
import { ERRNO, errnoName } from '../errno.ts';

const TEXT: Readonly<Record<number, string>> = {
  [ERRNO.EPERM]: 'Operation not permitted',
  [ERRNO.ENOENT]: 'No such file or directory',
  [ERRNO.EIO]: 'Input/output error',
  [ERRNO.ENXIO]: 'No such device or address',
  [ERRNO.E2BIG]: 'Argument list too long',
  [ERRNO.EBADF]: 'Bad file descriptor',
  [ERRNO.EAGAIN]: 'Resource temporarily unavailable',
  [ERRNO.ENOMEM]: 'Cannot allocate memory',
  [ERRNO.EACCES]: 'Permission denied',
  [ERRNO.EFAULT]: 'Bad address',
  [ERRNO.EBUSY]: 'Device or resource busy',
  [ERRNO.EEXIST]: 'File exists',
  [ERRNO.ENODEV]: 'No such device',
  [ERRNO.EINVAL]: 'Invalid argument',
  [ERRNO.ENOTTY]: 'Inappropriate ioctl for device',
  [ERRNO.ENOSPC]: 'No space left on device',
  [ERRNO.ERANGE]: 'Numerical result out of range',
  [ERRNO.EOVERFLOW]: 'Value too large for defined data type',
  [ERRNO.EMSGSIZE]: 'Message too long',
  [ERRNO.EOPNOTSUPP]: 'Operation not supported',
  [ERRNO.EADDRINUSE]: 'Address already in use',
};

/** glibc's strerror text of `errno` ("Invalid argument"); "Unknown error N" otherwise; "Success" for 0. */
export function strerror(errno: number): string {
  if (errno === 0) return 'Success';
  return TEXT[errno] ?? `Unknown error ${errno} (${errnoName(errno)})`;
}
