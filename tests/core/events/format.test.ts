import { describe, expect, test } from 'vitest';
import { bdfToString, formatEvent, parseBdf } from '../../../core/events/format.ts';

describe('PCI addresses', () => {
  test('round-trip', () => {
    expect(parseBdf('00:03.0')).toBe(0x18);
    expect(parseBdf('ff:1f.7')).toBe(0xffff);
    expect(parseBdf('0A:01.2')).toBe(0x0a0a);
    expect(bdfToString(0x18)).toBe('00:03.0');
    expect(bdfToString(0xffff)).toBe('ff:1f.7');
    expect(bdfToString(0)).toBe('00:00.0');
    for (const id of [0, 1, 0x18, 0x100, 0x1234, 0xffff]) expect(parseBdf(bdfToString(id))).toBe(id);
  });
  test('rejects malformed text and shows non-requester IDs as #n', () => {
    for (const s of ['', '00:20.0', '00:03.8', '000:03.0', '00-03.0', 'nic0']) expect(parseBdf(s)).toBeNull();
    expect(bdfToString(0x10000)).toBe('#65536');
  });
});

describe('formatEvent', () => {
  test('the examples from the issue', () => {
    expect(formatEvent('map', { domain: 1, virtStart: 0n, virtEnd: 9n, physStart: 0xc1000n, flags: 1 })).toBe('MAP domain=1 [0x0-0x9] -> 0xc1000 R');
    expect(formatEvent('fault', { reason: 2, flags: 0x101, endpoint: 0x18, address: 4n })).toBe('FAULT MAPPING ep=00:03.0 addr=0x4 flags=R|ADDRESS');
    expect(formatEvent('request', { reqType: 3, status: 5, domain: 1, used: 4 })).toBe('REQUEST MAP → RANGE (used 4)');
  });
  test('u64 fields as bigint or "0x…" strings give the same text', () => {
    const a = formatEvent('map', { domain: 7, virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn, physStart: 0x1000n, flags: 7 });
    const b = formatEvent('map', { domain: 7, virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0x1000', flags: 7 });
    expect(a).toBe('MAP domain=7 [0xfffffffffffff000-0xffffffffffffffff] -> 0x1000 RWM');
    expect(b).toBe(a);
  });
  test('every other kind', () => {
    expect(formatEvent('request', { reqType: 0x42, used: 0 })).toBe('REQUEST UNKNOWN(66) → UNWRITTEN (used 0)');
    expect(formatEvent('features', { offered: (1n << 32n) | 0x77n, accepted: (1n << 32n) | 0x77n })).toBe(
      'FEATURES offered=0x100000077 accepted=0x100000077 (INPUT_RANGE,DOMAIN_RANGE,MAP_UNMAP,PROBE,MMIO,BYPASS_CONFIG,VERSION_1)',
    );
    expect(formatEvent('attach', { domain: 1, endpoint: 0x18 })).toBe('ATTACH ep=00:03.0 domain=1');
    expect(formatEvent('detach', { domain: 1, endpoint: 0x18, implicit: 1 })).toBe('DETACH ep=00:03.0 domain=1 (implicit)');
    expect(formatEvent('domain-alloc', { domain: 5, bypass: 1 })).toBe('DOMAIN ALLOC domain=5 bypass');
    expect(formatEvent('domain-free', { domain: 5, mappings: 2 })).toBe('DOMAIN FREE domain=5 (2 mappings)');
    expect(formatEvent('endpoint-alloc', { endpoint: 0 })).toBe('ENDPOINT ALLOC ep=00:00.0');
    expect(formatEvent('unmap', { domain: 1, virtStart: '0x0', virtEnd: '0x9', physStart: '0xc1000', flags: 3 })).toBe('UNMAP domain=1 [0x0-0x9] (was -> 0xc1000 RW)');
    expect(formatEvent('probe', { endpoint: 0x18, status: 0, regions: [{ subtype: 1, start: '0xfee00000', end: '0xfeefffff' }] })).toBe(
      'PROBE ep=00:03.0 → OK: MSI [0xfee00000-0xfeefffff]',
    );
    expect(formatEvent('translate', { endpoint: 0x18, domain: 1, iova: 4n, phys: 0xc1004n, size: 4n, access: 1, path: 0 })).toBe('TRANSLATE ep=00:03.0 0x4 -> 0xc1004 read 4B domain=1');
    expect(formatEvent('translate', { endpoint: 0x18, iova: '0xfee00000', phys: '0xfee00000', size: '0x4', access: 2, path: 2 })).toBe(
      'TRANSLATE ep=00:03.0 0xfee00000 -> 0xfee00000 write 4B (MSI window, identity)',
    );
    expect(formatEvent('config-read', { config: { pageSizeMask: '0xfffffffffffff000', inputRange: ['0x0', '0xffffffffff'], domainRange: [0, 4294967295], probeSize: 512, bypass: 1 } })).toBe(
      'CONFIG READ page_size_mask=0xfffffffffffff000 input_range=[0x0-0xffffffffff] domain_range=[0-4294967295] probe_size=512 bypass=1',
    );
    expect(formatEvent('config-write', { bypass: 0, accepted: 1 })).toBe('CONFIG WRITE bypass=0 (accepted)');
    expect(formatEvent('device-error', { message: { message: 'virtio-iommu bad head/tail size' } })).toBe('DEVICE ERROR virtio-iommu bad head/tail size');
    expect(formatEvent('reset', { system: 1 })).toBe('RESET system');
    expect(formatEvent('expectation', { held: 0, detail: { expected: 'OK', actual: 'RANGE', message: 'expected status OK, got RANGE' } })).toBe('EXPECT FAILED: expected status OK, got RANGE');
    expect(formatEvent('mystery', { a: 1n, b: 'x' })).toBe('mystery a=0x1 b=x');
  });
});
