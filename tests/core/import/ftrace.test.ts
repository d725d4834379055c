/**
 * The Linux ftrace importer (core/import/ftrace.ts): every line layout (trace, trace_pipe with and
 * without tgid, every flags width, trace-cmd report, perf script), every imported event in each of
 * its forms (iommu:map/unmap old and range, io_page_fault, attach/detach, group add/remove, dma:*,
 * intel_iommu:qi_submit), malformed lines of known events, ignored and unknown lines, headers,
 * isLineStart and detection against the kernel-log and QEMU families.
 *
 * Lines are written from the format strings in ../../../../shared/reference/trace-formats-and-guest-dma.md
 * part A (trace_print_context() in kernel/trace/trace_output.c; include/trace/events/iommu.h,
 * dma.h; drivers/iommu/intel/trace.h), not pasted from real logs.
 */
import { describe, expect, it } from 'vitest';
import { FtraceImporter } from '../../../core/import/ftrace.ts';
import type { LineResult, TraceEvent } from '../../../core/import/types.ts';
import { mulberry32 } from '../../support/prng.ts';

const imp = new FtraceImporter();

/** `%016llx` */
const x16 = (v: bigint): string => v.toString(16).padStart(16, '0');

/** A trace-file line: `"%16s-%-7d "`, optional `"(%7d) "`, `"[%03d] "`, flags, `" %5lu.%06lu"`, `": "`, event. */
function traceLine(comm: string, pid: number, cpu: number, flags: string | null, ts: string, event: string, body: string, tgid?: string): string {
  const cp = `${comm.padStart(16)}-${String(pid).padEnd(7)} `;
  const tg = tgid === undefined ? '' : `(${tgid.padStart(7)}) `;
  return `${cp}${tg}[${String(cpu).padStart(3, '0')}] ${flags === null ? '' : flags + ' '}${ts.padStart(12)}: ${event}: ${body}`;
}

/** The one event of a line that must parse. */
function one(line: string): TraceEvent {
  const r = imp.parse(line);
  if (r.t !== 'event') throw new Error(`expected an event, got ${JSON.stringify(r)} for ${line}`);
  expect(r.events).toHaveLength(1);
  return r.events[0]!;
}

/** The message of a line that must be an error. */
function err(line: string): string {
  const r = imp.parse(line);
  if (r.t !== 'error') throw new Error(`expected an error, got ${r.t} for ${line}`);
  return r.message;
}

const MAP_RANGE = `IOMMU: iova=0x${x16(0xfffff000n)} - 0x${x16(0x100000000n)} paddr=0x${x16(0x123456000n)} size=4096`;
const task = (comm: string, pid: number, cpu: number) => ({ comm, pid, cpu });

describe('ftrace line layouts', () => {
  it('trace with the current 5-char flags column: fields, exact ns time, task columns', () => {
    expect(one(traceLine('bash', 1234, 1, '.....', '123.456789', 'map', MAP_RANGE))).toEqual({
      kind: 'trace-map', time: 123_456_789_000, iova: 0xfffff000n, size: 4096n, phys: 0x123456000n,
      data: { event: 'iommu:map', ...task('bash', 1234, 1) },
    });
  });

  it.each([
    ['4 (old kernels)', '....'],
    ['5 (current)', 'dNs1.'],
    ['6', 'd.h21.'],
    ['7 (RHEL-style)', '.......'],
    ['8', 'dNs21..X'],
    ['absent (irq-info off)', null],
  ])('flags column of width %s', (_w, flags) => {
    const ev = one(traceLine('kworker/u16:3', 98, 12, flags, '5.000001', 'map', MAP_RANGE));
    expect(ev).toMatchObject({ kind: 'trace-map', time: 5_000_001_000, iova: 0xfffff000n, data: task('kworker/u16:3', 98, 12) });
  });

  it('the (tgid) column of options/record-tgid, known or unknown (-------)', () => {
    expect(one(traceLine('qemu-kvm', 5678, 3, '.....', '10.000000', 'map', MAP_RANGE, '5600'))).toMatchObject({ data: task('qemu-kvm', 5678, 3) });
    expect(one(traceLine('qemu-kvm', 5678, 3, '.....', '10.000000', 'map', MAP_RANGE, '-------'))).toMatchObject({ data: task('qemu-kvm', 5678, 3) });
  });

  it('comm holding spaces and dashes, <idle> and <...>: the pid is the last -digits', () => {
    expect(one(traceLine('Web Content', 4321, 0, '....', '1.000000', 'map', MAP_RANGE))).toMatchObject({ data: task('Web Content', 4321, 0) });
    expect(one(traceLine('qemu-system-x86', 77, 0, '....', '1.000000', 'map', MAP_RANGE))).toMatchObject({ data: task('qemu-system-x86', 77, 0) });
    expect(one(traceLine('<idle>', 0, 7, '..s1.', '1.000000', 'map', MAP_RANGE))).toMatchObject({ data: task('<idle>', 0, 7) });
    expect(one(traceLine('<...>', 31337, 7, '..s1.', '1.000000', 'map', MAP_RANGE))).toMatchObject({ data: task('<...>', 31337, 7) });
    // A comm longer than the 16-column field is printed whole, flush left.
    expect(one(`irq/129-nvme0q1-2222 [001] d.h1. 1.000000: map: ${MAP_RANGE}`)).toMatchObject({ data: task('irq/129-nvme0q1', 2222, 1) });
  });

  it('timestamps: µs exact without float rounding, a large uptime, ns precision, a counter clock without time', () => {
    expect(one(traceLine('a', 1, 0, '....', '86399.999999', 'map', MAP_RANGE)).time).toBe(86_399_999_999_000);
    expect(one(traceLine('a', 1, 0, '....', '8999999.000001', 'map', MAP_RANGE)).time).toBe(8_999_999_000_001_000);
    // beyond 2^53 ns, µs values stay exact up to 2^56 ns (834 days of uptime)
    expect(BigInt(one(traceLine('a', 1, 0, '....', '50000000.123457', 'map', MAP_RANGE)).time!)).toBe(50_000_000_123_457_000n);
    expect(one(traceLine('a', 1, 0, '....', '0.123456789', 'map', MAP_RANGE)).time).toBe(123_456_789);
    expect(one(traceLine('a', 1, 0, '....', '0.1', 'map', MAP_RANGE)).time).toBe(100_000_000);
    // trace_clock counter / x86-tsc: `" %12llu"`, not ns: the event has no time.
    const ev = one(traceLine('a', 1, 0, '....', '123456789012', 'map', MAP_RANGE));
    expect(ev.kind).toBe('trace-map');
    expect('time' in ev).toBe(false);
  });

  it('a wall clock (trace_clock=tai, perf --clockid realtime): ns since timeOrigin(), the first whole second; reset forgets it', () => {
    const wall = new FtraceImporter();
    expect(wall.timeOrigin()).toBeNull();
    expect(one(traceLine('a', 1, 0, '....', '1.000000', 'map', MAP_RANGE)).time).toBe(1e9);
    const parseWall = (ts: string) => {
      const r = wall.parse(traceLine('a', 1, 0, '....', ts, 'map', MAP_RANGE));
      return r.t === 'event' ? r.events[0]!.time : undefined;
    };
    expect(parseWall('1719835200.123456')).toBe(123_456_000);
    expect(wall.timeOrigin()).toBe(1719835200);
    expect(parseWall('1719835260.000001')).toBe(60_000_001_000);
    expect(parseWall('1719835199.999999')).toBe(-1000);
    wall.reset();
    expect(wall.timeOrigin()).toBeNull();
    expect(parseWall('1719900000.000000')).toBe(0);
    expect(wall.timeOrigin()).toBe(1719900000);
    expect(imp.timeOrigin()).toBeNull(); // boot-based times set no origin
  });

  it('trace-cmd report: comm-pid [cpu] ts: event: body, with or without flags', () => {
    expect(one(`          bash-1234  [002]   200.000100: map: ${MAP_RANGE}`)).toMatchObject({ time: 200_000_100_000, data: { event: 'iommu:map', ...task('bash', 1234, 2) } });
    expect(one(`          bash-1234  [002] d..1.   200.000100: unmap: IOMMU: iova=0x${x16(0x1000n)} size=4096 unmapped_size=4096`)).toMatchObject({ kind: 'trace-unmap', time: 200_000_100_000 });
    // event names padded to a column
    expect(one(`          bash-1234  [002]   200.000100: map:                  ${MAP_RANGE}`)).toMatchObject({ kind: 'trace-map', iova: 0xfffff000n });
    expect(one(`          bash-1234  [002]   200.000100: dma_map_phys:         0000:01:00.0 dir=NONE dma_addr=1 size=1 phys_addr=1 attrs=`)).toMatchObject({ kind: 'trace-dma', dir: 3, data: { device: '0000:01:00.0' } });
  });

  it('perf script: comm pid [cpu] ts: system:event: body (pid or pid/tid, comm with spaces)', () => {
    expect(one(`        qemu-kvm  5678 [003]  1234.567890: iommu:map: ${MAP_RANGE}`)).toEqual({
      kind: 'trace-map', time: 1_234_567_890_000, iova: 0xfffff000n, size: 4096n, phys: 0x123456000n,
      data: { event: 'iommu:map', ...task('qemu-kvm', 5678, 3) },
    });
    expect(one(`  CPU 0/KVM 5678/5690 [003]  1.000000: iommu:unmap: IOMMU: iova=0x${x16(0x2000n)} size=8192 unmapped_size=8192`)).toMatchObject({
      kind: 'trace-unmap', iova: 0x2000n, data: { event: 'iommu:unmap', ...task('CPU 0/KVM', 5678, 3) },
    });
    expect(one(`  nvme  77 [000]  1.000000: dma:dma_sync_single_for_cpu: 0000:01:00.0 dir=FROM_DEVICE dma_addr=1000 size=64`)).toMatchObject({ kind: 'trace-dma', data: { event: 'dma:dma_sync_single_for_cpu' } });
  });

  it('perf script (tools/perf/builtin-script.c): %7d/%-7d pid/tid, --ns time, period column, right-aligned event names', () => {
    const pad = (name: string) => name.padStart('iommu:attach_device_to_domain'.length);
    expect(one(`        qemu-kvm    5678/5690    [003]  1234.567890123: ${pad('iommu:map')}: ${MAP_RANGE}`)).toMatchObject({
      kind: 'trace-map', time: 1_234_567_890_123, data: { event: 'iommu:map', ...task('qemu-kvm', 5678, 3) },
    });
    expect(one(`        qemu-kvm    5678 [003]  1234.567890:          1 ${pad('iommu:unmap')}: IOMMU: iova=0x${x16(0x2000n)} size=8192 unmapped_size=8192`)).toMatchObject({
      kind: 'trace-unmap', time: 1_234_567_890_000, size: 8192n,
    });
  });

  it('trailing blanks (a CR) are not part of the body', () => {
    expect(one(traceLine('bash', 1, 0, '....', '1.000000', 'map', MAP_RANGE) + ' \r')).toMatchObject({ kind: 'trace-map', size: 4096n });
  });

  it('headers: # comments, blank, cpus=, version =, CPU:N [LOST …], CPU N is empty', () => {
    for (const h of ['# tracer: nop', '#', '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION', '##### CPU 2 buffer started ####', '', '   ', 'cpus=4', 'version = 6', 'CPU:2 [LOST 31 EVENTS]', 'CPU 1 is empty']) {
      expect(imp.parse(h), h).toEqual({ t: 'header' });
    }
  });
});

describe('iommu:map and iommu:unmap (include/trace/events/iommu.h)', () => {
  it('map, old form without the end (torvalds @74e12c52)', () => {
    expect(one(traceLine('bash', 1, 0, '....', '1.000000', 'map', `IOMMU: iova=0x${x16(0x80000000n)} paddr=0x${x16(0xabc000n)} size=2097152`))).toEqual({
      kind: 'trace-map', time: 1e9, iova: 0x80000000n, size: 2097152n, phys: 0xabc000n, data: { event: 'iommu:map', ...task('bash', 1, 0) },
    });
  });

  it('map at the top of the 64-bit space: u64 exact, the end wraps (iova + size mod 2^64)', () => {
    const iova = 0xfffffffffffff000n;
    const ev = one(traceLine('a', 1, 0, '....', '1.000000', 'map', `IOMMU: iova=0x${x16(iova)} - 0x${x16(0n)} paddr=0x${x16(0xfedcba9876543000n)} size=4096`));
    expect(ev).toMatchObject({ iova, phys: 0xfedcba9876543000n, size: 4096n });
    expect(ev.data).toEqual({ event: 'iommu:map', ...task('a', 1, 0) });
  });

  it('a range end that disagrees with iova + size is kept in data.end', () => {
    const ev = one(traceLine('a', 1, 0, '....', '1.000000', 'map', `IOMMU: iova=0x${x16(0x1000n)} - 0x${x16(0x3000n)} paddr=0x${x16(0x5000n)} size=4096`));
    expect(ev.data).toEqual({ event: 'iommu:map', end: '0x3000', ...task('a', 1, 0) });
  });

  it('the UNVERIFIED dev=%s token (unmerged 2021 patch) gives data.device', () => {
    expect(one(traceLine('a', 1, 0, '....', '1.000000', 'map', `IOMMU: dev=0000:3b:00.0 iova=0x${x16(0x1000n)} paddr=0x${x16(0x5000n)} size=4096`)).data).toEqual({
      event: 'iommu:map', device: '0000:3b:00.0', ...task('a', 1, 0),
    });
    expect(one(traceLine('a', 1, 0, '....', '1.000000', 'unmap', `IOMMU: dev=ae00000.mdss iova=0x${x16(0x1000n)} size=4096 unmapped_size=4096`)).data).toMatchObject({ device: 'ae00000.mdss' });
  });

  it('unmap in the range and the old form: size asked and unmapped_size', () => {
    expect(one(traceLine('a', 9, 1, '.....', '2.000000', 'unmap', `IOMMU: iova=0x${x16(0x10000n)} - 0x${x16(0x30000n)} size=131072 unmapped_size=65536`))).toEqual({
      kind: 'trace-unmap', time: 2e9, iova: 0x10000n, size: 131072n, unmapped: 65536n, data: { event: 'iommu:unmap', ...task('a', 9, 1) },
    });
    expect(one(traceLine('a', 9, 1, '.....', '2.000000', 'unmap', `IOMMU: iova=0x${x16(0x10000n)} size=4096 unmapped_size=0`))).toMatchObject({ size: 4096n, unmapped: 0n });
  });

  it('malformed map / unmap lines are errors naming the expected format', () => {
    const bad = (event: string, body: string) => err(traceLine('a', 1, 0, '....', '1.000000', event, body));
    expect(bad('map', 'IOMMU: iova=0xzz paddr=0x1000 size=4096')).toBe("iommu:map: expected 'IOMMU: [dev=D ]iova=0x… [- 0x… ]paddr=0x… size=N'");
    expect(bad('map', `IOMMU: iova=0x${x16(0x1000n)} paddr=0x${x16(0x1000n)}`)).toMatch(/^iommu:map: expected/);
    expect(bad('map', `IOMMU: iova=0x${x16(0x1000n)} paddr=0x${x16(0x1000n)} size=-1`)).toMatch(/^iommu:map: expected/);
    expect(bad('map', `IOMMU: iova=0x${x16(0x1000n)} paddr=0x${x16(0x1000n)} size=4096 extra`)).toMatch(/^iommu:map: expected/);
    expect(bad('map', `IOMMU: iova=0x1${x16(0x1000n)} paddr=0x${x16(0x1000n)} size=4096`)).toMatch(/^iommu:map: expected/); // 17 digits
    expect(bad('map', `IOMMU: iova=0x${x16(0x1000n)} paddr=0x${x16(0x1000n)} size=18446744073709551616`)).toMatch(/^iommu:map: expected/); // 2^64
    expect(bad('map', '')).toMatch(/^iommu:map: expected/);
    expect(bad('unmap', `IOMMU: iova=0x${x16(0x1000n)} size=4096`)).toBe("iommu:unmap: expected 'IOMMU: [dev=D ]iova=0x… [- 0x… ]size=N unmapped_size=N'");
    expect(err(`  perf 1 [000] 1.000000: iommu:map: IOMMU: iova=0x1`)).toMatch(/^iommu:map: expected/);
  });

  it('size=%zu up to 2^64 - 1 is exact', () => {
    expect(one(traceLine('a', 1, 0, '....', '1.000000', 'map', `IOMMU: iova=0x${x16(0n)} paddr=0x${x16(0n)} size=18446744073709551615`)).kind).toBe('trace-map');
    expect((one(traceLine('a', 1, 0, '....', '1.000000', 'map', `IOMMU: iova=0x${x16(0n)} paddr=0x${x16(0n)} size=9007199254740993`)) as { size: bigint }).size).toBe(9007199254740993n);
  });
});

describe('iommu:io_page_fault, attach/detach, groups', () => {
  it('io_page_fault "IOMMU:%s %s iova=0x%016llx flags=0x%04x": write (flags bit 0 set), PCI endpoint', () => {
    expect(one(traceLine('irq/30-AMD-Vi', 250, 4, 'd.h1.', '3.500000', 'io_page_fault', `IOMMU:nvme 0000:3b:00.1 iova=0x${x16(0xfee00000n)} flags=0x0001`))).toEqual({
      kind: 'trace-fault', time: 3_500_000_000, address: 0xfee00000n, access: 2, endpoint: (0x3b << 8) | (0 << 3) | 1,
      data: { event: 'iommu:io_page_fault', driver: 'nvme', device: '0000:3b:00.1', flags: 1, ...task('irq/30-AMD-Vi', 250, 4) },
    });
  });

  it('io_page_fault with an empty driver string, a read, and a platform device (no endpoint)', () => {
    const ev = one(traceLine('a', 1, 0, '....', '1.000000', 'io_page_fault', `IOMMU: 0000:00:1f.7 iova=0x${x16(0x1000n)} flags=0x0000`));
    expect(ev).toMatchObject({ kind: 'trace-fault', access: 1, endpoint: (0 << 8) | (0x1f << 3) | 7, data: { driver: '', device: '0000:00:1f.7', flags: 0 } });
    const plat = one(traceLine('a', 1, 0, '....', '1.000000', 'io_page_fault', `IOMMU:msm_dpu ae00000.mdss iova=0x${x16(0x2000n)} flags=0x0020`));
    expect(plat).toMatchObject({ access: 1, data: { driver: 'msm_dpu', device: 'ae00000.mdss', flags: 0x20 } });
    expect('endpoint' in plat).toBe(false);
  });

  it('attach_device_to_domain / detach_device_from_domain "IOMMU: device=%s"', () => {
    expect(one(traceLine('modprobe', 600, 2, '.....', '4.000000', 'attach_device_to_domain', 'IOMMU: device=0000:02:00.0'))).toEqual({
      kind: 'trace-attach', time: 4e9, op: 0, endpoint: 0x200, data: { event: 'iommu:attach_device_to_domain', device: '0000:02:00.0', ...task('modprobe', 600, 2) },
    });
    const det = one(`  vfio 9 [000] 1.000000: iommu:detach_device_from_domain: IOMMU: device=fd900000.usb`);
    expect(det).toMatchObject({ kind: 'trace-attach', op: 1, data: { event: 'iommu:detach_device_from_domain', device: 'fd900000.usb' } });
    expect('endpoint' in det).toBe(false);
    expect(err(traceLine('a', 1, 0, '....', '1.000000', 'attach_device_to_domain', 'IOMMU: device='))).toBe("iommu:attach_device_to_domain: expected 'IOMMU: device=<device>'");
    expect(err(traceLine('a', 1, 0, '....', '1.000000', 'attach_device_to_domain', 'IOMMU: device=0000:02:00.0 extra'))).toMatch(/^iommu:attach_device_to_domain: expected/);
    expect(err(traceLine('a', 1, 0, '....', '1.000000', 'attach_device_to_domain', 'IOMMU:device=0000:02:00.0'))).toMatch(/^iommu:attach_device_to_domain: expected/);
  });

  it('add_device_to_group / remove_device_from_group "IOMMU: groupID=%d device=%s", negative %d as u32', () => {
    expect(one(traceLine('swapper/0', 1, 0, '.....', '0.500000', 'add_device_to_group', 'IOMMU: groupID=12 device=0000:3b:00.0'))).toEqual({
      kind: 'trace-group', time: 500_000_000, op: 0, group: 12, data: { event: 'iommu:add_device_to_group', device: '0000:3b:00.0', ...task('swapper/0', 1, 0) },
    });
    expect(one(traceLine('a', 1, 0, '....', '1.000000', 'remove_device_from_group', 'IOMMU: groupID=-1 device=pxa2xx-spi.3'))).toEqual({
      kind: 'trace-group', time: 1e9, op: 1, group: 0xffffffff, data: { event: 'iommu:remove_device_from_group', device: 'pxa2xx-spi.3', groupID: '-1', ...task('a', 1, 0) },
    });
    expect(err(traceLine('a', 1, 0, '....', '1.000000', 'add_device_to_group', 'IOMMU: groupID=x device=d'))).toBe("iommu:add_device_to_group: expected 'IOMMU: groupID=N device=<device>'");
    expect(err(traceLine('a', 1, 0, '....', '1.000000', 'io_page_fault', 'IOMMU:nvme 0000:3b:00.1 iova=0x1000'))).toBe("iommu:io_page_fault: expected 'IOMMU:<driver> <device> iova=0x… flags=0x…'");
  });
});

describe('dma:* (include/trace/events/dma.h)', () => {
  const dma = (event: string, body: string) => traceLine('nvme', 77, 5, '.....', '9.000000', event, body);

  it('dma_map_phys "%s dir=%s dma_addr=%llx size=%zu phys_addr=%llx attrs=%s" (no 0x on %llx)', () => {
    expect(one(dma('dma_map_phys', '0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=1500 phys_addr=123456000 attrs=SKIP_CPU_SYNC|WEAK_ORDERING'))).toEqual({
      kind: 'trace-dma', time: 9e9, dir: 2, addr: 0xfffff000n, size: 1500n, phys: 0x123456000n,
      data: { event: 'dma:dma_map_phys', device: '0000:01:00.0', attrs: 'SKIP_CPU_SYNC|WEAK_ORDERING', ...task('nvme', 77, 5) },
    });
  });

  it.each([
    ['BIDIRECTIONAL', 0],
    ['TO_DEVICE', 1],
    ['FROM_DEVICE', 2],
    ['NONE', 3],
  ])('dir=%s → %i', (sym, dir) => {
    expect(one(dma('dma_unmap_phys', `0000:01:00.0 dir=${sym} dma_addr=1000 size=4096 attrs=`))).toEqual({
      kind: 'trace-dma', time: 9e9, dir, addr: 0x1000n, size: 4096n, data: { event: 'dma:dma_unmap_phys', device: '0000:01:00.0', ...task('nvme', 77, 5) },
    });
  });

  it('dma_alloc in the older form without dir= (6.12), and with it; dma_free; older dma_map_page', () => {
    const old = one(dma('dma_alloc', '0000:c2:00.0 dma_addr=ffff0000 size=8192 virt_addr=00000000a1b2c3d4 flags=GFP_KERNEL attrs='));
    expect(old).toEqual({
      kind: 'trace-dma', time: 9e9, addr: 0xffff0000n, size: 8192n,
      data: { event: 'dma:dma_alloc', device: '0000:c2:00.0', virt_addr: '00000000a1b2c3d4', flags: 'GFP_KERNEL', ...task('nvme', 77, 5) },
    });
    expect('dir' in old).toBe(false);
    expect(one(dma('dma_alloc_pages', '0000:c2:00.0 dir=BIDIRECTIONAL dma_addr=ffff0000 size=8192 virt_addr=00000000a1b2c3d4 flags=GFP_KERNEL|__GFP_ZERO attrs='))).toMatchObject({ dir: 0, data: { flags: 'GFP_KERNEL|__GFP_ZERO' } });
    expect(one(dma('dma_free', '0000:c2:00.0 dir=BIDIRECTIONAL dma_addr=ffff0000 size=8192 virt_addr=00000000a1b2c3d4 attrs='))).toMatchObject({ kind: 'trace-dma', addr: 0xffff0000n, size: 8192n, data: { event: 'dma:dma_free' } });
    expect(one(dma('dma_map_page', '0000:01:00.0 dir=TO_DEVICE dma_addr=2000 size=64 phys_addr=3000 attrs='))).toMatchObject({ dir: 1, addr: 0x2000n, phys: 0x3000n, data: { event: 'dma:dma_map_page' } });
  });

  it('dma_sync_single_for_device "%s dir=%s dma_addr=%llx size=%zu"', () => {
    expect(one(dma('dma_sync_single_for_device', '0000:01:00.0 dir=TO_DEVICE dma_addr=abc000 size=256'))).toEqual({
      kind: 'trace-dma', time: 9e9, dir: 1, addr: 0xabc000n, size: 256n, data: { event: 'dma:dma_sync_single_for_device', device: '0000:01:00.0', ...task('nvme', 77, 5) },
    });
  });

  it('dma_map_sg: arrays kept as printed; addr/size/phys only from one-entry arrays; [TRUNCATED]', () => {
    const many = one(dma('dma_map_sg', '0000:01:00.0 dir=FROM_DEVICE nents=2/2 ents=1/1 dma_addrs={0xfff00000} sizes={0x2000} phys_addrs={0x1000,0x5000} attrs='));
    expect(many).toEqual({
      kind: 'trace-dma', time: 9e9, dir: 2, addr: 0xfff00000n, size: 0x2000n,
      data: { event: 'dma:dma_map_sg', device: '0000:01:00.0', nents: '2/2', ents: '1/1', dma_addrs: '{0xfff00000}', sizes: '{0x2000}', phys_addrs: '{0x1000,0x5000}', ...task('nvme', 77, 5) },
    });
    const trunc = one(dma('dma_map_sg', '0000:01:00.0 dir=TO_DEVICE nents=128/300 ents=128/300 [TRUNCATED] dma_addrs={0x1000,0x2000} sizes={0x1000,0x1000} phys_addrs={0x9000,0xa000} attrs='));
    expect(trunc).toMatchObject({ dir: 1, data: { truncated: true, nents: '128/300' } });
    expect('addr' in trunc || 'size' in trunc || 'phys' in trunc).toBe(false);
    expect(one(dma('dma_unmap_sg', '0000:01:00.0 dir=TO_DEVICE phys_addrs={0x9000} attrs='))).toMatchObject({ kind: 'trace-dma', dir: 1, phys: 0x9000n, data: { event: 'dma:dma_unmap_sg' } });
  });

  it('malformed dma lines are errors', () => {
    expect(err(dma('dma_map_phys', '0000:01:00.0 dir=TO_DEVICE dma_addr=zz size=4 phys_addr=1 attrs='))).toBe(
      "dma:dma_map_phys: dma_addr=zz is not hex: expected '<device> [dir=BIDIRECTIONAL|TO_DEVICE|FROM_DEVICE|NONE ]dma_addr=<hex> size=N …'",
    );
    expect(err(dma('dma_map_phys', '0000:01:00.0 dir=TO_DEVICE dma_addr=1000 phys_addr=1 attrs='))).toMatch(/^dma:dma_map_phys: expected '<device>/);
    expect(err(dma('dma_map_phys', '0000:01:00.0 dir=TO_DEVICE dma_addr=1000 size=0x10 phys_addr=1'))).toMatch(/^dma:dma_map_phys: size=0x10 is not a decimal size/);
    expect(err(dma('dma_map_phys', 'dir=TO_DEVICE dma_addr=1000 size=16'))).toMatch(/^dma:dma_map_phys: expected/);
    expect(err(dma('dma_unmap_phys', '0000:01:00.0 garbage dma_addr=1000 size=16'))).toMatch(/^dma:dma_unmap_phys: unexpected 'garbage'/);
  });
});

describe('intel_iommu:qi_submit (drivers/iommu/intel/trace.h)', () => {
  const qi = (body: string) => traceLine('kworker/0:1', 40, 0, '.....', '7.000000', 'qi_submit', body);

  it('iotlb_inv page-selective: DID qw0[31:16], ADDR qw1[63:12], AM qw1[5:0], IH qw1[6]', () => {
    // qw0 = QI_IOTLB_DID(5) | QI_IOTLB_DR | QI_IOTLB_DW | PSI (3 << 4) | QI_IOTLB_TYPE (2)
    const qw0 = (5n << 16n) | (1n << 7n) | (1n << 6n) | (3n << 4n) | 2n;
    const qw1 = 0x7fffe000n | (1n << 6n) | 1n;
    expect(one(qi(`iotlb_inv dmar1: 0x${qw0.toString(16)} 0x${qw1.toString(16)} 0x0 0x0`))).toEqual({
      kind: 'trace-inval', time: 7e9, domain: 5, addr: 0x7fffe000n, mask: 1,
      data: { event: 'intel_iommu:qi_submit', type: 'iotlb_inv', iommu: 'dmar1', qw: ['0x500f2', '0x7fffe041', '0x0', '0x0'], granularity: 'page', ih: 1, ...task('kworker/0:1', 40, 0) },
    });
  });

  it('iotlb_inv domain-selective (domain only) and global (neither)', () => {
    const dsi = one(qi(`iotlb_inv dmar0: 0x${((0x1234n << 16n) | (2n << 4n) | 2n).toString(16)} 0x0 0x0 0x0`));
    expect(dsi).toMatchObject({ domain: 0x1234, data: { granularity: 'domain' } });
    expect('addr' in dsi || 'mask' in dsi).toBe(false);
    const glob = one(qi(`iotlb_inv dmar0: 0x12 0x0 0x0 0x0`));
    expect(glob).toMatchObject({ data: { granularity: 'global', qw: ['0x12', '0x0', '0x0', '0x0'] } });
    expect('domain' in glob || 'addr' in glob).toBe(false);
  });

  it('other descriptor types keep the raw qwords only', () => {
    const ev = one(`  kworker 3 [001] 1.000000: intel_iommu:qi_submit: inv_wait dmar0: 0x200000025 0x1fee000 0x0 0x0`);
    expect(ev).toEqual({
      kind: 'trace-inval', time: 1e9, data: { event: 'intel_iommu:qi_submit', type: 'inv_wait', iommu: 'dmar0', qw: ['0x200000025', '0x1fee000', '0x0', '0x0'], ...task('kworker', 3, 1) },
    });
  });

  it('a malformed qi_submit is an error', () => {
    expect(err(qi('iotlb_inv dmar0: 0x12 0x0 0x0'))).toBe("intel_iommu:qi_submit: expected '<type> <iommu>: 0x… 0x… 0x… 0x…'");
  });
});

describe('options/fields raw dump (trace_output.c print_fields(): `name=0x%llx (%lld)`, strings as is)', () => {
  const fl = (event: string, body: string) => traceLine('qemu-kvm', 5678, 3, '.....', '10.000000', event, body);
  const t = task('qemu-kvm', 5678, 3);

  it('map and unmap, in either field order, and an 8-byte field printed %pS (the decimal echo is the value)', () => {
    expect(one(fl('map', 'iova=0xfffff000 (4294963200) paddr=0x123456000 (4886716416) size=0x1000 (4096)'))).toEqual({
      kind: 'trace-map', time: 1e10, iova: 0xfffff000n, size: 4096n, phys: 0x123456000n, data: { event: 'iommu:map', fields: true, ...t },
    });
    expect(one(fl('map', 'size=0x2000 (8192) paddr=0x5000 (20480) iova=_stext+0x0/0x40 (-2130706432)'))).toMatchObject({ iova: 0xffffffff81000000n, size: 8192n, phys: 0x5000n });
    expect(one(fl('unmap', 'iova=0x1000 (4096) size=0x2000 (8192) unmapped_size=0x1000 (4096)'))).toEqual({
      kind: 'trace-unmap', time: 1e10, iova: 0x1000n, size: 8192n, unmapped: 4096n, data: { event: 'iommu:unmap', fields: true, ...t },
    });
  });

  it('io_page_fault, attach, group (gid -1 as u32), dma, qi_submit (type from qw0 & 0xf)', () => {
    expect(one(fl('io_page_fault', 'device=0000:3b:00.1 driver=nvme iova=0xfee00000 (4276092928) flags=0x1 (1)'))).toEqual({
      kind: 'trace-fault', time: 1e10, address: 0xfee00000n, access: 2, endpoint: 0x3b01, data: { event: 'iommu:io_page_fault', fields: true, driver: 'nvme', device: '0000:3b:00.1', flags: 1, ...t },
    });
    expect(one(fl('attach_device_to_domain', 'device=0000:02:00.0'))).toEqual({ kind: 'trace-attach', time: 1e10, op: 0, endpoint: 0x200, data: { event: 'iommu:attach_device_to_domain', fields: true, device: '0000:02:00.0', ...t } });
    expect(one(fl('remove_device_from_group', 'gid=0xffffffff (-1) device=0000:02:00.0'))).toEqual({
      kind: 'trace-group', time: 1e10, op: 1, group: 0xffffffff, data: { event: 'iommu:remove_device_from_group', fields: true, device: '0000:02:00.0', groupID: '-1', ...t },
    });
    expect(one(fl('dma_map_phys', 'device=0000:01:00.0 phys_addr=0x123456000 (4886716416) dma_addr=0xfffff000 (4294963200) size=0x5dc (1500) dir=0x2 (2) attrs=0x0 (0)'))).toEqual({
      kind: 'trace-dma', time: 1e10, dir: 2, addr: 0xfffff000n, size: 1500n, phys: 0x123456000n, data: { event: 'dma:dma_map_phys', fields: true, device: '0000:01:00.0', ...t },
    });
    expect(one(fl('dma_unmap_phys', 'device=0000:01:00.0 addr=0xfffff000 (4294963200) size=0x5dc (1500) dir=0x1 (1) attrs=0x20 (32)'))).toMatchObject({ dir: 1, addr: 0xfffff000n, data: { attrs: '0x20' } });
    expect(one(fl('qi_submit', 'qw0=0x500f2 (327922) qw1=0x7fffe041 (2147475521) qw2=0x0 (0) qw3=0x0 (0) iommu=dmar1'))).toEqual({
      kind: 'trace-inval', time: 1e10, domain: 5, addr: 0x7fffe000n, mask: 1,
      data: { event: 'intel_iommu:qi_submit', type: 'iotlb_inv', iommu: 'dmar1', qw: ['0x500f2', '0x7fffe041', '0x0', '0x0'], granularity: 'page', ih: 1, fields: true, ...t },
    });
  });

  it('a field dump missing a field is still the TP_printk error', () => {
    expect(err(fl('map', 'iova=0x1000 (4096) size=0x1000 (4096)'))).toMatch(/^iommu:map: expected 'IOMMU:/);
    expect(err(fl('qi_submit', 'qw0=0x2 (2) iommu=dmar0'))).toMatch(/^intel_iommu:qi_submit: expected/);
  });
});

describe('ignored, unknown, never throws', () => {
  it('known but not imported events of known systems are ignored, with or without the system prefix', () => {
    expect(imp.parse(traceLine('a', 1, 0, '....', '1.000000', 'prq_report', 'dmar0/0000:00:02.0 seq# 1: rwxp'))).toEqual({ t: 'ignored' });
    expect(imp.parse(`  a 1 [000] 1.000000: intel_iommu:cache_tag_flush_range: dmar0 0000:00:02.0[0] type iotlb did 1 [0x1000-0x1fff] addr 0x1000 pages 0x1 mask 0x0`)).toEqual({ t: 'ignored' });
    expect(imp.parse(traceLine('a', 1, 0, '....', '1.000000', 'map_single', 'dev=0000:00:02.0 dev_addr=0x1000 phys_addr=0x2000 size=4096'))).toEqual({ t: 'ignored' });
    expect(imp.parse(`  a 1 [000] 1.000000: iommu:dev_fault: IOMMU:0000:00:02.0 type=2 reason=0`)).toEqual({ t: 'ignored' });
  });

  it('other events, other systems, function-tracer lines and free text are unknown', () => {
    for (const l of [
      traceLine('a', 1, 0, '....', '1.000000', 'sched_switch', 'prev_comm=a prev_pid=1 ==> next_comm=b next_pid=2'),
      `  a 1 [000] 1.000000: sched:sched_switch: prev_comm=a`,
      `  a 1 [000] 1.000000: iommu:frobnicate: IOMMU: x`,
      `  a 1 [000] 1.000000: dma:dma_frob: 0000:01:00.0`,
      '          bash-1234  [001] .....   1.000000: do_sys_open <-do_syscall_64',
      'hello world',
      '[    6.849292] ice 0000:00:05.0: Using 64-bit DMA addresses',
    ]) expect(imp.parse(l), l).toEqual({ t: 'unknown' });
  });

  it('never throws on arbitrary text (seeded fuzz over mutated valid lines)', () => {
    const rnd = mulberry32(9);
    const seeds = [traceLine('bash', 1, 0, '.....', '1.000000', 'map', MAP_RANGE), `  a 1 [000] 1.000000: dma:dma_map_sg: 0000:01:00.0 dir=NONE dma_addrs={0x1} sizes={0x1}`, traceLine('a', 1, 0, null, '1.000000', 'qi_submit', 'iotlb_inv dmar0: 0x12 0x0 0x0 0x0')];
    const alphabet = ' -:[]().0123456789abcdefxIOMU=/{},\r\t';
    const kinds: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) {
      const chars = [...seeds[i % seeds.length]!];
      for (let m = 0; m < 1 + (i % 4); m++) chars[rnd() % chars.length] = alphabet[rnd() % alphabet.length]!; // mulberry32 gives u32
      const r: LineResult = imp.parse(chars.join(''));
      kinds[r.t] = (kinds[r.t] ?? 0) + 1;
    }
    expect(kinds.event).toBeGreaterThan(0);
    expect(kinds.error).toBeGreaterThan(0);
  });
});

describe('isLineStart and detect', () => {
  it('isLineStart: true for a prefixed line or a header, false for the tail of a wrapped line', () => {
    expect(imp.isLineStart(traceLine('bash', 1, 0, '.....', '1.000000', 'map', 'IOMMU: iova=0x0000'))).toBe(true);
    expect(imp.isLineStart(`  qemu-kvm 5678 [003] 1.000000: iommu:map: IOMMU:`)).toBe(true);
    expect(imp.isLineStart('# tracer: nop')).toBe(true);
    expect(imp.isLineStart('00000fff000 paddr=0x0000000123456000 size=4096')).toBe(false);
    expect(imp.isLineStart('unmapped_size=4096')).toBe(false);
  });

  it('a line wrapped in the middle of a field parses once rejoined (as the driver joins them)', () => {
    const full = traceLine('bash', 1, 0, '.....', '1.000000', 'map', MAP_RANGE);
    const cut = full.indexOf('paddr=') + 10;
    expect(imp.parse(full.slice(0, cut)).t).toBe('error');
    expect(imp.parse(full.slice(0, cut) + full.slice(cut)).t).toBe('event');
    expect(imp.parse(full.slice(0, cut) + ' ' + full.slice(cut)).t).toBe('error');
  });

  const ftraceSample = [
    '# tracer: nop',
    '#',
    '# entries-in-buffer/entries-written: 6/6   #P:8',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '#              | |         |   |||||     |         |',
    traceLine('qemu-kvm', 5678, 3, '.....', '100.000001', 'map', MAP_RANGE),
    traceLine('qemu-kvm', 5678, 3, '.....', '100.000002', 'unmap', `IOMMU: iova=0x${x16(0xfffff000n)} - 0x${x16(0x100000000n)} size=4096 unmapped_size=4096`),
    traceLine('nvme', 77, 1, 'd..1.', '100.000003', 'dma_map_phys', '0000:01:00.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=123456000 attrs='),
    traceLine('kworker/1:0', 12, 1, '.....', '100.000004', 'qi_submit', 'iotlb_inv dmar0: 0x10032 0xfffff000 0x0 0x0'),
    traceLine('bash', 1234, 0, '.....', '100.000005', 'sched_switch', 'prev_comm=bash'),
  ];
  // Kernel log (reference A1b) and QEMU -trace (A2) lines, written from their format strings.
  const kmsgSample = [
    '[    0.145769] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a',
    '[    6.849292] ice 0000:00:05.0: Using 64-bit DMA addresses',
    '[   12.000001] DMAR: DRHD: handling fault status reg 2',
    '[   12.000002] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set',
    '[   13.100000] nvme 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000d address=0xfffff000 flags=0x0020]',
    'Dec 01 10:00:00 host kernel: pci 0000:3b:00.0: Adding to iommu group 12',
    'Dec 01 10:00:01 host kernel: DMAR: [DMA Write NO_PASID] Request device [0000:3b:00.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set',
    '-- Boot 0123456789abcdef --',
    '[   14.000000] virtio_iommu virtio0: input address: 48 bits',
    '[   15.000000] arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:',
  ];
  const qemuSample = [
    '12345@1700000000.123456:virtio_iommu_attach domain=1 endpoint=8',
    '12345@1700000000.123457:virtio_iommu_map domain=1 virt_start=0xfffff000 virt_end=0xffffffff phys_start=0x123456000 flags=3',
    'virtio_iommu_unmap domain=1 virt_start=0xfffff000 virt_end=0xffffffff',
    '2025-07-01T10:00:00.123456Z virtio_iommu_translate mr=virtio-iommu-0-8 rid=8 addr=0xfffff000 flag=1',
    'vfio_iommu_map_notify iommu map @ 0xfffff000 - 0xffffffff',
    'vfio_listener_region_add_ram region_add [ram] 0x0 - 0x7fffffff [0x7f0000000000]',
    'Dec  1 10:00:00 host qemu-system-x86_64[4242]: virtio_iommu_detach domain=1 endpoint=8',
    'virtio_iommu_report_fault FAULT reason=1 flags=0 endpoint=8 address =0x1000',
    'iommufd_cdev_attach_ioas_hwpt  [iommufd=5] Successfully attached device vfio0 (8) to id=3',
    'virtio_iommu_get_config page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0xffffffffffffffff domain range start=0 domain range end=-1 probe_size=0x200 bypass=0x1',
  ];

  it('detect: ≥ 0.5 for ftrace text, ≤ 0.1 for kernel logs and QEMU -trace logs, 0 for nothing', () => {
    expect(imp.detect(ftraceSample)).toBeGreaterThanOrEqual(0.5);
    expect(imp.detect(ftraceSample)).toBe(9 / 10);
    expect(imp.detect(kmsgSample)).toBeLessThanOrEqual(0.1);
    expect(imp.detect(qemuSample)).toBeLessThanOrEqual(0.1);
    expect(imp.detect([])).toBe(0);
  });

  it('format and component', () => {
    expect(imp.format).toBe('ftrace');
    expect(imp.component).toBe('ftrace');
    imp.reset();
    expect(one(traceLine('a', 1, 0, '....', '1.000000', 'map', MAP_RANGE)).time).toBe(1e9);
  });
});
