/**
 * dma-iommu's flush queues: lazy (`iommu.strict=0`, domain type IOMMU_DOMAIN_DMA_FQ) IOTLB
 * invalidation. Linux drivers/iommu/dma-iommu.c: `queue_iova`, `fq_ring_add`, `fq_full`,
 * `fq_ring_free_locked`, `fq_flush_iotlb`, `fq_flush_timeout`, `iommu_dma_init_fq`,
 * `iommu_dma_init_options`, `iommu_dma_free_fq`; reference: trace-formats-and-guest-dma.md §B3.
 *
 * What holds (the rules the tests pin):
 * - A ring of `size` slots (a power of two: `mod_mask = fq_size - 1`) holds at most size - 1
 *   entries: `fq_full` is `((tail + 1) & mod_mask) == head`.
 * - Each entry records `fq_flush_start_cnt` when added; `fq_flush_iotlb` increments start, calls
 *   the driver's `flush_iotlb_all`, then increments finish. An entry is freed (free_iova_fast)
 *   only once `counter < fq_flush_finish_cnt`, walking from head and stopping at the first entry
 *   that is not (entries are in counter order).
 * - queue_iova on CPU c, in order: free what earlier flushes already covered in the ring it uses;
 *   if that ring is full, flush synchronously and free again; add the entry; arm the timer if it
 *   is not armed (`fq_timer_on`), once, for `jiffies + msecs_to_jiffies(fq_timeout)`.
 * - The timer handler clears `fq_timer_on`, flushes, then frees every CPU's ring (or the single
 *   queue). It is not re-armed: the next queue_iova arms it.
 * - Per-CPU mode (the default): one ring per CPU, `IOVA_DEFAULT_FQ_SIZE` 256 slots,
 *   `IOVA_DEFAULT_FQ_TIMEOUT` 10 ms. Single-queue mode (`dev->iommu->shadow_on_flush`, set by
 *   drivers whose IOTLB flushes are shadowed by a hypervisor: upstream s390): one shared ring,
 *   `IOVA_SINGLE_FQ_SIZE` 32768 slots, `IOVA_SINGLE_FQ_TIMEOUT` 1000 ms.
 *
 * Which CPU frees (it matters: free_iova_fast puts the IOVA in that CPU's rcache magazine): the
 * queuing CPU for the frees inside queue_iova, the CPU that armed the timer for the handler's
 * (a timer_list runs where it was armed; timer migration to a busy CPU under NO_HZ is not
 * modelled).
 *
 * Time: virtual ns from the run's start; jiffies(t) = INITIAL_JIFFIES + floor(t · HZ / 10^9) (the
 * run starts at boot, at a tick edge; kernel/time/jiffies.c). The handler runs when the timer wheel
 * expires it, which is later than `expires` (kernel/time/timer.c `calc_wheel_index` /
 * `calc_index`: the bucket is rounded up to the level's granularity, plus one, so that a timer
 * never fires early): 10 ms at HZ=1000 fires 11 jiffies after the arming tick, 1000 ms (level 2,
 * 64-jiffy granularity) up to 64 jiffies after `expires`. The base's `clk` is taken as the arming
 * jiffy (`forward_timer_base`).
 */

/** Entries per flush queue, per-CPU mode (dma-iommu.c IOVA_DEFAULT_FQ_SIZE). */
export const IOVA_DEFAULT_FQ_SIZE = 256;
/** Entries of the single flush queue (dma-iommu.c IOVA_SINGLE_FQ_SIZE). */
export const IOVA_SINGLE_FQ_SIZE = 32768;
/** Timeout in ms after which the per-CPU queues are flushed (IOVA_DEFAULT_FQ_TIMEOUT). */
export const IOVA_DEFAULT_FQ_TIMEOUT = 10;
/** Timeout in ms of the single queue (IOVA_SINGLE_FQ_TIMEOUT). */
export const IOVA_SINGLE_FQ_TIMEOUT = 1000;

/** What the queue calls back into: the domain's driver and the IOVA allocator. */
export interface FlushQueueHost {
  /**
   * `domain->ops->flush_iotlb_all` (virtio-iommu: `viommu_flush_iotlb_all`, a sync of the
   * request queue). Called between the start and finish counter increments.
   */
  flushIotlbAll(): void;
  /**
   * `free_iova_fast(iovad, pfn, pages)` on `cpu`, the CPU that runs the free. `queuedAtNs` is when
   * the entry was queued (the unmap): the stale-IOTLB window is from then to the flush.
   */
  freeIova(pfn: number, pages: number, cpu: number, queuedAtNs: number): void;
}

/** The queue's shape (iommu_dma_init_options, plus the kernel's HZ). */
export interface FlushQueueOptions {
  /** One shared queue (`shadow_on_flush`) instead of one per CPU. */
  single: boolean;
  /** Possible CPUs (`for_each_possible_cpu`), integer >= 1; `queue`'s cpu is 0..cpus-1. */
  cpus: number;
  /** Slots per ring, a power of two >= 2 (holds size - 1 entries); default 256 or 32768. */
  size?: number;
  /** `fq_timeout` in ms, an integer >= 0; default 10 or 1000. */
  timeoutMs?: number;
  /** CONFIG_HZ (ticks per second, integer >= 1), default 1000: msecs_to_jiffies rounding and tick edges. */
  hz?: number;
  /** jiffies at virtual time 0; default INITIAL_JIFFIES for `hz` (64-bit: 2^32 - 300·HZ). */
  initialJiffies?: number;
}

/** INITIAL_JIFFIES on a 64-bit kernel: `(unsigned long)(unsigned int)(-300*HZ)` (include/linux/jiffies.h). */
export function initialJiffies(hz: number): number {
  return 4294967296 - ((300 * hz) % 4294967296);
}

/**
 * msecs_to_jiffies(m) for a run-time m (include/linux/jiffies.h `_msecs_to_jiffies`): rounds up.
 * HZ dividing 1000: `(m + 1000/HZ - 1) / (1000/HZ)`; HZ a multiple of 1000: `m * (HZ/1000)`;
 * otherwise the MSEC_TO_HZ_MUL32/ADJ32 fixed-point form, which is the same ceiling (e.g. HZ=300:
 * 10 ms → 3). Example: 10 ms is 10 jiffies at HZ=1000, 3 (12 ms) at HZ=250, 1 at HZ=100.
 */
export function msecsToJiffies(ms: number, hz: number): number {
  if (1000 % hz === 0) {
    const per = 1000 / hz;
    return Math.floor((ms + per - 1) / per);
  }
  if (hz % 1000 === 0) return ms * (hz / 1000);
  return Math.ceil((ms * hz) / 1000);
}

// kernel/time/timer.c wheel geometry.
const LVL_CLK_SHIFT = 3;
const LVL_BITS = 6;
const LVL_SIZE = 1 << LVL_BITS;

/** LVL_START(n): the smallest delta placed in level n. */
function lvlStart(n: number): number {
  return (LVL_SIZE - 1) * 2 ** ((n - 1) * LVL_CLK_SHIFT);
}

/** calc_index's bucket_expiry: `((expires >> LVL_SHIFT(lvl)) + 1) << LVL_SHIFT(lvl)`. */
function bucketExpiry(expires: number, lvl: number): number {
  const gran = 2 ** (lvl * LVL_CLK_SHIFT);
  return (Math.floor(expires / gran) + 1) * gran;
}

/**
 * The jiffy at which a timer_list armed for `expires` runs, with the base's clock at `clk`
 * (kernel/time/timer.c calc_wheel_index → calc_index's `bucket_expiry`; the softirq runs the bucket
 * when the base's clk reaches it). LVL_DEPTH is 9 when HZ > 100, else 8; deltas past
 * WHEEL_TIMEOUT_CUTOFF are capped to WHEEL_TIMEOUT_MAX; an expired `expires` runs at `clk`.
 */
export function timerWheelExpiry(expires: number, clk: number, hz: number): number {
  const depth = hz > 100 ? 9 : 8;
  const delta = expires - clk;
  if (delta < 0) return clk;
  for (let lvl = 0; lvl < depth - 1; lvl++) {
    if (delta < lvlStart(lvl + 1)) return bucketExpiry(expires, lvl);
  }
  const cutoff = lvlStart(depth);
  if (delta >= cutoff) expires = clk + cutoff - 2 ** ((depth - 1) * LVL_CLK_SHIFT);
  return bucketExpiry(expires, depth - 1);
}

/** The counters and totals a run reports. */
export interface FlushQueueStats {
  /** fq_flush_iotlb calls (flush_iotlb_all): fullFlushes + timerFlushes. */
  flushes: number;
  /** Flushes because the ring queue_iova used was full. */
  fullFlushes: number;
  /** Flushes by the timeout handler. */
  timerFlushes: number;
  /** Entries freed (free_iova_fast calls). */
  freed: number;
  /** Entries queued (queue_iova calls). */
  queued: number;
}

/**
 * The flush queue(s) of one DMA_FQ domain (the cookie's `percpu_fq` or `single_fq`, its counters
 * and `fq_timer`). Entries live in flat typed arrays (ring r's slots at r·size …), no allocation
 * per call.
 */
export class FlushQueue {
  /** fq_flush_start_cnt: flushes started. */
  get startCnt(): number {
    return this.start;
  }
  /** fq_flush_finish_cnt: flushes finished. */
  get finishCnt(): number {
    return this.finish;
  }
  /** Totals (see {@link FlushQueueStats}). */
  stats: FlushQueueStats = { flushes: 0, fullFlushes: 0, timerFlushes: 0, freed: 0, queued: 0 };
  /** Virtual ns of the last fq_flush_iotlb, -1 before the first. */
  lastFlushNs = -1;

  /** Slots per ring (fq_size). */
  readonly size: number;
  /** fq_timeout in ms. */
  readonly timeoutMs: number;
  /** CONFIG_HZ. */
  readonly hz: number;
  /** Rings: 1 (single) or cpus. */
  readonly rings: number;
  readonly cpus: number;
  readonly single: boolean;

  private readonly host: FlushQueueHost;
  private readonly mask: number;
  private readonly jiffies0: number;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly pfn: Float64Array;
  private readonly pages: Float64Array;
  private readonly counter: Float64Array;
  private readonly queuedAt: Float64Array;
  private readonly cpuOf: Int32Array;
  private start = 0;
  private finish = 0;
  private pendingCount = 0;
  private timerOn = false;
  private armedCpu = -1;
  private deadlineNs = -1;
  private expiresJiffies = -1;

  /**
   * iommu_dma_init_options + iommu_dma_init_fq: counters at 0, empty rings, timer not armed.
   * @throws RangeError on options Linux could not have (cpus < 1, size not a power of two >= 2,
   *   timeoutMs not an integer >= 0, hz not an integer >= 1): the scenario layer validates first.
   */
  constructor(opts: FlushQueueOptions, host: FlushQueueHost) {
    const size = opts.size ?? (opts.single ? IOVA_SINGLE_FQ_SIZE : IOVA_DEFAULT_FQ_SIZE);
    const timeoutMs = opts.timeoutMs ?? (opts.single ? IOVA_SINGLE_FQ_TIMEOUT : IOVA_DEFAULT_FQ_TIMEOUT);
    const hz = opts.hz ?? 1000;
    if (!Number.isInteger(opts.cpus) || opts.cpus < 1) throw new RangeError(`FlushQueue: cpus ${opts.cpus} (an integer >= 1)`);
    if (!Number.isInteger(size) || size < 2 || size > 2 ** 30 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FlushQueue: size ${size} (a power of two >= 2: mod_mask = fq_size - 1)`);
    }
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new RangeError(`FlushQueue: timeoutMs ${timeoutMs} (an integer >= 0)`);
    if (!Number.isInteger(hz) || hz < 1) throw new RangeError(`FlushQueue: hz ${hz} (an integer >= 1)`);
    this.single = opts.single;
    this.cpus = opts.cpus;
    this.size = size;
    this.timeoutMs = timeoutMs;
    this.hz = hz;
    this.jiffies0 = opts.initialJiffies ?? initialJiffies(hz);
    this.host = host;
    this.mask = size - 1;
    this.rings = opts.single ? 1 : opts.cpus;
    this.head = new Int32Array(this.rings);
    this.tail = new Int32Array(this.rings);
    const slots = this.rings * size;
    this.pfn = new Float64Array(slots);
    this.pages = new Float64Array(slots);
    this.counter = new Float64Array(slots);
    this.queuedAt = new Float64Array(slots);
    this.cpuOf = new Int32Array(slots);
  }

  /**
   * queue_iova on `cpu` at `nowNs`: the IOVA range `pfn`..`pfn + pages - 1` (granules), already
   * unmapped with iommu_unmap_fast and not yet flushed, waits for a flush before it is freed.
   * If the armed timer's deadline is at or before `nowNs`, the handler runs first (at its
   * deadline), as it would have in the kernel.
   * @throws RangeError when cpu is not an integer in 0..cpus-1.
   */
  queue(pfn: number, pages: number, cpu: number, nowNs: number): void {
    if (!(cpu >= 0 && cpu < this.cpus && (cpu | 0) === cpu)) throw new RangeError(`FlushQueue.queue: cpu ${cpu} outside 0..${this.cpus - 1}`);
    if (this.timerOn && nowNs >= this.deadlineNs) this.fire(this.deadlineNs);
    const ring = this.single ? 0 : cpu;
    // "First remove all entries from the flush queue that have already been flushed out on
    // another CPU": fq_ring_free_locked before the fq_full check.
    this.ringFree(ring, cpu);
    if (this.full(ring)) {
      this.stats.fullFlushes++;
      this.flushIotlb(nowNs);
      this.ringFree(ring, cpu);
    }
    // fq_ring_add, then the entry; its counter is read after any flush above.
    const t = this.tail[ring];
    const idx = ring * this.size + t;
    this.tail[ring] = (t + 1) & this.mask;
    this.pfn[idx] = pfn;
    this.pages[idx] = pages;
    this.counter[idx] = this.start;
    this.queuedAt[idx] = nowNs;
    this.cpuOf[idx] = cpu;
    this.pendingCount++;
    this.stats.queued++;
    if (!this.timerOn) this.arm(cpu, nowNs);
  }

  /** Virtual ns at which the armed timer's handler runs, or -1 when no timer is armed. */
  timerDeadlineNs(): number {
    return this.deadlineNs;
  }

  /** The armed timer's `expires` in jiffies (jiffies + msecs_to_jiffies(timeout)), or -1. */
  timerExpiresJiffies(): number {
    return this.expiresJiffies;
  }

  /** The CPU that armed the timer (whose rcache the handler frees into), or -1. */
  timerCpu(): number {
    return this.armedCpu;
  }

  /**
   * fq_flush_timeout: the timer handler. Clears fq_timer_on, flushes (fq_flush_iotlb), then frees
   * every ring's flushed entries on the arming CPU. Nothing happens when no timer is armed.
   * @param nowNs the handler's virtual time (normally {@link timerDeadlineNs}).
   */
  fire(nowNs: number): void {
    if (!this.timerOn) return;
    const cpu = this.armedCpu;
    this.timerOn = false;
    this.armedCpu = -1;
    this.deadlineNs = -1;
    this.expiresJiffies = -1;
    this.stats.timerFlushes++;
    this.flushIotlb(nowNs);
    for (let r = 0; r < this.rings; r++) this.ringFree(r, cpu);
  }

  /** Entries waiting in all rings (queued, not yet freed). */
  pending(): number {
    return this.pendingCount;
  }

  /**
   * Visits every waiting entry, ring by ring (CPU order), head to tail. `cpu` is the CPU that
   * queued it; `flushed` is true when a flush has finished since (counter < finish count): its
   * IOTLB entries are gone and only the free is pending.
   */
  forEachPending(visit: (pfn: number, pages: number, cpu: number, queuedAtNs: number, flushed: boolean) => void): void {
    for (let r = 0; r < this.rings; r++) {
      const base = r * this.size;
      for (let i = this.head[r]; i !== this.tail[r]; i = (i + 1) & this.mask) {
        const idx = base + i;
        visit(this.pfn[idx], this.pages[idx], this.cpuOf[idx], this.queuedAt[idx], this.counter[idx] < this.finish);
      }
    }
  }

  /**
   * iommu_dma_free_fq (domain teardown): the timer is deleted and the rings dropped without
   * free_iova_fast (put_iova_domain tears the IOVAs down separately).
   * @returns the entries dropped.
   */
  free(): number {
    const dropped = this.pendingCount;
    this.timerOn = false;
    this.armedCpu = -1;
    this.deadlineNs = -1;
    this.expiresJiffies = -1;
    this.head.fill(0);
    this.tail.fill(0);
    this.pendingCount = 0;
    return dropped;
  }

  /** fq_full: `((tail + 1) & mod_mask) == head`. */
  private full(ring: number): boolean {
    return ((this.tail[ring] + 1) & this.mask) === this.head[ring];
  }

  /** fq_flush_iotlb: start++, flush_iotlb_all, finish++. */
  private flushIotlb(nowNs: number): void {
    this.start++;
    this.stats.flushes++;
    this.lastFlushNs = nowNs;
    this.host.flushIotlbAll();
    this.finish++;
  }

  /** fq_ring_free_locked: free from head while `counter < fq_flush_finish_cnt`, on `cpu`. */
  private ringFree(ring: number, cpu: number): void {
    const finish = this.finish;
    const base = ring * this.size;
    const tail = this.tail[ring];
    let head = this.head[ring];
    while (head !== tail) {
      const idx = base + head;
      if (this.counter[idx] >= finish) break;
      head = (head + 1) & this.mask;
      this.head[ring] = head;
      this.pendingCount--;
      this.stats.freed++;
      this.host.freeIova(this.pfn[idx], this.pages[idx], cpu, this.queuedAt[idx]);
    }
  }

  /** mod_timer(&fq_timer, jiffies + msecs_to_jiffies(fq_timeout)) on `cpu` at `nowNs`. */
  private arm(cpu: number, nowNs: number): void {
    const j = this.jiffiesAt(nowNs);
    const expires = j + msecsToJiffies(this.timeoutMs, this.hz);
    this.timerOn = true;
    this.armedCpu = cpu;
    this.expiresJiffies = expires;
    this.deadlineNs = this.nsAtJiffy(timerWheelExpiry(expires, j, this.hz));
  }

  /** jiffies at `ns`: INITIAL_JIFFIES + floor(ns · HZ / 10^9), exact for ns < 2^53. */
  private jiffiesAt(ns: number): number {
    const s = Math.floor(ns / 1e9);
    const rem = ns - s * 1e9;
    return this.jiffies0 + s * this.hz + Math.floor((rem * this.hz) / 1e9);
  }

  /** The first virtual ns at which jiffies reaches `jiffy` (its tick edge). */
  private nsAtJiffy(jiffy: number): number {
    const ticks = jiffy - this.jiffies0;
    const s = Math.floor(ticks / this.hz);
    const rem = ticks - s * this.hz;
    return s * 1e9 + Math.ceil((rem * 1e9) / this.hz);
  }
}
