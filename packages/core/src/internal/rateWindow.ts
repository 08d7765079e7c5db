/**
 * Event counts over a sliding time window, kept in a fixed ring of buckets: memory does not grow with the number
 * of events, and buckets older than the window are ignored when read and reused when written.
 */
export class RateWindow {
  /** The bucket number (timestamp / bucketMillis) each slot holds, or -Infinity when it has held none. */
  private readonly ids: Float64Array
  private readonly counts: Float64Array

  constructor(readonly buckets: number, readonly bucketMillis: number) {
    this.ids = new Float64Array(buckets).fill(-Infinity)
    this.counts = new Float64Array(buckets)
  }

  /** Counts one event at `timestamp` (milliseconds). */
  add(timestamp: number): void {
    const id = Math.floor(timestamp / this.bucketMillis)
    const slot = ((id % this.buckets) + this.buckets) % this.buckets
    const held = this.ids[slot]!
    if (held === id) {
      this.counts[slot]!++
    } else if (held < id) {
      this.ids[slot] = id
      this.counts[slot] = 1
    }
    // held > id: the slot already holds a newer bucket, so this event is older than the window it could be in
  }

  /** The events in the last `span` buckets up to and including the one holding `now` (default: all of them). */
  sum(now: number, span: number = this.buckets): number {
    const current = Math.floor(now / this.bucketMillis)
    let total = 0
    for (let slot = 0; slot < this.buckets; slot++) {
      const id = this.ids[slot]!
      if (id > current - span && id <= current) total += this.counts[slot]!
    }
    return total
  }
}
