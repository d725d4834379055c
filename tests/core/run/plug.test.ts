/**
 * The runner's plug hook (core/run/plug.ts) with the vfio-pci plug sequence: coldplug at start
 * (a failure fails the run with QEMU's "-device …: vfio …: Failed to set vIOMMU: …"), device-add
 * as a step outcome, intel-iommu's caching-mode rule, shadowing of guest requests tied to them.
 */
import { describe, expect, it } from 'vitest';
import { runScenarioText } from '../../../core/run/index.ts';

const HOST = `host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}
    - {name: vf1, bdf: "0000:3c:00.0", type: vfio-pci, iommu: dmar0}
`;

function run(body: string) {
  const r = runScenarioText(`name: t\nmachine: q35\n${HOST}${body}`, 't.yaml');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.run!;
}

/** QEMU's startup failure of the scenario (ScenarioRun.failure), or null when it started. */
function start(body: string): string | null {
  return run(body).failure;
}

describe('coldplug', () => {
  it('a vIOMMU refusal fails the run with QEMU\'s startup message', () => {
    expect(start('viommu: {model: intel-iommu, aw-bits: 48, caching-mode: true}\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps: []\n')).toBe(
      '-device vfio-pci,host=0000:3b:00.0,id=nic0: vfio 0000:3b:00.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 39',
    );
  });

  it('a run that fails to start runs no step and keeps the events up to the failure', () => {
    const r = run('viommu: {model: intel-iommu, aw-bits: 48, caching-mode: true}\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps:\n  - host-dma: {device: vf0, iova: 0x1000, size: 8, access: read}\n');
    expect(r.finished).toBe(true);
    expect(r.advance(100)).toBe(false);
    expect(r.stepResults()).toEqual([]);
    const kinds = r.takeEvents().map((e) => e.kind);
    expect(kinds).toContain('set-iommu-device');
    expect(kinds.at(-1)).toBe('device-plug');
  });

  it('intel-iommu without caching-mode and an assigned device: QEMU exits at machine init', () => {
    expect(start('viommu: {model: intel-iommu, aw-bits: 39}\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps: []\n')).toBe(
      'We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.',
    );
    expect(start('viommu: {model: intel-iommu, aw-bits: 39, caching-mode: true}\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps: []\n')).toBeNull();
  });

  it('the machine shows the assigned device and its HostIOMMUDevice by layer', () => {
    const r = run('devices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps: []\n');
    expect(r.machine.components().map((c) => [c.id, c.layer, c.kind])).toEqual([
      ['dmar0', 'iommu', 'intel-vtd'], ['iommufd0', 'backend', 'iommufd'], ['viommu0', 'viommu', 'virtio-iommu'],
      ['nic0', 'guest', 'vfio-pci'], ['hiod-nic0', 'host-iommu-device', 'host-iommu-device-iommufd-vfio'],
    ]);
  });
});

describe('device-add and shadowing', () => {
  it('device-add is a step outcome; a second device on virtio-iommu after the granule froze works with a 4K host', () => {
    const r = run('devices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\n  - {name: nic1, bdf: "00:04.0", host: vf1}\nsteps:\n  - device-add: {device: nic1}\n    expect: OK\n');
    while (r.advance(100)) r.takeEvents();
    expect(r.stepResults()[0]).toMatchObject({ status: 'OK', expectation: true });
  });

  it('a guest MAP becomes an IOAS_MAP whose cause is the guest map event; its failure is reported with the same cause', () => {
    const r = run(
      'devices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps:\n  - attach: {domain: 1, endpoint: nic0}\n  - map: {domain: 1, virt-start: 0x8000000000, virt-end: 0x8000000fff, phys-start: 0x1000, flags: [read]}\n    expect: OK\n',
    );
    r.takeEvents();
    while (r.advance(100));
    const ev = r.takeEvents();
    const map = ev.find((e) => e.kind === 'map')!;
    const caused = ev.filter((e) => (e as { cause?: bigint }).cause === BigInt(map.seq)).map((e) => e.kind);
    expect(caused).toEqual(['host-call', 'qemu-error', 'qemu-error']);
    expect(r.stepResults()[1]).toMatchObject({ status: 'OK', expectation: true });
  });

  it('legacy VFIO: VFIO_MAP_DMA per aligned block, read-only without WRITE, no backend report before the listener\'s', () => {
    const r = run(
      'backend: vfio-type1\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps:\n  - attach: {domain: 1, endpoint: nic0}\n' +
        '  - map: {domain: 1, virt-start: 0x100000, virt-end: 0x102fff, phys-start: 0x40000000, flags: [read]}\n' +
        '  - map: {domain: 1, virt-start: 0x8000000000, virt-end: 0x8000000fff, phys-start: 0x1000, flags: [read, write]}\n' +
        '  - host-dma: {device: vf0, iova: 0x101000, size: 8, access: write}\n    expect: {fault: {reason: write-denied}}\n',
    );
    r.takeEvents();
    while (r.advance(100));
    const ev = r.takeEvents() as unknown as Array<{ kind: string; call?: { ioctl: string; args: Record<string, unknown> }; errno?: number; data?: { message: string } }>;
    const calls = ev.filter((e) => e.kind === 'host-call').map((e) => [e.call!.ioctl, e.call!.args.iova, e.call!.args.size, e.call!.args.flags, e.errno]);
    expect(calls).toEqual([
      ['VFIO_IOMMU_MAP_DMA', '0x100000', '0x2000', 1, 0],
      ['VFIO_IOMMU_MAP_DMA', '0x102000', '0x1000', 1, 0],
      ['VFIO_IOMMU_MAP_DMA', '0x8000000000', '0x1000', 3, 22],
    ]);
    expect(ev.filter((e) => e.kind === 'qemu-error').map((e) => e.data!.message)).toEqual([
      'vfio_container_dma_map(0x555555551000, 0x8000000000, 0x1000, 0x7f0000001000) = -22 (Invalid argument)',
    ]);
    expect(r.stepResults()[3]).toMatchObject({ expectation: true });
  });
});

describe('intel-iommu x-flts host checks (vtd_check_hiod_accel) in runs', () => {
  const host = (model: string, aw = 48) =>
    `name: t\nmachine: q35\nhost:\n  iommus:\n    - {name: m0, model: ${model}, aw-bits: ${aw}}\n  devices:\n    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: m0}\n`;
  const flts = 'viommu: {model: intel-iommu, x-scalable-mode: true, x-flts: true, caching-mode: true}\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps: []\n';
  const startFail = (text: string): string | null => {
    const r = runScenarioText(text, 't.yaml');
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return r.run!.failure;
  };

  it('a 48-bit VT-d host through iommufd passes; legacy VFIO and a non-VT-d host are refused with QEMU\'s texts', () => {
    expect(startFail(host('intel-vtd') + flts)).toBeNull();
    expect(startFail(host('intel-vtd') + 'backend: vfio-type1\n' + flts)).toBe('-device vfio-pci,host=0000:3b:00.0,id=nic0: vfio 0000:3b:00.0: Failed to set vIOMMU: Need IOMMUFD backend when x-flts=on');
    expect(startFail(host('arm-smmuv3') + flts)).toBe('-device vfio-pci,host=0000:3b:00.0,id=nic0: vfio 0000:3b:00.0: Failed to set vIOMMU: Incompatible host platform IOMMU type 2');
    // x-flts without x-scalable-mode: intel-iommu's own realize fails first.
    expect(startFail(host('intel-vtd') + flts.replace('x-scalable-mode: true, ', ''))).toBe('viommu0: x-flts is only available in scalable mode');
  });
});

describe('intel-iommu scenarios', () => {
  it('virtio-iommu steps are diagnostics at their node, not run failures', () => {
    const text = 'name: t\nviommu: {model: intel-iommu}\ndevices:\n  - {name: d, bdf: "00:03.0"}\nsteps:\n  - attach: {domain: 1, endpoint: d}\n  - dma: {endpoint: d, addr: 0x1000, size: 4, access: read}\n    expect: bypass\n  - reset: system\n    expect: {bypass: 1}\n';
    const r = runScenarioText(text, 't.yaml');
    expect(r.run).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.line, d.message])).toEqual([
      [6, 'steps.0.attach: attach is a virtio-iommu step; this scenario\'s vIOMMU is intel-iommu (realize-level: dma, reset, device-add and the host steps apply)'],
      [10, "steps.2.expect: a reset's expect reads virtio-iommu's config space; this scenario's vIOMMU is intel-iommu (realize-level: dma, reset, device-add and the host steps apply)"],
    ]);
  });
});

