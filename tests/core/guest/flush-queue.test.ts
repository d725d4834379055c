import { describe, it, expect } from 'vitest';
import {
  FlushQueue, IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT, IOVA_SINGLE_FQ_SIZE, IOVA_SINGLE_FQ_TIMEOUT,
  initialJiffies, msecsToJiffies, timerWheelExpiry, type FlushQueueHost, type FlushQueueOptions,
} from '../../../core/guest/flush-queue.ts';

const MS = 1_000_000;

type Log = Array<string>;

/** A host that logs flushes and frees, and checks the counters flush_iotlb_all sees. */
function recorder(): { host: FlushQueueHost; log: Log; freed: Array<[number, number, number, number]>; fq?: FlushQueue } {
  const rec: { host: FlushQueueHost; log: Log; freed: Array<[number, number, number, number]>; fq?: FlushQueue } = {
    log: [],
    freed: [],
    host: {
      flushIotlbAll() {
        // fq_flush_iotlb: start was incremented before the driver's flush, finish after.
        if (rec.fq) rec.log.push(`flush start=${rec.fq.startCnt} finish=${rec.fq.finishCnt}`);
        else rec.log.push('flush');
      },
      freeIova(pfn, pages, cpu, queuedAtNs) {
        rec.log.push(`free ${pfn} cpu${cpu}`);
        rec.freed.push([pfn, pages, cpu, queuedAtNs]);
      },
    },
  };
  return rec;
}

function make(opts: FlushQueueOptions) {
  const rec = recorder();
  const fq = new FlushQueue(opts, rec.host);
  rec.fq = fq;
  return { fq, ...rec, log: rec.log, freed: rec.freed };
}

function pendingList(fq: FlushQueue): Array<[number, number, boolean]> {
  const out: Array<[number, number, boolean]> = [];
  fq.forEachPending((pfn, _pages, cpu, _t, flushed) => out.push([pfn, cpu, flushed]));
  return out;
}

describe('limits (iommu_dma_init_options)', () => {
  it('per-CPU: 256 slots, 10 ms; single queue (shadow_on_flush): 32768 slots, 1000 ms', () => {
    expect([IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT, IOVA_SINGLE_FQ_SIZE, IOVA_SINGLE_FQ_TIMEOUT]).toEqual([256, 10, 32768, 1000]);
    const per = make({ single: false, cpus: 4 }).fq;
    expect([per.size, per.timeoutMs, per.hz, per.rings]).toEqual([256, 10, 1000, 4]);
    const one = make({ single: true, cpus: 4 }).fq;
    expect([one.size, one.timeoutMs, one.rings]).toEqual([32768, 1000, 1]);
  });

  it('refuses shapes Linux cannot have (mod_mask needs a power of two; CPUs and HZ are positive integers)', () => {
    const host = recorder().host;
    expect(() => new FlushQueue({ single: false, cpus: 1, size: 100 }, host)).toThrow(RangeError);
    expect(() => new FlushQueue({ single: false, cpus: 1, size: 1 }, host)).toThrow(RangeError);
    expect(() => new FlushQueue({ single: false, cpus: 0 }, host)).toThrow(RangeError);
    expect(() => new FlushQueue({ single: false, cpus: 1, hz: 0 }, host)).toThrow(RangeError);
    expect(() => new FlushQueue({ single: false, cpus: 1, timeoutMs: 1.5 }, host)).toThrow(RangeError);
    const fq = new FlushQueue({ single: false, cpus: 2 }, host);
    expect(() => fq.queue(1, 1, 2, 0)).toThrow(RangeError);
    expect(() => fq.queue(1, 1, -1, 0)).toThrow(RangeError);
  });
});

describe('ring capacity and the full flush (fq_full, queue_iova)', () => {
  it('holds size - 1 entries: the 256th queue on one CPU flushes synchronously, drains, then adds', () => {
    const { fq, log, freed } = make({ single: false, cpus: 2 });
    for (let i = 0; i < 255; i++) fq.queue(1000 + i, 1, 0, i);
    expect(fq.pending()).toBe(255);
    expect(fq.stats.flushes).toBe(0);
    expect(log).toEqual([]);
    fq.queue(2000, 1, 0, 300);
    expect(fq.stats).toEqual({ flushes: 1, fullFlushes: 1, timerFlushes: 0, freed: 255, queued: 256 });
    // The flush first (start 1, finish still 0 inside flush_iotlb_all), then the 255 frees on the queuing CPU.
    expect(log[0]).toBe('flush start=1 finish=0');
    expect(log.slice(1)).toEqual(Array.from({ length: 255 }, (_, i) => `free ${1000 + i} cpu0`));
    expect(freed[0]).toEqual([1000, 1, 0, 0]);
    expect([fq.startCnt, fq.finishCnt]).toEqual([1, 1]);
    // The new entry was added after the flush: counter 1, not yet covered by a finished flush.
    expect(pendingList(fq)).toEqual([[2000, 0, false]]);
    expect(fq.lastFlushNs).toBe(300);
  });

  it('a 4-slot ring holds 3; the other CPU ring is independent', () => {
    const { fq } = make({ single: false, cpus: 2, size: 4 });
    for (let i = 0; i < 3; i++) fq.queue(i, 1, 0, 0);
    for (let i = 0; i < 3; i++) fq.queue(10 + i, 1, 1, 0);
    expect(fq.stats.flushes).toBe(0);
    expect(fq.pending()).toBe(6);
    fq.queue(3, 1, 0, 0);
    expect(fq.stats.fullFlushes).toBe(1);
    expect(fq.pending()).toBe(4);
  });

  it("frees what another CPU's flush covered before checking fq_full, on the queuing CPU", () => {
    const { fq, log } = make({ single: false, cpus: 2, size: 4 });
    fq.queue(100, 1, 1, 0); // CPU 1, counter 0
    for (let i = 0; i < 3; i++) fq.queue(i, 1, 0, 0);
    fq.queue(3, 1, 0, 0); // CPU 0 full: flush; frees CPU 0's three only
    expect(log).toEqual(['flush start=1 finish=0', 'free 0 cpu0', 'free 1 cpu0', 'free 2 cpu0']);
    // CPU 1's entry is flushed but still queued until CPU 1 queues again (or the timer runs).
    expect(pendingList(fq)).toEqual([[3, 0, false], [100, 1, true]]);
    log.length = 0;
    fq.queue(101, 1, 1, 0);
    expect(log).toEqual(['free 100 cpu1']);
    expect(fq.stats.flushes).toBe(1);
  });

  it('frees only entries whose counter is below the finish count, stopping at the first that is not', () => {
    const { fq, log } = make({ single: false, cpus: 1, size: 4 });
    for (let i = 0; i < 3; i++) fq.queue(i, 1, 0, 0);
    fq.queue(3, 1, 0, 0); // full flush #1: frees 0..2, adds 3 with counter 1
    fq.queue(4, 1, 0, 0);
    fq.queue(5, 1, 0, 0); // ring: 3, 4, 5 (all counter 1): full again
    log.length = 0;
    fq.queue(6, 1, 0, 0); // nothing freeable before the flush; flush #2 frees 3, 4, 5
    expect(log).toEqual(['flush start=2 finish=1', 'free 3 cpu0', 'free 4 cpu0', 'free 5 cpu0']);
    expect([fq.startCnt, fq.finishCnt, fq.pending()]).toEqual([2, 2, 1]);
  });
});

describe('the timer (fq_timer_on, mod_timer, fq_flush_timeout)', () => {
  it('is armed once, by the first queue, for jiffies + msecs_to_jiffies(10), and fires one tick after expires', () => {
    const { fq } = make({ single: false, cpus: 4 });
    expect(fq.timerDeadlineNs()).toBe(-1);
    fq.queue(1, 1, 2, 0);
    const j0 = initialJiffies(1000);
    expect(fq.timerExpiresJiffies()).toBe(j0 + 10);
    expect(fq.timerDeadlineNs()).toBe(11 * MS);
    expect(fq.timerCpu()).toBe(2);
    fq.queue(2, 1, 0, 5 * MS);
    fq.queue(3, 1, 3, 10 * MS);
    expect(fq.timerDeadlineNs()).toBe(11 * MS);
    expect(fq.timerCpu()).toBe(2);
  });

  it('fires: flushes once, frees every CPU ring on the arming CPU, and is not re-armed', () => {
    const { fq, log, freed } = make({ single: false, cpus: 4 });
    fq.queue(1, 1, 2, 0);
    fq.queue(2, 4, 0, 1 * MS);
    fq.queue(3, 1, 3, 2 * MS);
    fq.fire(11 * MS);
    expect(log).toEqual(['flush start=1 finish=0', 'free 2 cpu2', 'free 1 cpu2', 'free 3 cpu2']);
    expect(freed[0]).toEqual([2, 4, 2, 1 * MS]);
    expect(fq.stats).toEqual({ flushes: 1, fullFlushes: 0, timerFlushes: 1, freed: 3, queued: 3 });
    expect([fq.pending(), fq.timerDeadlineNs(), fq.timerCpu()]).toEqual([0, -1, -1]);
    fq.fire(20 * MS); // not armed: nothing
    expect(fq.stats.flushes).toBe(1);
    fq.queue(4, 1, 1, 30.5 * MS); // re-armed from its own jiffy: 30 + 10 + 1
    expect(fq.timerDeadlineNs()).toBe(41 * MS);
    expect(fq.timerCpu()).toBe(1);
  });

  it('runs the overdue handler first when a queue comes at or after the deadline', () => {
    const { fq, log } = make({ single: false, cpus: 2 });
    fq.queue(1, 1, 0, 0);
    fq.queue(2, 1, 1, 11 * MS);
    expect(log).toEqual(['flush start=1 finish=0', 'free 1 cpu0']);
    expect(fq.lastFlushNs).toBe(11 * MS);
    expect(pendingList(fq)).toEqual([[2, 1, false]]);
    expect(fq.timerDeadlineNs()).toBe(22 * MS);
  });

  it('single queue: one ring shared by every CPU, 32767 entries, 1000 ms rounded up by the wheel to 1056 ms', () => {
    const { fq, log } = make({ single: true, cpus: 2 });
    fq.queue(1, 1, 1, 0);
    expect(fq.timerExpiresJiffies()).toBe(initialJiffies(1000) + 1000);
    // Level 2 of the timer wheel (64-jiffy granularity); INITIAL_JIFFIES is 32 mod 64.
    expect(fq.timerDeadlineNs()).toBe(1056 * MS);
    for (let i = 2; i <= 32767; i++) fq.queue(i, 1, i % 2, 1);
    expect([fq.pending(), fq.stats.flushes]).toEqual([32767, 0]);
    fq.queue(40000, 1, 1, 2);
    expect(fq.stats.fullFlushes).toBe(1);
    expect(fq.stats.freed).toBe(32767);
    // Frees run on the queuing CPU, whichever CPU queued the entry.
    expect(log[1]).toBe('free 1 cpu1');
    expect(log[2]).toBe('free 2 cpu1');
    const single = make({ single: true, cpus: 2, initialJiffies: 0 }).fq;
    single.queue(1, 1, 0, 0);
    expect(single.timerDeadlineNs()).toBe(1024 * MS);
  });

  it('single-queue timer frees the shared ring on the arming CPU', () => {
    const { fq, log } = make({ single: true, cpus: 3 });
    fq.queue(1, 1, 2, 0);
    fq.queue(2, 1, 0, 0);
    fq.fire(fq.timerDeadlineNs());
    expect(log).toEqual(['flush start=1 finish=0', 'free 1 cpu2', 'free 2 cpu2']);
  });
});

describe('HZ rounding (msecs_to_jiffies, tick edges, timer wheel)', () => {
  it('msecs_to_jiffies rounds up', () => {
    expect(msecsToJiffies(10, 1000)).toBe(10);
    expect(msecsToJiffies(10, 250)).toBe(3);
    expect(msecsToJiffies(8, 250)).toBe(2);
    expect(msecsToJiffies(10, 100)).toBe(1);
    expect(msecsToJiffies(11, 100)).toBe(2);
    expect(msecsToJiffies(10, 300)).toBe(3);
    expect(msecsToJiffies(11, 300)).toBe(4);
    expect(msecsToJiffies(1000, 300)).toBe(300);
    expect(msecsToJiffies(1, 2000)).toBe(2);
    expect(msecsToJiffies(0, 250)).toBe(0);
  });

  it('HZ=250: 10 ms is 3 jiffies; the handler runs at the 4th tick edge after the arming tick', () => {
    const { fq } = make({ single: false, cpus: 1, hz: 250 });
    fq.queue(1, 1, 0, 0);
    expect(fq.timerDeadlineNs()).toBe(16 * MS);
    const late = make({ single: false, cpus: 1, hz: 250 }).fq;
    late.queue(1, 1, 0, 5 * MS); // tick 1 (4 ms)
    expect(late.timerDeadlineNs()).toBe(20 * MS);
  });

  it('HZ=100 and HZ=300 (a tick that is not a whole number of ns)', () => {
    const a = make({ single: false, cpus: 1, hz: 100 }).fq;
    a.queue(1, 1, 0, 9.999 * MS);
    expect(a.timerDeadlineNs()).toBe(20 * MS);
    const b = make({ single: false, cpus: 1, hz: 300 }).fq;
    b.queue(1, 1, 0, 0);
    expect(b.timerDeadlineNs()).toBe(13_333_334); // 4 ticks of 1/300 s, first whole ns
    const c = make({ single: false, cpus: 1, hz: 300 }).fq;
    c.queue(2, 1, 0, 3_333_334); // tick 1 starts at 3333333.3 ns
    expect(c.timerDeadlineNs()).toBe(16_666_667);
    const d = make({ single: false, cpus: 1, hz: 300 }).fq;
    d.queue(2, 1, 0, 3_333_333); // still tick 0
    expect(d.timerDeadlineNs()).toBe(13_333_334);
  });

  it('the wheel rounds up by level (calc_wheel_index / calc_index)', () => {
    expect(timerWheelExpiry(62, 0, 1000)).toBe(63); // level 0: expires + 1
    expect(timerWheelExpiry(63, 0, 1000)).toBe(64); // level 1: 8-jiffy granularity
    expect(timerWheelExpiry(64, 0, 1000)).toBe(72);
    expect(timerWheelExpiry(503, 0, 1000)).toBe(504);
    expect(timerWheelExpiry(504, 0, 1000)).toBe(512); // level 2: 64
    // The level is chosen by delta = expires - clk, the rounding by expires itself.
    expect(timerWheelExpiry(63, 1, 1000)).toBe(64); // delta 62: level 0
    expect(timerWheelExpiry(64, 1, 1000)).toBe(72); // delta 63: level 1
    expect(timerWheelExpiry(513, 10, 1000)).toBe(520); // delta 503: level 1
    expect(timerWheelExpiry(514, 10, 1000)).toBe(576); // delta 504: level 2
    expect(timerWheelExpiry(5, 10, 1000)).toBe(10); // already expired: the current clk
    expect(timerWheelExpiry(2e9, 0, 1000)).toBe(1056964608); // capped at WHEEL_TIMEOUT_MAX, level 8
    expect(timerWheelExpiry(2e9, 0, 100)).toBe(132120576); // HZ <= 100: 8 levels
  });
});

describe('forEachPending and teardown', () => {
  it('lists entries ring by ring with the queuing CPU, time and whether a flush covered them', () => {
    const { fq } = make({ single: false, cpus: 2, size: 4 });
    fq.queue(10, 2, 1, 5);
    fq.queue(20, 3, 0, 6);
    const seen: Array<[number, number, number, number, boolean]> = [];
    fq.forEachPending((...a) => seen.push(a));
    expect(seen).toEqual([[20, 3, 0, 6, false], [10, 2, 1, 5, false]]);
  });

  it('iommu_dma_free_fq drops the entries without freeing them and cancels the timer', () => {
    const { fq, log } = make({ single: false, cpus: 2 });
    fq.queue(1, 1, 0, 0);
    fq.queue(2, 1, 1, 0);
    expect(fq.free()).toBe(2);
    expect([fq.pending(), fq.timerDeadlineNs()]).toEqual([0, -1]);
    fq.fire(20 * MS);
    expect(log).toEqual([]);
  });
});
