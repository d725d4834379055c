import { describe, expect, test } from 'vitest';
import { completionSite, declaredDevices, usedDomains, MAX_SUGGESTIONS } from '../../../renderer/src/editor/completion.ts';

const DOC = `name: t
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
  - name: gpu.1
    bdf: 01:00.0   # a comment
  # a comment line inside the block
  - {name: Disk_2-a, bdf: "ff:1f.7"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - attach:
      domain: 0x10
      endpoint: gpu.1
  - map: {domain: 1, virt-start: 0, virt-end: 0xfff, phys-start: 0, flags: [read]}
  - detach: {domain: 16, endpoint: nic0}
  - attach: {domain: 7, endpoint: "ff:1f.7"}
`;

describe('completionSite', () => {
  test.each([
    ['  - attach: {domain: 1, endpoint: ', 'endpoint', '', 35],
    ['  - attach: {domain: 1, endpoint: ni', 'endpoint', 'ni', 35],
    ['  - attach: {domain: 1', 'domain', '1', 22],
    ['  - endpoint: nic', 'endpoint', 'nic', 15],
    ['      endpoint: "gp', 'endpoint', 'gp', 18],
    ['      endpoint: gpu.', 'endpoint', 'gpu.', 17],
    ['  - map: {domain: ', 'domain', '', 19],
    ['      domain: 0x', 'domain', '0x', 15],
  ])('%j → %s after %j', (line, kind, prefix, startColumn) => {
    expect(completionSite(line)).toEqual({ kind, prefix, startColumn, endColumn: line.length + 1 });
  });

  test.each([
    ['  - attach: {domain: 1, endpoint: nic0, '],
    ['      endpoint:'], // no space yet: the key is still being typed
    ['  # endpoint: '],
    ['  - probe: {my-endpoint: '],
    ['name: endpoint: '],
  ])('%j is not a site', (line) => {
    expect(completionSite(line)).toBeNull();
  });
});

describe('declaredDevices', () => {
  test('names, PCI addresses and lines of the devices block, flow and block style', () => {
    expect(declaredDevices(DOC)).toEqual([
      { name: 'nic0', bdf: '00:03.0', line: 4 },
      { name: 'gpu.1', bdf: '01:00.0', line: 5 },
      { name: 'Disk_2-a', bdf: 'ff:1f.7', line: 8 },
    ]);
  });

  test('a block the user is in the middle of editing still gives the entries found', () => {
    const broken = DOC.replace('  - name: gpu.1\n', '  - name: gpu.1\n   - {oops\n');
    expect(declaredDevices(broken).map((d) => d.name)).toEqual(['nic0', 'gpu.1', 'Disk_2-a']);
  });

  test('no devices block, or an empty one', () => {
    expect(declaredDevices('name: t\nsteps: []\n')).toEqual([]);
    expect(declaredDevices('name: t\ndevices: []\nsteps: []\n')).toEqual([]);
  });

  test('a flow list', () => {
    expect(declaredDevices('devices: [{name: a, bdf: "00:01.0"}, {name: b, bdf: "00:02.0"}]\nsteps: []\n').map((d) => d.name)).toEqual(['a', 'b']);
  });
});

describe('usedDomains', () => {
  test('distinct IDs as first written, with their first line (0x10 and 16 are one domain)', () => {
    expect(usedDomains(DOC)).toEqual([
      { id: '1', line: 10 },
      { id: '0x10', line: 12 },
      { id: '7', line: 16 },
    ]);
  });

  test('at most MAX_SUGGESTIONS, found in one pass over a big document', () => {
    const steps = Array.from({ length: 50_000 }, (_, i) => `  - attach: {domain: ${i}, endpoint: 0}`).join('\n');
    const found = usedDomains(`steps:\n${steps}\n`);
    expect(found).toHaveLength(MAX_SUGGESTIONS);
    expect(found[0]).toEqual({ id: '0', line: 2 });
    expect(found[MAX_SUGGESTIONS - 1]).toEqual({ id: String(MAX_SUGGESTIONS - 1), line: MAX_SUGGESTIONS + 1 });
  });
});
