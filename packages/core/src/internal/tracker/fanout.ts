import type { Cause, Scope } from "effect"
import { Effect, Queue, Stream } from "effect"
import type * as ErrorFamily from "../../ErrorFamily.js"
import * as ErrorLogger from "../../ErrorLogger.js"
import type { Callback, ErrorEvent, Filter } from "../../ErrorTracker.js"

const severityRank: Record<ErrorFamily.Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 }

const always = () => true

/** The test of a {@link Filter}: every criterion given must hold; no filter (or an empty one) takes every event. */
export const matcher = (filter: Filter | undefined): (event: ErrorEvent) => boolean => {
  if (filter === undefined) return always
  const severities = filter.severities === undefined ? undefined : new Set(filter.severities)
  const min = filter.minSeverity === undefined ? undefined : severityRank[filter.minSeverity]
  const tags = filter.tags === undefined ? undefined : new Set(filter.tags)
  const kinds = filter.kinds === undefined ? undefined : new Set(filter.kinds)
  const gaveUp = filter.gaveUp
  const none = severities === undefined && min === undefined && tags === undefined && kinds === undefined
  if (none && gaveUp === undefined) return always
  return (event) =>
    (severities === undefined || severities.has(event.severity)) &&
    (min === undefined || severityRank[event.severity] >= min) &&
    (tags === undefined || tags.has(event.tag)) &&
    (kinds === undefined || kinds.has(event.kind)) &&
    (gaveUp === undefined || (event.gaveUp === true) === gaveUp)
}

interface Subscriber {
  readonly matches: (event: ErrorEvent) => boolean
  readonly queue: Queue.Queue<ErrorEvent, Cause.Done>
}

/** Counters the fan-out keeps (the store's `subscribers`). */
export interface SubscriberStats {
  delivered: number
  dropped: number
  failed: number
}

/**
 * The subscribers of a tracker: one sliding buffer each, fed synchronously by {@link Fanout.deliver}, and drained
 * by a stream ({@link Fanout.add}) or a callback fiber ({@link runCallback}).
 */
export class Fanout {
  private readonly subscribers = new Set<Subscriber>()
  private closed = false

  constructor(private readonly stats: SubscriberStats) {}

  /** How many subscribers there are. */
  get size(): number {
    return this.subscribers.size
  }

  /** Puts an event in the buffer of every subscriber it matches; a full buffer drops its oldest to take it. */
  deliver(event: ErrorEvent): void {
    const stats = this.stats
    for (const subscriber of this.subscribers) {
      if (!subscriber.matches(event)) continue
      if (Queue.isFullUnsafe(subscriber.queue)) stats.dropped++
      if (Queue.offerUnsafe(subscriber.queue, event)) stats.delivered++
    }
  }

  /**
   * A subscriber's buffer for the life of the scope; ended at once when the fan-out is closed (its stream or
   * callback fiber then ends too).
   */
  add(
    filter: Filter | undefined,
    buffer: number
  ): Effect.Effect<Queue.Dequeue<ErrorEvent, Cause.Done>, never, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.map(Queue.sliding<ErrorEvent, Cause.Done>(buffer), (queue) => {
        const created: Subscriber = { matches: matcher(filter), queue }
        if (this.closed) Queue.endUnsafe(queue)
        else this.subscribers.add(created)
        return created
      }),
      (created) => Effect.andThen(Effect.sync(() => this.subscribers.delete(created)), Queue.shutdown(created.queue))
    ).pipe(Effect.map((created) => created.queue))
  }

  /** The events of a new subscriber as a stream, in the stream's scope. */
  stream(filter: Filter | undefined, buffer: number): Stream.Stream<ErrorEvent> {
    return Stream.unwrap(Effect.map(this.add(filter, buffer), Stream.fromQueue))
  }

  /** Ends every subscriber's buffer; later subscribers are ended as they come. */
  close(): void {
    this.closed = true
    for (const subscriber of this.subscribers) Queue.endUnsafe(subscriber.queue)
    this.subscribers.clear()
  }
}

/**
 * One run of a callback on an event, limited to `timeoutMillis`. Every way a run can end badly (a throw, a
 * failure, a defect, a timeout, and an interruption by the callback itself) counts in `stats.failed` and is
 * logged with the subscriber's name and the error annotations of the event; the run itself never fails.
 */
export const runCallback = (
  callback: Callback,
  event: ErrorEvent,
  name: string,
  timeoutMillis: number,
  stats: SubscriberStats
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const result = callback(event)
    if (Effect.isEffect(result)) return result
    if (result !== undefined && typeof result.then === "function") {
      const promise = result
      return Effect.tryPromise(() => Promise.resolve(promise))
    }
    return Effect.void
  }).pipe(
    Effect.timeout(timeoutMillis),
    // the subscriber's own fiber, when interrupted, stops at its next wait
    Effect.catchCause((cause) => {
      stats.failed++
      return Effect.logError(`error tracker subscriber ${name} failed on an event`, cause).pipe(
        Effect.annotateLogs({ subscriber: name, ...ErrorLogger.annotationsOfInfo(event) })
      )
    }),
    Effect.asVoid
  )

/** Runs `callback` on every event of a subscriber's buffer, one at a time, until the buffer ends. */
export const runSubscriber = (
  queue: Queue.Dequeue<ErrorEvent, Cause.Done>,
  callback: Callback,
  name: string,
  timeoutMillis: number,
  stats: SubscriberStats
): Effect.Effect<void> =>
  Stream.runForEach(Stream.fromQueue(queue), (event) => runCallback(callback, event, name, timeoutMillis, stats))
