/**
 * The kernel log importer (core/import/kmsg.ts, kmsg-lines.ts): every line layout (dmesg with and
 * without timestamps, dmesg -r / -T, journalctl short and short-iso, syslog files), every era of
 * the VT-d DMAR fault line, AMD-Vi IO_PAGE_FAULT in both print forms and the old two-line split,
 * SMMUv3 raw and decoded events, arm-smmu context faults, virtio-iommu guest faults, "Using N-bit
 * DMA addresses" and group lines; malformed lines of known events, unknown lines, isLineStart and
 * detection against the other formats.
 *
 * Every line is written from the format strings in ../../../../shared/reference/trace-formats-and-guest-dma.md
 * part A1b (and virtio-iommu.md for the guest driver), not pasted from real logs.
 */
import { describe, expect, it } from 'vitest';
import { KmsgImporter } from '../../../core/import/kmsg.ts';
import type { LineResult, TraceEvent } from '../../../core/import/types.ts';

/** The events of `line` parsed by a fresh importer (fails the test when it is not an event line). */
function events(line: string, imp = new KmsgImporter()): readonly TraceEvent[] {
  const r = imp.parse(line);
  if (r.t !== 'event') throw new Error(`expected events from ${JSON.stringify(line)}, got ${JSON.stringify(r)}`);
  return r.events;
}
/** The one event of `line`. */
function one(line: string, imp = new KmsgImporter()): TraceEvent {
  const evs = events(line, imp);
  expect(evs).toHaveLength(1);
  return evs[0]!;
}
/** The error message of `line`. */
function error(line: string, imp = new KmsgImporter()): string {
  const r = imp.parse(line);
  if (r.t !== 'error') throw new Error(`expected an error from ${JSON.stringify(line)}, got ${r.t}`);
  return r.message;
}
function kind(line: string, imp = new KmsgImporter()): LineResult['t'] {
  return imp.parse(line).t;
}

const DMAR_CURRENT =
  'DMAR: [DMA Write NO_PASID] Request device [0000:3b:00.0] fault addr 0xfee00000 [fault reason 0x05] PTE Write access is not set';

describe('line prefixes and times', () => {
  it('dmesg [sec.usec]: time in ns, exact (two integer parts, no float rounding)', () => {
    expect(one(`[    6.849292] ${DMAR_CURRENT}`).time).toBe(6_849_292_000);
    // 0.1 + 0.2-style rounding would show here: 8.000003 s as a float times 1e9 is 8000002999.999999.
    expect(one(`[    8.000003] ${DMAR_CURRENT}`).time).toBe(8_000_003_000);
    expect(one(`[12345.678901] ${DMAR_CURRENT}`).time).toBe(12_345_678_901_000);
  });

  it('dmesg without timestamps: no time; dmesg -r <N>: the level is skipped', () => {
    const ev = one(DMAR_CURRENT);
    expect(ev.time).toBeUndefined();
    expect(ev.kind).toBe('trace-fault');
    expect(one(`<3>[    1.500000] ${DMAR_CURRENT}`).time).toBe(1_500_000_000);
  });

  it('dmesg -T: the printed wall clock read as UTC, ns since the trace\'s origin second (timeOrigin)', () => {
    const imp = new KmsgImporter();
    expect(imp.timeOrigin()).toBeNull();
    expect(one(`[Tue Dec  1 08:13:00 2026] ${DMAR_CURRENT}`, imp).time).toBe(0);
    expect(imp.timeOrigin()).toBe(Date.UTC(2026, 11, 1, 8, 13, 0) / 1000);
    expect(one(`[Tue Dec  1 08:14:01 2026] ${DMAR_CURRENT}`, imp).time).toBe(61e9);
  });

  it('journalctl short (no year): no time, the date kept in data.date', () => {
    const ev = one(`Dec 01 08:13:00 host kernel: ${DMAR_CURRENT}`);
    expect(ev.time).toBeUndefined();
    expect((ev.data as { date: string }).date).toBe('Dec 01 08:13:00');
    expect((one(`Dec  1 08:13:00 host kernel: ${DMAR_CURRENT}`).data as { date: string }).date).toBe('Dec  1 08:13:00');
  });

  it('journalctl -o short-iso: ns since the origin second, exact, with the zone offset and a fraction', () => {
    const imp = new KmsgImporter();
    expect(one(`2026-12-01T08:13:00+0000 host kernel: ${DMAR_CURRENT}`, imp).time).toBe(0);
    expect(imp.timeOrigin()).toBe(Date.UTC(2026, 11, 1, 8, 13, 0) / 1000);
    expect(one(`2026-12-01T09:13:00+01:00 host kernel: ${DMAR_CURRENT}`, imp).time).toBe(0);
    expect(one(`2026-12-01T03:13:00-0500 host kernel: ${DMAR_CURRENT}`, imp).time).toBe(0);
    expect(one(`2026-12-01T08:13:00.500001Z host kernel: ${DMAR_CURRENT}`, imp).time).toBe(500_001_000);
    // A dmesg log (boot clock) has no wall-clock origin.
    const boot = new KmsgImporter();
    expect(one(`[   42.000010] ${DMAR_CURRENT}`, boot).time).toBe(42_000_010_000);
    expect(boot.timeOrigin()).toBeNull();
  });

  it('syslog file with the dmesg time after kernel: uses the kernel time', () => {
    const ev = one(`Dec  1 08:13:00 host kernel: [   42.000010] ${DMAR_CURRENT}`);
    expect(ev.time).toBe(42_000_010_000);
    expect((ev.data as { date?: string }).date).toBeUndefined();
  });

  it('journalctl -o short-monotonic and dmesg -x', () => {
    expect(one(`[    7.000001] host kernel: ${DMAR_CURRENT}`).time).toBe(7_000_001_000);
    expect(one(`kern  :err   : [    7.000002] ${DMAR_CURRENT}`).time).toBe(7_000_002_000);
    expect(kind('[    7.000003] host systemd[1]: Started foo.service.')).toBe('unknown');
    expect(kind('daemon:info  : [    7.000004] DMAR: DRHD: handling fault status reg 2')).toBe('unknown');
  });

  it('journalctl headers and blank lines are headers; other programs are unknown', () => {
    const imp = new KmsgImporter();
    expect(kind('-- Logs begin at Tue 2026-12-01 08:00:00 UTC, end at Tue 2026-12-01 09:00:00 UTC. --', imp)).toBe('header');
    expect(kind('-- Boot 3f2c0e5a1b --', imp)).toBe('header');
    expect(kind('', imp)).toBe('header');
    expect(kind('   ', imp)).toBe('header');
    expect(kind('Dec 01 08:13:00 host qemu-system-x86_64[1234]: virtio_iommu_attach domain=1 endpoint=8', imp)).toBe('unknown');
    expect(kind('2026-12-01T08:13:00+0000 host systemd[1]: Started foo.service.', imp)).toBe('unknown');
  });

  it('other kernel lines are unknown (listed, never dropped)', () => {
    expect(kind('[    0.000000] Linux version 6.8.0 (gcc) #1 SMP')).toBe('unknown');
    expect(kind('[    0.145769] DMAR: IOMMU enabled')).toBe('unknown');
    expect(kind('[    0.150000] DMAR: [Firmware Bug]: No firmware reserved region can cover this RMRR')).toBe('unknown');
    expect(kind('[    0.150000] AMD-Vi: Interrupt remapping enabled')).toBe('unknown');
    expect(kind('[    1.000000] e1000e 0000:00:19.0: eth0: Link is Up')).toBe('unknown');
  });
});

describe('VT-d DMAR faults, every era (dmar.c dmar_fault_do_one)', () => {
  it('current: segment, NO_PASID, hex reason', () => {
    const ev = one(`[   12.000001] ${DMAR_CURRENT}`);
    expect(ev).toEqual({
      kind: 'trace-fault',
      time: 12_000_001_000,
      address: 0xfee00000n,
      access: 2,
      reason: 5,
      endpoint: (0x3b << 8) | (0 << 3) | 0,
      data: { event: 'DMAR', device: '0000:3b:00.0', segment: 0, type: 'DMA Write', noPasid: true, reasonText: 'PTE Write access is not set' },
    });
  });

  it('current: PASID 0x%x, DMA Read, endpoint = bus<<8 | dev<<3 | fn, a non-zero segment', () => {
    const ev = one('DMAR: [DMA Read PASID 0x1f] Request device [0001:00:1f.7] fault addr 0x7fffe000 [fault reason 0x06] PTE Read access is not set');
    expect(ev).toMatchObject({ kind: 'trace-fault', address: 0x7fffe000n, access: 1, reason: 6, endpoint: (0x1f << 3) | 7 });
    expect(ev.data).toEqual({ event: 'DMAR', device: '0001:00:1f.7', segment: 1, type: 'DMA Read', pasid: 0x1f, reasonText: 'PTE Read access is not set' });
  });

  it('current: INTR-REMAP has no address, the index in data', () => {
    const ev = one('DMAR: [INTR-REMAP] Request device [0000:f0:1f.0] fault index 0x1c [fault reason 0x25] Blocked a compatibility format interrupt request');
    expect(ev).toEqual({
      kind: 'trace-fault',
      access: 0,
      reason: 0x25,
      endpoint: (0xf0 << 8) | (0x1f << 3),
      data: { event: 'DMAR', device: '0000:f0:1f.0', segment: 0, type: 'INTR-REMAP', index: '0x1c', reasonText: 'Blocked a compatibility format interrupt request' },
    });
    expect('address' in ev).toBe(false);
  });

  it('~5.10 → 6.x: [%02x:%02x.%d] without a segment', () => {
    const ev = one('DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x12345000 [fault reason 0x06] PTE Read access is not set');
    expect(ev).toMatchObject({ address: 0x12345000n, access: 1, reason: 6, endpoint: 0x10 });
    expect(ev.data).toEqual({ event: 'DMAR', device: '00:02.0', type: 'DMA Read', noPasid: true, reasonText: 'PTE Read access is not set' });
  });

  it('the short-lived [0x%02x:0x%02x.%d] variant', () => {
    const ev = one('DMAR: [DMA Write NO_PASID] Request device [0x00:0x02.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set');
    expect(ev).toMatchObject({ address: 0x1000n, access: 2, reason: 5, endpoint: 0x10 });
    expect((ev.data as { device: string }).device).toBe('00:02.0');
  });

  it('older: PASID %x, address without 0x, reason %02d DECIMAL', () => {
    const ev = one('DMAR: [DMA Read] Request device [03:00.1] PASID 5 fault addr fff00000 [fault reason 12] non-zero reserved fields in PTE');
    // "12" is decimal twelve (0x0c), not 0x12.
    expect(ev).toMatchObject({ address: 0xfff00000n, access: 1, reason: 12, endpoint: (3 << 8) | 1 });
    expect(ev.data).toEqual({ event: 'DMAR', device: '03:00.1', type: 'DMA Read', pasid: 5, reasonText: 'non-zero reserved fields in PTE' });
  });

  it('oldest: no PASID at all', () => {
    const ev = one('DMAR:[DMA Write] Request device [00:1d.0] fault addr bdf70000 [fault reason 05] PTE Write access is not set');
    expect(ev).toMatchObject({ address: 0xbdf70000n, access: 2, reason: 5, endpoint: 0x1d << 3 });
    expect(ev.data).toEqual({ event: 'DMAR', device: '00:1d.0', type: 'DMA Write', reasonText: 'PTE Write access is not set' });
  });

  it('scalable-mode reasons 0x30–0x90', () => {
    const ev = one('DMAR: [DMA Read PASID 0x2] Request device [0000:00:02.0] fault addr 0x10000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear');
    expect(ev).toMatchObject({ reason: 0x71, access: 1 });
    expect((ev.data as { reasonText: string }).reasonText).toBe('SM: Present bit in first-level paging entry is clear');
    expect(one('DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x0 [fault reason 0x79] SM: Read/Write permission error in second-level paging entry')).toMatchObject({ reason: 0x79, address: 0n });
  });

  it('DRHD fault status, dmar_fault rate limit and the boot reg_base_addr line are notes', () => {
    expect(one('[    5.000000] DMAR: DRHD: handling fault status reg 2')).toEqual({
      kind: 'trace-note',
      time: 5_000_000_000,
      data: { event: 'DMAR', text: 'DRHD: handling fault status reg 2', status: '0x2' },
    });
    expect(one('[    5.100000] dmar_fault: 17 callbacks suppressed')).toEqual({
      kind: 'trace-note',
      time: 5_100_000_000,
      data: { event: 'dmar_fault', text: 'dmar_fault: 17 callbacks suppressed', suppressed: 17 },
    });
    expect(one('[    0.145769] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a').data).toEqual({
      event: 'DMAR',
      text: 'dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a',
      iommu: 'dmar0',
      regBase: '0xfed90000',
      ver: '1:0',
      cap: '0x12008c22260286',
      ecap: '0xf00f5a',
    });
  });

  it('a 64-bit address is exact; oversized numbers are errors', () => {
    expect(one('DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfffffffffffff000 [fault reason 0x06] PTE Read access is not set')).toMatchObject({
      address: 0xfffffffffffff000n,
    });
    expect(error('DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1fffffffffffff000 [fault reason 0x06] PTE Read access is not set')).toContain('DMAR: expected');
    expect(error('DMAR: [DMA Read PASID 0x123456789] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set')).toContain('DMAR: expected');
  });

  it('malformed fault lines are errors naming the expected format', () => {
    const m = error('[    1.000000] DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0xzz [fault reason 0x05] PTE Write access is not set');
    expect(m).toContain("DMAR: expected '[DMA Read|DMA Write");
    expect(m).toContain('fault addr');
    expect(error('DMAR: [DMA Read NO_PASID] Request device [00:02] fault addr 0x1000 [fault reason 0x06] x')).toContain('DMAR: expected');
    expect(error('DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason] x')).toContain('DMAR: expected');
    expect(error('DMAR: DRHD: handling fault status reg zz')).toContain("'DRHD: handling fault status reg <hex>'");
    expect(error('dmar_fault: many callbacks suppressed')).toContain("'dmar_fault: N callbacks suppressed'");
  });
});

describe('AMD-Vi IO_PAGE_FAULT (amd/iommu.c)', () => {
  it('with a known device (pci_err): the device from the prefix, domain, flags → write', () => {
    const ev = one('[   30.000000] vfio-pci 0000:3b:00.0: Event logged [IO_PAGE_FAULT domain=0x000e address=0xfdf8000000 flags=0x0020]');
    expect(ev).toEqual({
      kind: 'trace-fault',
      time: 30_000_000_000,
      address: 0xfdf8000000n,
      access: 2,
      reason: 0x20,
      endpoint: 0x3b << 8,
      domain: 0xe,
      data: { event: 'AMD-Vi:IO_PAGE_FAULT', device: '0000:3b:00.0', flags: '0x0020' },
    });
  });

  it('without one: device= (no segment and with a segment); flags 0x0000 read, 0x0010 read, 0x0070 write', () => {
    const a = one('AMD-Vi: Event logged [IO_PAGE_FAULT device=00:14.0 domain=0x0000 address=0x000000fdf8000000 flags=0x0000]');
    expect(a).toMatchObject({ address: 0xfdf8000000n, access: 1, reason: 0, endpoint: 0x14 << 3, domain: 0 });
    expect(a.data).toEqual({ event: 'AMD-Vi:IO_PAGE_FAULT', device: '00:14.0', flags: '0x0000' });
    const b = one('AMD-Vi: Event logged [IO_PAGE_FAULT device=0001:c1:00.2 domain=0x0003 address=0x1000 flags=0x0010]');
    expect(b).toMatchObject({ access: 1, reason: 0x10, endpoint: (0xc1 << 8) | 2, domain: 3 });
    expect(b.data).toEqual({ event: 'AMD-Vi:IO_PAGE_FAULT', device: '0001:c1:00.2', segment: 1, flags: '0x0010' });
    expect(one('AMD-Vi: Event logged [IO_PAGE_FAULT device=00:14.0 domain=0x0000 address=0x2000 flags=0x0070]')).toMatchObject({ access: 2, reason: 0x70 });
  });

  it('the old two-line split: the first half is held (header), the event comes on the second with the first time', () => {
    const imp = new KmsgImporter();
    expect(kind('[    3.000000] AMD-Vi: Event logged [', imp)).toBe('header');
    const ev = one('[    3.000001] IO_PAGE_FAULT device=00:14.0 domain=0x000e address=0x000000000000c040 flags=0x0050]', imp);
    expect(ev).toEqual({
      kind: 'trace-fault',
      time: 3_000_000_000,
      address: 0xc040n,
      access: 1,
      reason: 0x50,
      endpoint: 0x14 << 3,
      domain: 0xe,
      data: { event: 'AMD-Vi:IO_PAGE_FAULT', device: '00:14.0', flags: '0x0050' },
    });
    // Nothing held any more: the same second half alone is not a line of ours.
    expect(kind('[    3.000002] IO_PAGE_FAULT device=00:14.0 domain=0x000e address=0xc040 flags=0x0050]', imp)).toBe('unknown');
  });

  it('the split without timestamps, and through journalctl', () => {
    const imp = new KmsgImporter();
    expect(kind('AMD-Vi: Event logged [', imp)).toBe('header');
    expect(one('IO_PAGE_FAULT device=00:14.0 domain=0x0001 address=0x1000 flags=0x0020]', imp)).toMatchObject({ access: 2, domain: 1 });
    expect(kind('2026-12-01T08:13:00+0000 host kernel: AMD-Vi: Event logged [', imp)).toBe('header');
    // The record's time is its first half's (the origin second here).
    expect(one('2026-12-01T08:13:01+0000 host kernel: IO_PAGE_FAULT device=00:14.0 domain=0x0001 address=0x1000 flags=0x0000]', imp).time).toBe(0);
    expect(imp.timeOrigin()).toBe(Date.UTC(2026, 11, 1, 8, 13, 0) / 1000);
  });

  it('the split as two dev_err of the device (the era when IO_PAGE_FAULT printed whole and the other events split)', () => {
    const imp = new KmsgImporter();
    expect(kind('[    4.000000] pci 0000:00:14.0: AMD-Vi: Event logged [', imp)).toBe('header');
    expect(one('[    4.000001] pci 0000:00:14.0: ILLEGAL_DEV_TABLE_ENTRY device=00:14.0 pasid=0x00000 address=0x0000000000001000 flags=0x0a00]', imp)).toEqual({
      kind: 'trace-note',
      time: 4_000_000_000,
      data: {
        event: 'AMD-Vi:ILLEGAL_DEV_TABLE_ENTRY',
        text: 'Event logged [ILLEGAL_DEV_TABLE_ENTRY device=00:14.0 pasid=0x00000 address=0x0000000000001000 flags=0x0a00]',
        device: '0000:00:14.0',
      },
    });
    // Another device's line does not continue it.
    imp.parse('[    5.000000] pci 0000:00:14.0: AMD-Vi: Event logged [');
    const evs = events('[    5.000001] pci 0000:00:01.0: Adding to iommu group 3', imp);
    expect(evs.map((e) => e.kind)).toEqual(['trace-note', 'trace-group']);
    expect(evs[0]!.data).toEqual({ event: 'AMD-Vi', text: 'Event logged [ (the entry never came)', device: '0000:00:14.0' });
  });

  it('a trailing vflags=%#x is accepted and kept', () => {
    expect(one('AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:14.0 domain=0x0002 address=0x1000 flags=0x0020 vflags=0x1]').data).toEqual({
      event: 'AMD-Vi:IO_PAGE_FAULT',
      device: '0000:00:14.0',
      segment: 0,
      flags: '0x0020',
      vflags: '0x1',
    });
  });

  it('reset() forgets a held first half', () => {
    const imp = new KmsgImporter();
    expect(kind('AMD-Vi: Event logged [', imp)).toBe('header');
    imp.reset();
    expect(kind('IO_PAGE_FAULT device=00:14.0 domain=0x0001 address=0x1000 flags=0x0020]', imp)).toBe('unknown');
  });

  it('a first half the next line does not continue is emitted as a note before that line, or named in its error', () => {
    const imp = new KmsgImporter();
    imp.parse('[    3.000000] AMD-Vi: Event logged [');
    const evs = events(`[    3.500000] ${DMAR_CURRENT}`, imp);
    expect(evs.map((e) => e.kind)).toEqual(['trace-note', 'trace-fault']);
    expect(evs[0]).toEqual({ kind: 'trace-note', time: 3_000_000_000, data: { event: 'AMD-Vi', text: 'Event logged [ (the entry never came)' } });
    expect(evs[1]!.time).toBe(3_500_000_000);
    imp.parse('[    4.000000] AMD-Vi: Event logged [');
    expect(error('[    4.100000] something else entirely', imp)).toBe("AMD-Vi 'Event logged [' without its entry cut short by this line");
  });

  it('other Event logged entries are notes; a malformed IO_PAGE_FAULT is an error', () => {
    expect(one('AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=00:14.0 pasid=0x00000 address=0xfffffffdf8000000 flags=0x0a00]')).toEqual({
      kind: 'trace-note',
      data: { event: 'AMD-Vi:ILLEGAL_DEV_TABLE_ENTRY', text: 'Event logged [ILLEGAL_DEV_TABLE_ENTRY device=00:14.0 pasid=0x00000 address=0xfffffffdf8000000 flags=0x0a00]' },
    });
    expect(one('vfio-pci 0000:3b:00.0: Event logged [IOTLB_INV_TIMEOUT device=3b:00.0 address=0x1000]').data).toMatchObject({
      event: 'AMD-Vi:IOTLB_INV_TIMEOUT',
      device: '0000:3b:00.0',
    });
    expect(error('AMD-Vi: Event logged [IO_PAGE_FAULT device=00:14.0 domain=0x0000 address=0x1000]')).toContain("AMD-Vi: expected 'Event logged [IO_PAGE_FAULT");
    expect(error('AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=zz flags=0x0000]')).toContain('address=0x… flags=0x…');
  });
});

describe('ARM SMMUv3 events (arm-smmu-v3.c)', () => {
  const P = '[  100.000000] arm-smmu-v3 arm-smmu-v3.0.auto: ';
  // word0: SID 0x8 in [63:32], SSV (bit 11) with SSID 0x3 in [31:12], id 0x10 in [7:0]; word1: RnW (bit 35) set → read;
  // word2: the input address.
  const RAW = [`${P}event 0x10 received:`, `${P}\t0x0000000800003810`, `${P}\t0x0000000800000000`, `${P}\t0x00000000deadb000`, `${P}\t0x0000000000000000`];

  it('raw: held over the four words, decoded from word0/1/2 on the fourth', () => {
    const imp = new KmsgImporter();
    for (const l of RAW.slice(0, 4)) expect(kind(l, imp)).toBe('header');
    expect(one(RAW[4]!, imp)).toEqual({
      kind: 'trace-fault',
      time: 100_000_000_000,
      address: 0xdeadb000n,
      access: 1,
      reason: 0x10,
      data: {
        event: 'arm-smmu-v3:F_TRANSLATION',
        smmu: 'arm-smmu-v3.0.auto',
        sid: 8,
        ssid: 3,
        words: ['0x0000000800003810', '0x0000000800000000', '0x00000000deadb000', '0x0000000000000000'],
      },
    });
  });

  it('raw: a write (RnW clear), a stage-2 fault, an event with no address (C_BAD_STE)', () => {
    const imp = new KmsgImporter();
    const w = [`${P}event 0x13 received:`, `${P}\t0x0000001000000013`, `${P}\t0x0000008000000000`, `${P}\t0x0000000000042000`, `${P}\t0x0000000000000000`];
    for (const l of w.slice(0, 4)) imp.parse(l);
    const ev = one(w[4]!, imp);
    expect(ev).toMatchObject({ access: 2, reason: 0x13, address: 0x42000n });
    expect(ev.data).toMatchObject({ event: 'arm-smmu-v3:F_PERMISSION', sid: 0x10, s2: true });
    const b = [`${P}event 0x04 received:`, `${P}\t0x0000002000000004`, `${P}\t0x0000000000000000`, `${P}\t0x0000000000000000`, `${P}\t0x0000000000000000`];
    for (const l of b.slice(0, 4)) imp.parse(l);
    const c = one(b[4]!, imp);
    expect(c).toMatchObject({ access: 0, reason: 4 });
    expect('address' in c).toBe(false);
    expect(c.data).toMatchObject({ event: 'arm-smmu-v3:C_BAD_STE', sid: 0x20 });
  });

  it('raw then decoded (newer kernels print both): the decoded line and its access line are ignored', () => {
    const imp = new KmsgImporter();
    for (const l of RAW) imp.parse(l);
    expect(kind(`${P}event: F_TRANSLATION client: 0000:00:01.0 sid: 0x8 ssid: 0x3 iova: 0xdeadb000 ipa: 0`, imp)).toBe('ignored');
    expect(kind(`${P}unpriv data read s1 "Input address caused fault" stag: 0`, imp)).toBe('ignored');
  });

  it('decoded alone: held until its access line, which gives the access', () => {
    const imp = new KmsgImporter();
    expect(kind(`${P}event: F_TRANSLATION client: 0000:00:01.0 sid: 0x8 ssid: 0 iova: 0xdeadb000 ipa: 0`, imp)).toBe('header');
    expect(one(`[  100.000001] arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 "Input address caused fault" stall stag: 0x1`, imp)).toEqual({
      kind: 'trace-fault',
      time: 100_000_000_000,
      address: 0xdeadb000n,
      access: 2,
      reason: 0x10,
      endpoint: 0x8,
      data: {
        event: 'arm-smmu-v3:F_TRANSLATION',
        smmu: 'arm-smmu-v3.0.auto',
        device: '0000:00:01.0',
        sid: 8,
        ssid: 0,
        ipa: '0x0',
        access: 'unpriv data write s1 "Input address caused fault" stall stag: 0x1',
        stall: true,
      },
    });
  });

  it('decoded fetch and other forms (no access line) are emitted at once; an unassigned SID names no device', () => {
    const ev = one(`${P}event: F_CD_FETCH client: (unassigned sid) sid: 0x20 ssid: 0x1 fetch_addr: 0x80001000`);
    expect(ev).toMatchObject({ kind: 'trace-fault', access: 0, reason: 0x09 });
    expect(ev.data).toEqual({ event: 'arm-smmu-v3:F_CD_FETCH', smmu: 'arm-smmu-v3.0.auto', sid: 0x20, ssid: 1, fetchAddr: '0x80001000', });
    expect(one(`${P}event: C_BAD_STREAMID client: (unassigned sid) sid: 0x99 ssid: 0`)).toMatchObject({ reason: 0x02, access: 0 });
  });

  it('a raw dump cut short: the partial fault before the next event, or named in the error of an unknown line', () => {
    const imp = new KmsgImporter();
    imp.parse(RAW[0]!);
    imp.parse(RAW[1]!);
    const evs = events(`[  101.000000] ${DMAR_CURRENT}`, imp);
    expect(evs[0]).toMatchObject({ kind: 'trace-fault', reason: 0x10, access: 0, time: 100_000_000_000 });
    expect(evs[0]!.data).toMatchObject({ sid: 8, ssid: 3, words: ['0x0000000800003810'], incomplete: true });
    expect(evs[1]!.kind).toBe('trace-fault');
    imp.parse(RAW[0]!);
    expect(error('[  102.000000] unrelated line', imp)).toBe('SMMUv3 event 0x10 dump (0 of 4 words) cut short by this line');
  });

  it('finish() gives what is still held at the end of a file, once', () => {
    const imp = new KmsgImporter();
    expect(imp.finish()).toBeNull();
    imp.parse(`${P}event: F_PERMISSION client: 0000:00:01.0 sid: 0x8 ssid: 0 iova: 0x4000 ipa: 0`);
    const r = imp.finish();
    expect(r).toEqual({
      t: 'event',
      events: [
        {
          kind: 'trace-fault',
          time: 100_000_000_000,
          address: 0x4000n,
          access: 0,
          reason: 0x13,
          endpoint: 8,
          data: { event: 'arm-smmu-v3:F_PERMISSION', smmu: 'arm-smmu-v3.0.auto', device: '0000:00:01.0', sid: 8, ssid: 0, ipa: '0x0' },
        },
      ],
    });
    expect(imp.finish()).toBeNull();
  });

  it('malformed raw header and decoded lines are errors', () => {
    expect(error(`${P}event 0x1 received:`)).toBe("arm-smmu-v3: expected 'event 0x.. received:'");
    expect(error(`${P}event: F_TRANSLATION client: 0000:00:01.0 sid: zz ssid: 0 iova: 0x1 ipa: 0`)).toContain("arm-smmu-v3: expected 'event: NAME client: DEV sid: 0x…");
    // A word line with nothing held is not ours.
    expect(kind(`${P}\t0x0000000800003810`)).toBe('unknown');
  });

  it('arm-smmu (v2) context fault: FSR as reason, FSYNR0.WNR as the access, with and without cbfrsynra', () => {
    expect(one('[   7.000000] arm-smmu arm-smmu.0.auto: Unhandled context fault: fsr=0x402, iova=0x23e0000100, fsynr=0x20040, cbfrsynra=0x4000, cb=0')).toEqual({
      kind: 'trace-fault',
      time: 7_000_000_000,
      address: 0x23e0000100n,
      access: 1,
      reason: 0x402,
      data: { event: 'arm-smmu:context-fault', smmu: 'arm-smmu.0.auto', fsr: '0x402', fsynr: '0x20040', cbfrsynra: '0x4000', sid: 0x4000, cb: 0 },
    });
    expect(one('arm-smmu 1400000.iommu: Unhandled context fault: fsr=0x402, iova=0x00001000, fsynr=0x13, cb=3')).toMatchObject({ access: 2, address: 0x1000n });
    expect(error('arm-smmu arm-smmu.0.auto: Unhandled context fault: fsr=0x402, iova=0x1000')).toContain("arm-smmu: expected 'Unhandled context fault");
  });
});

describe('virtio-iommu guest driver (virtio-iommu.c)', () => {
  it('"%s fault from EP %u at %#llx [%s%s%s]": reason by name, EP as endpoint, letters to access', () => {
    expect(one('[    9.000000] virtio_iommu virtio0: page fault from EP 8 at 0xfee00000 [RW]')).toEqual({
      kind: 'trace-fault',
      time: 9_000_000_000,
      address: 0xfee00000n,
      access: 2,
      reason: 2,
      endpoint: 8,
      data: { event: 'virtio-iommu:fault', device: 'virtio0', reasonText: 'page', flags: 'RW' },
    });
    expect(one('virtio_iommu virtio0: domain fault from EP 16 at 0 [R]')).toMatchObject({ reason: 1, access: 1, address: 0n, endpoint: 16 });
    expect(one('virtio_iommu virtio0: unknown fault from EP 3 at 0x1000 []')).toMatchObject({ reason: 0, access: 0 });
  });

  it('without F_ADDRESS: "%s fault from EP %u"; a newer reason name has no code', () => {
    const ev = one('virtio_iommu virtio0: domain fault from EP 8');
    expect(ev).toEqual({ kind: 'trace-fault', access: 0, reason: 1, endpoint: 8, data: { event: 'virtio-iommu:fault', device: 'virtio0', reasonText: 'domain' } });
    const p = one('virtio_iommu virtio0: output address fault from EP 8 at 0x2000 [W]');
    expect('reason' in p).toBe(false);
    expect(p.data).toMatchObject({ reasonText: 'output address' });
    expect(error('virtio_iommu virtio0: page fault from EP eight at 0x1000 [R]')).toContain("virtio-iommu: expected '<reason> fault from EP N");
  });

  it('probe lines are notes', () => {
    expect(one('[    0.500000] virtio_iommu virtio0: input address: 48 bits').data).toEqual({ event: 'virtio-iommu', text: 'input address: 48 bits', device: 'virtio0', bits: 48 });
    expect(one('virtio_iommu virtio0: page mask: 0xfffffffffffff000').data).toEqual({
      event: 'virtio-iommu',
      text: 'page mask: 0xfffffffffffff000',
      device: 'virtio0',
      pageMask: '0xfffffffffffff000',
    });
  });
});

describe('dma-iommu and IOMMU group lines', () => {
  it('"Using %d-bit DMA addresses" → note with bits and the device', () => {
    expect(one('[    6.849292] ice 0000:00:05.0: Using 64-bit DMA addresses')).toEqual({
      kind: 'trace-note',
      time: 6_849_292_000,
      data: { event: 'dma-iommu', text: 'Using 64-bit DMA addresses', device: '0000:00:05.0', bits: 64 },
    });
    expect(error('ice 0000:00:05.0: Using many-bit DMA addresses')).toBe("dma-iommu: expected 'Using N-bit DMA addresses'");
  });

  it('Adding to / Removing from iommu group N → trace-group add / remove', () => {
    expect(one('[    0.900000] pci 0000:00:01.0: Adding to iommu group 3')).toEqual({
      kind: 'trace-group',
      time: 900_000_000,
      op: 0,
      group: 3,
      data: { event: 'iommu', device: '0000:00:01.0' },
    });
    expect(one('Dec 01 08:13:00 host kernel: platform pxa2xx-spi.3: Adding to iommu group 20')).toEqual({
      kind: 'trace-group',
      op: 0,
      group: 20,
      data: { event: 'iommu', device: 'pxa2xx-spi.3', date: 'Dec 01 08:13:00' },
    });
    expect(one('vfio-pci 0000:3b:00.0: Removing from iommu group 12')).toMatchObject({ op: 1, group: 12 });
    expect(error('pci 0000:00:01.0: Adding to iommu group three')).toContain("iommu: expected 'Adding to iommu group N'");
  });
});

describe('isLineStart', () => {
  it('true for every prefix, false for a wrapped tail in a prefixed file', () => {
    const imp = new KmsgImporter();
    expect(imp.isLineStart('[    6.849292] foo')).toBe(true);
    expect(imp.isLineStart('[12345.000001] foo')).toBe(true);
    expect(imp.isLineStart('[Tue Dec  1 08:13:00 2026] foo')).toBe(true);
    expect(imp.isLineStart('<4>[    1.0] foo')).toBe(true);
    expect(imp.isLineStart('Dec 01 08:13:00 host kernel: foo')).toBe(true);
    expect(imp.isLineStart('2026-12-01T08:13:00+0000 host kernel: foo')).toBe(true);
    imp.parse('[    1.000000] hello');
    expect(imp.isLineStart('[fault reason 0x05] PTE Write access is not set')).toBe(false);
    expect(imp.isLineStart('fault addr 0xfee00000 [fault reason 0x05] PTE Write access is not set')).toBe(false);
    expect(imp.isLineStart('DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000')).toBe(false);
  });

  it('in a file without prefixes: known tags and printk-shaped lines start records, tails do not', () => {
    const imp = new KmsgImporter();
    imp.parse('Linux version 6.8.0');
    expect(imp.isLineStart('DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000')).toBe(true);
    expect(imp.isLineStart('pci 0000:00:01.0: Adding to iommu group 3')).toBe(true);
    expect(imp.isLineStart('[fault reason 0x05] PTE Write access is not set')).toBe(false);
    expect(imp.isLineStart('  continued text')).toBe(false);
    imp.reset();
    imp.parse('[    1.000000] hello');
    expect(imp.isLineStart('pci 0000:00:01.0: Adding to iommu group 3')).toBe(false);
  });

  it('a wrapped DMAR line joined (as the driver does) parses as one event', () => {
    const imp = new KmsgImporter();
    const head = '[    1.000000] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06]';
    expect(imp.parse(head).t).toBe('error');
    expect(imp.isLineStart('PTE Read access is not set')).toBe(false);
    expect(one(`${head} PTE Read access is not set`, imp).data).toMatchObject({ reasonText: 'PTE Read access is not set' });
  });
});

describe('detect', () => {
  const KMSG = [
    '[    0.000000] Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) #45-Ubuntu SMP',
    '[    0.145769] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a',
    '[    0.900000] pci 0000:00:01.0: Adding to iommu group 0',
    '[    0.900010] pci 0000:00:02.0: Adding to iommu group 1',
    '[    6.849292] ice 0000:00:05.0: Using 64-bit DMA addresses',
    '[   12.000000] DMAR: DRHD: handling fault status reg 2',
    `[   12.000001] ${DMAR_CURRENT}`,
    '[   12.500000] dmar_fault: 3 callbacks suppressed',
  ];
  // The other families, from the reference's format strings (A1 ftrace prefix and TP_printk, A2 QEMU log backend).
  const FTRACE = [
    '# tracer: nop',
    '#',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '     qemu-kvm-4321    [003] .....   120.000100: iommu:map: IOMMU: iova=0x00000000fee00000 - 0x00000000fee01000 paddr=0x0000000123456000 size=4096',
    '     qemu-kvm-4321    [003] .....   120.000200: iommu:unmap: IOMMU: iova=0x00000000fee00000 - 0x00000000fee01000 size=4096 unmapped_size=4096',
    '          <idle>-0       [001] d..1.   121.000000: iommu:io_page_fault: IOMMU:vfio-pci 0000:3b:00.0 iova=0x00000000fee00000 flags=0x0001',
    '           <...>-1234    [002] .....   121.500000: iommu:attach_device_to_domain: IOMMU: device=0000:3b:00.0',
    '     kworker/0:1-12     [000] ....   122.000000: iommu:add_device_to_group: IOMMU: groupID=3 device=0000:00:01.0',
    '     kworker/0:1-12     [000] .......   122.000001: dma:dma_map_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=1500 phys_addr=123456000 attrs=',
  ];
  const QEMU = [
    '4321@1764576780.000100:virtio_iommu_attach domain=1 endpoint=8',
    '4321@1764576780.000200:virtio_iommu_map domain=1 virt_start=0xfee00000 virt_end=0xfee00fff phys_start=0x123456000 flags=3',
    'virtio_iommu_unmap domain=1 virt_start=0xfee00000 virt_end=0xfee00fff',
    'virtio_iommu_report_fault FAULT reason=2 flags=256 endpoint=8 address =0xdead0000',
    '2026-12-01T08:13:00.000100Z vtd_dmar_fault sid 0x10 fault 6 addr 0x1000 write 0',
    'Dec 01 08:13:00 host qemu-system-x86_64[4321]: vfio_iommu_map_notify iommu map @ 0xfee00000 - 0xfee00fff',
    'iommufd_backend_map_dma  iommufd=3 ioas=2 iova=0xfee00000 size=0x1000 addr=0x7f0000000000 readonly=0 (0)',
    'vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0xfee00000 mask 0x0',
  ];

  // The head of a typical boot log: lines this importer does not import, but with the kernel's prefix.
  const BOOT = [
    '[    0.000000] Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) #45-Ubuntu SMP',
    '[    0.000000] Command line: BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt',
    '[    0.000000] BIOS-provided physical RAM map:',
    '[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable',
    '[    0.004000] ACPI: DMAR 0x000000007FFE1D4F 000048 (v01 BOCHS  BXPC     00000001 BXPC 00000001)',
    '[    0.145769] DMAR: IOMMU enabled',
    '[    0.145769] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a',
    '[    0.900000] pci 0000:00:01.0: Adding to iommu group 0',
  ];
  const JOURNAL = [
    '-- Boot 3f2c0e5a1b --',
    'Dec 01 08:13:00 host kernel: Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) #45-Ubuntu SMP',
    'Dec 01 08:13:00 host kernel: Command line: BOOT_IMAGE=/vmlinuz intel_iommu=on',
    'Dec 01 08:13:00 host kernel: DMAR: IOMMU enabled',
    'Dec 01 08:13:01 host kernel: pci 0000:00:01.0: Adding to iommu group 0',
  ];

  it('a boot log scores by its kernel prefixes, not only by the lines it imports', () => {
    const imp = new KmsgImporter();
    expect(imp.detect(BOOT)).toBe(1);
    expect(imp.detect(JOURNAL)).toBe(1);
    expect(imp.detect([...BOOT.map((l) => l.slice(15))])).toBe(2 / 8);
  });

  it('≥ 0.5 for a typical kernel log, ≤ 0.1 for ftrace and QEMU traces', () => {
    const imp = new KmsgImporter();
    expect(imp.detect(KMSG)).toBeGreaterThanOrEqual(0.5);
    expect(imp.detect(FTRACE)).toBeLessThanOrEqual(0.1);
    expect(imp.detect(QEMU)).toBeLessThanOrEqual(0.1);
    expect(imp.detect([])).toBe(0);
  });

  it('detection leaves no state behind', () => {
    const imp = new KmsgImporter();
    imp.detect(['AMD-Vi: Event logged [']);
    expect(kind('IO_PAGE_FAULT device=00:14.0 domain=0x0001 address=0x1000 flags=0x0020]', imp)).toBe('unknown');
  });
});

describe('robustness', () => {
  it('never throws on arbitrary text (deterministic pseudo-random lines built from the formats’ pieces)', () => {
    const pieces = ['[', ']', '    1.0', 'DMAR:', ' [DMA Read', ' NO_PASID]', ' Request device [', '00:02.0', '0x', 'ffff', ' fault addr ', '[fault reason ', 'AMD-Vi: ', 'Event logged [', 'IO_PAGE_FAULT', ' device=', ': ', 'event 0x10 received:', '\t0x0000000800000010', 'event: ', ' sid: ', ' ssid: ', ' iova: ', 'Dec 01 08:13:00 h kernel: ', '2026-12-01T08:13:00+0000 h kernel: ', ' fault from EP ', '<4>', 'Adding to iommu group ', '-1', ' ', '\u00e9'];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const imp = new KmsgImporter();
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      let line = '';
      const k = 1 + rnd(8);
      for (let j = 0; j < k; j++) line += pieces[rnd(pieces.length)];
      const r = imp.parse(line);
      seen.add(r.t);
      if (r.t === 'error') expect(r.message).not.toContain('kmsg importer:');
    }
    expect(seen.has('unknown')).toBe(true);
  });
});
