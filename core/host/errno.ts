/**
 * Linux errno values the host backends return (include/uapi/asm-generic/errno-base.h and
 * errno.h, x86-64/arm64 numbering). A backend operation returns 0 or one of these, never throws
 * (DESIGN.md §2: "a backend offers its uAPI operations returning an errno or 0"). The same errno
 * always means the same kind of problem (../../../shared/reference/iommufd-vfio-hostiommu.md §1.2).
 */
export const ERRNO = {
  OK: 0,
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  /** EDEADLK (EDEADLOCK on x86/arm64): IOAS_UNMAP when an access never unpins (§2.3). */
  EDEADLK: 35,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
} as const;

/** An errno name ("EINVAL"), or "OK" for success. */
export type ErrnoName = keyof typeof ERRNO;
/** 0 (success) or a positive Linux errno value. */
export type Errno = (typeof ERRNO)[ErrnoName];

const NAME_OF = new Map<number, ErrnoName>(Object.entries(ERRNO).map(([k, v]) => [v, k as ErrnoName]));

/** The name of an errno value ("EINVAL"; "OK" for 0); unknown values read "E<n>". */
export function errnoName(e: number): string {
  return NAME_OF.get(e) ?? `E${e}`;
}

/** The errno value of a name ("EINVAL" → 22, "OK" → 0), or undefined for an unknown name. */
export function errnoOf(name: string): Errno | undefined {
  return Object.hasOwn(ERRNO, name) ? ERRNO[name as ErrnoName] : undefined;
}

/** glibc strerror(3) texts of the errnos the backends return (string/_strerror.c, sysdeps errlist). */
const STRERROR: Readonly<Record<number, string>> = {
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
  [ERRNO.EDEADLK]: 'Resource deadlock avoided',
  [ERRNO.EOVERFLOW]: 'Value too large for defined data type',
  [ERRNO.EMSGSIZE]: 'Message too long',
  [ERRNO.EOPNOTSUPP]: 'Operation not supported',
  [ERRNO.EADDRINUSE]: 'Address already in use',
};

/**
 * strerror(errno) as glibc prints it (QEMU's `%m`, error_setg_errno's ": <text>"): "Success" for
 * 0, "Unknown error N" for values it has no text for (glibc's own wording).
 */
export function strerror(errno: number): string {
  if (errno === 0) return 'Success';
  return STRERROR[errno] ?? `Unknown error ${errno}`;
}
