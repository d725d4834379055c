import { describe, expect, test } from 'vitest';
import { resolveEndpointRef } from '../../../core/scenario/endpoint-ref.ts';
import { parseScenario } from '../../../core/scenario/index.ts';

const DEVICES = [
  { name: 'nic0', endpoint: 0x18 }, // 00:03.0
  { name: 'gpu', endpoint: 0x0120 }, // 01:04.0
  { name: 'Disk_1.a-b', endpoint: 0xff07 }, // ff:00.7
];

describe('resolveEndpointRef', () => {
  test.each([
    ['nic0', 0x18, 'nic0'],
    ['  gpu ', 0x120, 'gpu'],
    ['Disk_1.a-b', 0xff07, 'Disk_1.a-b'],
    ['00:03.0', 0x18, 'nic0'],
    ['0:3.0', 0x18, 'nic0'],
    ['FF:00.7', 0xff07, 'Disk_1.a-b'],
    ['01:04.0', 0x120, 'gpu'],
    ['24', 0x18, 'nic0'],
    ['0x18', 0x18, 'nic0'],
    ['0X120', 0x120, 'gpu'],
    ['00:00.0', 0, null],
    ['0', 0, null],
    ['0x1f:1f.7', null, null],
    ['4294967295', 0xffffffff, null],
    ['0xffffffff', 0xffffffff, null],
    ['00:1f.7', 0xff, null],
  ])('%j → %s', (text, endpoint, device) => {
    const r = resolveEndpointRef(text, DEVICES);
    if (endpoint === null) {
      expect(r.ok).toBe(false);
      return;
    }
    expect(r).toEqual({ ok: true, endpoint, device: device === null ? null : DEVICES.find((d) => d.name === device) });
  });

  test('an unknown name lists the declared devices with their PCI addresses', () => {
    expect(resolveEndpointRef('nic1', DEVICES)).toEqual({
      ok: false,
      message: 'unknown endpoint "nic1"; devices: nic0 (00:03.0), gpu (01:04.0), Disk_1.a-b (ff:00.7), or write a PCI address "bb:dd.f" or an endpoint ID',
    });
    expect(resolveEndpointRef('nic1', [])).toEqual({
      ok: false,
      message: 'unknown endpoint "nic1"; the scenario declares no devices, or write a PCI address "bb:dd.f" or an endpoint ID',
    });
  });

  test('names are case-sensitive, with a hint', () => {
    const r = resolveEndpointRef('NIC0', DEVICES);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain('names are case-sensitive: did you mean "nic0"?');
  });

  test.each([
    ['', 'endpoint is empty'],
    ['   ', 'endpoint is empty'],
    ['4294967296', 'endpoint ID 4294967296 is above 0xffffffff'],
    ['0x100000000', 'endpoint ID 0x100000000 is above 0xffffffff'],
    ['00:20.0', '"00:20.0" is not an endpoint'], // device 0x20 > 0x1f
    ['00:03.8', '"00:03.8" is not an endpoint'],
    ['-1', '"-1" is not an endpoint'],
    ['1.5', '"1.5" is not an endpoint'],
    ['0x', '"0x" is not an endpoint'],
  ])('%j is a problem: %s', (text, message) => {
    const r = resolveEndpointRef(text, DEVICES);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain(message);
  });

  test("accepts a parsed scenario's devices as they are", () => {
    const { scenario } = parseScenario('name: t\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps: []\n', 's.yaml');
    expect(scenario).toBeDefined();
    expect(resolveEndpointRef('nic0', scenario!.devices)).toMatchObject({ ok: true, endpoint: 0x18, device: { name: 'nic0', bdf: '00:03.0' } });
  });
});
