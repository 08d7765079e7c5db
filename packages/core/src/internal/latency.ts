// A rolling latency histogram whose memory does not grow with the calls it records: log-linear buckets (as
// HdrHistogram's, 16 per power of two of microseconds), counted in slots of a window of time, with the window's
// total kept up to date so a percentile is one scan of the buckets. Times come from the callers (the Clock).

const subBits = 4
const subBuckets = 1 << subBits
const maxMicros = 2 ** 32 - 1
/** The number of buckets: exact microseconds below 16, then 16 per power of two up to 2^32 µs (~71 minutes). */
export const bucketCount = (32 - subBits + 1) * subBuckets

/** The bucket of a duration in milliseconds (negative or NaN: bucket 0; from 2^32 µs on: the last bucket). */
export const bucketOf = (millis: number): number => {
  const micros = millis > 0 ? Math.min(maxMicros, Math.floor(millis * 1000)) : 0
  if (micros < subBuckets) return micros
  const octave = 31 - Math.clz32(micros)
  return (octave - subBits + 1) * subBuckets + ((micros >>> (octave - subBits)) & (subBuckets - 1))
}

/**
 * The value a bucket reports, in milliseconds: the microsecond itself below 16 µs, else the midpoint of the
 * bucket's range [low, low + width), which is within 1/32 of every duration in it.
 */
export const valueOf = (bucket: number): number => {
  if (bucket < subBuckets) return bucket / 1000
  const width = 2 ** (Math.floor(bucket / subBuckets) - 1)
  return ((subBuckets + (bucket % subBuckets)) * width + width / 2) / 1000
}

/**
 * The upper edge of a bucket, in milliseconds: no duration in it is longer (what a hedging delay uses, so that a
 * delay at the percentile never fires before the calls the percentile says are normal have ended).
 */
export const upperOf = (bucket: number): number => {
  if (bucket < subBuckets) return (bucket + 1) / 1000
  const width = 2 ** (Math.floor(bucket / subBuckets) - 1)
  return ((subBuckets + (bucket % subBuckets) + 1) * width) / 1000
}

// the nearest rank of the q-quantile of `count` recordings, in 1..count (the epsilon keeps 0.07 × 100 at rank 7)
const rankOf = (q: number, count: number): number =>
  q >= 1 ? count : q > 0 ? Math.max(1, Math.ceil(q * count - 1e-9)) : 1

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

const empty: Percentiles = { count: 0, p50: 0, p90: 0, p99: 0, max: 0 }

/**
 * The durations recorded over the last `windowMillis` (the oldest slot leaves whole, so between `windowMillis`
 * less one slot and `windowMillis`); `record` is O(1) and allocates nothing, a query scans the total once.
 */
export class LatencyWindow {
  /** Recordings since the window was made, expired ones included (what {@link CachedQuantile} counts). */
  recorded = 0
  private readonly slotMillis: number
  private readonly counts: Array<Uint32Array>
  private readonly sizes: Float64Array
  private readonly totals = new Float64Array(bucketCount)
  private total = 0
  /** The newest slot number (`now / slotMillis`) seen, and where in the ring it is counted. */
  private current = -Infinity
  private position = 0

  constructor(options?: LatencyOptions) {
    const slots = Math.max(1, Math.floor(options?.slots ?? 6))
    this.slotMillis = Math.max(1, options?.windowMillis ?? 60_000) / slots
    this.counts = Array.from({ length: slots }, () => new Uint32Array(bucketCount))
    this.sizes = new Float64Array(slots)
  }

  // moves to the slot of `now`, emptying the slots that fell out of the window (at most all of them); a `now`
  // before the newest slot seen (time going backwards) is counted in that slot
  private advance(now: number): number {
    const slot = Math.floor(now / this.slotMillis)
    if (!(slot > this.current)) return this.position
    const slots = this.counts.length
    const gap = Math.min(slots, slot - this.current)
    for (let i = 0; i < gap; i++) {
      const at = (((slot - i) % slots) + slots) % slots
      if (this.sizes[at] === 0) continue
      const counts = this.counts[at]!
      for (let b = 0; b < bucketCount; b++) this.totals[b]! -= counts[b]!
      counts.fill(0)
      this.total -= this.sizes[at]!
      this.sizes[at] = 0
    }
    this.current = slot
    this.position = ((slot % slots) + slots) % slots
    return this.position
  }

  /** Records one duration in milliseconds at `now`. */
  record(millis: number, now: number): void {
    const at = this.advance(now)
    const bucket = bucketOf(millis)
    this.counts[at]![bucket]!++
    this.sizes[at]!++
    this.totals[bucket]!++
    this.total++
    this.recorded++
  }

  /** The number of recordings in the window at `now`. */
  count(now: number): number {
    this.advance(now)
    return this.total
  }

  /**
   * The `q`-quantile (0 < q <= 1) of the window at `now`, in milliseconds, or `undefined` when it is empty:
   * nearest-rank, the value of the lowest bucket at or below which lie at least `ceil(q × count)` recordings
   * (its midpoint, or with `edge: "upper"` its upper edge).
   */
  quantile(q: number, now: number, edge: "middle" | "upper" = "middle"): number | undefined {
    const count = this.count(now)
    if (count === 0) return undefined
    const rank = rankOf(q, count)
    let seen = 0
    for (let b = 0; b < bucketCount; b++) {
      seen += this.totals[b]!
      if (seen >= rank) return edge === "upper" ? upperOf(b) : valueOf(b)
    }
    return edge === "upper" ? upperOf(bucketCount - 1) : valueOf(bucketCount - 1)
  }

  /** p50, p90, p99 (as {@link quantile}) and max (the highest non-empty bucket's value) at `now`, in one scan. */
  percentiles(now: number): Percentiles {
    const count = this.count(now)
    if (count === 0) return empty
    const r50 = rankOf(0.5, count), r90 = rankOf(0.9, count), r99 = rankOf(0.99, count)
    let p50 = 0, p90 = 0, p99 = 0, highest = 0, seen = 0
    for (let b = 0; b < bucketCount; b++) {
      const n = this.totals[b]!
      if (n === 0) continue
      highest = b
      if (seen < r50 && seen + n >= r50) p50 = valueOf(b)
      if (seen < r90 && seen + n >= r90) p90 = valueOf(b)
      if (seen < r99 && seen + n >= r99) p99 = valueOf(b)
      seen += n
    }
    return { count, p50, p90, p99, max: valueOf(highest) }
  }
}

/**
 * The q-quantile of a window (the upper edge of its bucket: a hedging delay), recomputed at most every `refreshMillis` of `now` or after `refreshCount` new
 * recordings, whichever comes first, so a caller on every call does not scan the window each time.
 */
export class CachedQuantile {
  private value: number | undefined = undefined
  private at = -Infinity
  private seen = 0

  constructor(
    private readonly window: LatencyWindow,
    private readonly q: number,
    private readonly refreshMillis = 1000,
    private readonly refreshCount = 100
  ) {}

  /** The quantile at `now`: the last one computed unless it is stale (or time went backwards), then afresh. */
  get(now: number): number | undefined {
    const stale = !(now - this.at < this.refreshMillis) || now < this.at ||
      this.window.recorded - this.seen >= this.refreshCount
    if (stale) {
      this.value = this.window.quantile(this.q, now, "upper")
      this.at = now
      this.seen = this.window.recorded
    }
    return this.value
  }
}
