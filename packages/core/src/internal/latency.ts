// A rolling latency histogram whose memory does not grow with the calls it records: log-linear buckets (as
// HdrHistogram's, 16 per power of two of microseconds), counted in slots of a window of time, with the window's
// total kept up to date so a percentile is one scan of the buckets. Times come from the callers (the Clock).

const subBits = 4
const subBuckets = 1 << subBits
const maxMicros = 2 ** 32 - 1
/** The number of buckets: exact microseconds below 16, then 16 per power of two up to 2^32 µs (~71 minutes). */
export const bucketCount = (32 - subBits + 1) * subBuckets

/** The bucket of a duration in milliseconds (negative or NaN: 0). */
export const bucketOf = (millis: number): number => {
  const micros = millis > 0 ? Math.min(maxMicros, Math.floor(millis * 1000)) : 0
  if (micros < subBuckets) return micros
  const octave = 31 - Math.clz32(micros)
  return (octave - subBits + 1) * subBuckets + ((micros >>> (octave - subBits)) & (subBuckets - 1))
}

/** The value a bucket reports, in milliseconds: its midpoint (the value itself for the exact buckets below 16 µs). */
export const valueOf = (bucket: number): number => {
  if (bucket < subBuckets) return bucket / 1000
  const octave = Math.floor(bucket / subBuckets) + subBits - 1
  const width = 2 ** (octave - subBits)
  const low = (subBuckets + (bucket % subBuckets)) * width
  return (low + (width - 1) / 2) / 1000
}

/** How long the window is and in how many slots it is counted (default 60 seconds in 6). */
export interface LatencyOptions {
  readonly windowMillis?: number | undefined
  readonly slots?: number | undefined
}

/** Percentiles of a window, in milliseconds (zeros when it is empty); `max` is its highest bucket's midpoint. */
export interface Percentiles {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/**
 * The durations recorded over the last `windowMillis` (to within one slot): `record` is O(1) and allocates nothing;
 * a quantile scans the window's total once. A quantile is nearest-rank: the smallest bucket holding at least
 * `ceil(q × count)` of the recordings at or below it, reported as that bucket's midpoint (within 1/32 of the
 * values in it).
 */
export class LatencyWindow {
  /** Recordings since the window was made, for {@link CachedQuantile}. */
  recorded = 0
  private readonly slotMillis: number
  private readonly counts: Array<Uint32Array>
  private readonly totals = new Float64Array(bucketCount)
  private readonly sizes: Float64Array
  private total = 0
  private current = -Infinity

  constructor(options?: LatencyOptions) {
    const slots = options?.slots ?? 6
    this.slotMillis = (options?.windowMillis ?? 60_000) / slots
    this.counts = Array.from({ length: slots }, () => new Uint32Array(bucketCount))
    this.sizes = new Float64Array(slots)
  }

  // the slots that fell out of the window since the last call are emptied (time going backwards stays put)
  private advance(now: number): number {
    const slot = Math.floor(now / this.slotMillis)
    const slots = this.counts.length
    if (slot > this.current) {
      const gap = Math.min(slots, this.current === -Infinity ? slots : slot - this.current)
      for (let i = 0; i < gap; i++) {
        const at = (((slot - i) % slots) + slots) % slots
        if (this.sizes[at] === 0) continue
        const counts = this.counts[at]!
        for (let b = 0; b < bucketCount; b++) {
          if (counts[b] !== 0) {
            this.totals[b]! -= counts[b]!
            counts[b] = 0
          }
        }
        this.total -= this.sizes[at]!
        this.sizes[at] = 0
      }
      this.current = slot
    }
    return (((this.current % slots) + slots) % slots)
  }

  /** Records one duration in milliseconds at `now`. */
  record(millis: number, now: number): void {
    const at = this.advance(now)
    const bucket = bucketOf(millis)
    this.counts[at]![bucket]!++
    this.totals[bucket]!++
    this.sizes[at]!++
    this.total++
    this.recorded++
  }

  /** The number of recordings in the window at `now`. */
  count(now: number): number {
    this.advance(now)
    return this.total
  }

  /** The `q`-quantile (0 < q <= 1) of the window at `now`, in milliseconds; `undefined` when it is empty. */
  quantile(q: number, now: number): number | undefined {
    this.advance(now)
    if (this.total === 0) return undefined
    const rank = Math.max(1, Math.ceil(q * this.total))
    let seen = 0
    for (let b = 0; b < bucketCount; b++) {
      seen += this.totals[b]!
      if (seen >= rank) return valueOf(b)
    }
    return undefined
  }

  /** p50, p90, p99 and the maximum of the window at `now`, in one scan. */
  percentiles(now: number): Percentiles {
    this.advance(now)
    const count = this.total
    if (count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0 }
    const ranks = [Math.ceil(0.5 * count), Math.ceil(0.9 * count), Math.ceil(0.99 * count)]
    const found = [0, 0, 0]
    let next = 0
    let seen = 0
    let max = 0
    for (let b = 0; b < bucketCount; b++) {
      if (this.totals[b] === 0) continue
      seen += this.totals[b]!
      max = valueOf(b)
      while (next < 3 && seen >= ranks[next]!) found[next++] = max
    }
    return { count, p50: found[0]!, p90: found[1]!, p99: found[2]!, max }
  }
}

/**
 * A quantile of a window, recomputed at most every `refreshMillis` of `now` or after `refreshCount` new
 * recordings, whichever comes first, so a caller on every call does not scan the window each time.
 */
export class CachedQuantile {
  private value: number | undefined = undefined
  private at = -Infinity
  private seen = -Infinity

  constructor(
    private readonly window: LatencyWindow,
    private readonly q: number,
    private readonly refreshMillis = 1000,
    private readonly refreshCount = 100
  ) {}

  /** The quantile at `now`, from the last computation unless it is stale. */
  get(now: number): number | undefined {
    if (now - this.at >= this.refreshMillis || now < this.at || this.window.recorded - this.seen >= this.refreshCount) {
      this.value = this.window.quantile(this.q, now)
      this.at = now
      this.seen = this.window.recorded
    }
    return this.value
  }
}
