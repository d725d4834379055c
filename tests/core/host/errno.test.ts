import { describe, expect, it } from 'vitest';
import { ERRNO, errnoName, errnoOf, strerror } from '../../../core/host/errno.ts';

describe('errno table', () => {
  it('has the Linux values the backends return (asm-generic/errno-base.h, errno.h)', () => {
    expect(ERRNO).toMatchObject({ EPERM: 1, ENOENT: 2, E2BIG: 7, EBADF: 9, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOTTY: 25, ENOSPC: 28, EDEADLK: 35, EOVERFLOW: 75, EMSGSIZE: 90, EOPNOTSUPP: 95, EADDRINUSE: 98 });
  });
  it('holds every errno name issue 7 §3 lists', () => {
    for (const n of ['EINVAL', 'ENOENT', 'EEXIST', 'EBUSY', 'ENOSPC', 'EADDRINUSE', 'EOPNOTSUPP', 'EOVERFLOW', 'EMSGSIZE', 'EFAULT', 'EPERM', 'ENODEV', 'E2BIG', 'EBADF']) expect(errnoOf(n), n).toBeGreaterThan(0);
  });
  it('names values both ways', () => {
    expect(errnoName(0)).toBe('OK');
    expect(errnoName(98)).toBe('EADDRINUSE');
    expect(errnoName(4)).toBe('E4');
    expect(errnoOf('EBUSY')).toBe(16);
    expect(errnoOf('toString')).toBeUndefined();
  });
});

describe('strerror: glibc texts, one table for the backends and the shadow', () => {
  it('known, success and unknown values', () => {
    expect(strerror(ERRNO.EINVAL)).toBe('Invalid argument');
    expect(strerror(ERRNO.EDEADLK)).toBe('Resource deadlock avoided');
    expect(strerror(0)).toBe('Success');
    expect(strerror(200)).toBe('Unknown error 200');
  });
});
