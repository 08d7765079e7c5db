/**
 * The error tracker: a background fiber, owned by the layer's scope, that keeps a bounded history of error events,
 * exact totals per tag and per severity, per-minute rates over a sliding window, recovery outcomes, and feeds
 * subscribers. Callers only enqueue, so recording never slows, blocks or fails them.
 *
 * @since 0.1.0
 */
import type { SchemaIssue, Scope } from "effect"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  ErrorReporter,
  Fiber,
  Layer,
  Queue,
  Redacted,
  References,
  Schema,
  Stream
} from "effect"
import * as ErrorFamily from "./ErrorFamily.js"
import { schemaIssues } from "./internal/unknownKeys.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import { addCounterSource, addGaugeSource } from "./internal/metricSeries.js"
import { RateWindow } from "./internal/rateWindow.js"

// ---------------------------------------------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------------------------------------------

/**
 * What became of an error:
 *
 * - `"none"`: nothing was tried (no retry, no fallback), or the error was reported from outside.
 * - `"pending"`: a retry or a fallback follows and has not ended yet.
 * - `"succeeded"`: the retry or fallback that followed succeeded.
 * - `"failed"`: the retry or fallback that followed failed (or was interrupted).
 * - `"unobserved"`: a retry followed, but its outcome is not visible where the error was recorded
 *   (`Effect.retry(PolicyService.retry)`: a schedule does not see the retry succeed; `protect` does).
 *
 * An event is recorded when the error occurs, so a `"pending"` event reaches subscribers at once; when its
 * outcome is known the recovery counts move from `pending` to `succeeded` or `failed`, and the event in the
 * history is replaced by one with the outcome.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Recovery = Schema.Literals(["none", "pending", "succeeded", "failed", "unobserved"])

/**
 * @since 0.1.0
 * @category models
 */
export type Recovery = typeof Recovery.Type

/**
 * Where an event was recorded: `protect`, the `PolicyService.retry` schedule, effect's `ErrorReporter` (for
 * example `Effect.withErrorReporting` or an HTTP server boundary), or a direct {@link record} call.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Source = Schema.Literals(["protect", "retry", "reporter", "manual"])

/**
 * @since 0.1.0
 * @category models
 */
export type Source = typeof Source.Type

/**
 * One tracked error, as exported: its classification and public message, never its internal detail or stack.
 * `timestamp` is when the error occurred (milliseconds from `Clock`); `attempt` is the attempt that failed, when
 * known; `annotations` are the log annotations of the fiber that failed (`Redacted` values as `"<redacted>"`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorEvent = Schema.Struct({
  timestamp: Schema.Number,
  ...ErrorFamily.PublicView.fields, // tag, code, kind, severity, public message
  operation: Schema.optional(Schema.String),
  attempt: Schema.optional(Schema.Number),
  annotations: Schema.Record(Schema.String, Schema.Union([Schema.String, Schema.Number, Schema.Boolean])),
  recovery: Recovery,
  source: Source
})

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorEvent = typeof ErrorEvent.Type

/**
 * An error as handed to the tracker by a caller, before it is turned into an {@link ErrorEvent} on the tracker's
 * fiber. `annotations` may hold any values; they are made safe to export by the tracker. An occurrence offered
 * with `recovery: "pending"` is the handle its outcome is later given with (`resolve`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Occurrence {
  readonly error: unknown
  readonly timestamp: number
  readonly operation?: string | undefined
  readonly attempt?: number | undefined
  readonly recovery?: Recovery | undefined
  readonly source?: Source | undefined
  readonly annotations?: Readonly<Record<string, unknown>> | undefined
  /** The failure ended its run: no retry follows it (a fallback may). */
  readonly gaveUp?: boolean | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// summary
// ---------------------------------------------------------------------------------------------------------------

const PerSeverity = Schema.Struct({
  low: Schema.Number,
  medium: Schema.Number,
  high: Schema.Number,
  critical: Schema.Number
})

/**
 * The tracker's figures at one instant, JSON-encodable through its Schema:
 *
 * - `total`, `bySeverity`, `byTag`: exact counts since the tracker started (`byTag` sorted by count, highest
 *   first, one entry per tag and code).
 * - `rates`: errors per minute averaged over the sliding window (`perMinute`), in the last minute at 10-second
 *   resolution (`lastMinute`), and per minute by severity and by tag over the window. The window is bucketed: it
 *   covers its last full buckets and the current one.
 * - `recovery`: how many errors were followed by a retry or fallback (`attempted`), and how those ended
 *   (`succeeded`, `failed`, `unobserved`), or whether they are still running (`pending`).
 * - `history`: how many events the bounded history holds and can hold.
 * - `dropped`: events counted in the totals that the queue between callers and the tracker shed (its oldest
 *   first) before they reached the history and the subscribers. Zero unless errors arrive faster than the
 *   tracker drains them.
 * - `subscribers`: active subscribers, events put in their buffers (`delivered`), events they dropped because
 *   their buffer was full (oldest first), and callback runs that threw, failed, died, were interrupted or timed
 *   out (`failed`).
 * - `breakers`: circuit breaker state changes recorded (`transitions`) and the last 50 of them, oldest first.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Summary = Schema.Struct({
  startedAt: Schema.Number,
  at: Schema.Number,
  total: Schema.Number,
  bySeverity: PerSeverity,
  byTag: Schema.Array(Schema.Struct({
    tag: Schema.String,
    code: Schema.String,
    kind: ErrorFamily.KindSchema,
    severity: ErrorFamily.SeveritySchema,
    count: Schema.Number,
    lastSeen: Schema.Number
  })),
  rates: Schema.Struct({
    windowSeconds: Schema.Number,
    perMinute: Schema.Number,
    lastMinute: Schema.Number,
    bySeverity: PerSeverity,
    byTag: Schema.Array(Schema.Struct({ tag: Schema.String, code: Schema.String, perMinute: Schema.Number }))
  }),
  recovery: Schema.Struct({
    attempted: Schema.Number,
    pending: Schema.Number,
    succeeded: Schema.Number,
    failed: Schema.Number,
    unobserved: Schema.Number
  }),
  history: Schema.Struct({ size: Schema.Number, capacity: Schema.Number }),
  dropped: Schema.Number,
  subscribers: Schema.Struct({
    active: Schema.Number,
    delivered: Schema.Number,
    dropped: Schema.Number,
    failed: Schema.Number
  }),
  breakers: Schema.Struct({
    transitions: Schema.Number,
    recent: Schema.Array(CircuitBreaker.Transition)
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export type Summary = typeof Summary.Type

/**
 * The summary as a JSON string and back.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * const json = ErrorTracker.ErrorTracker.use((tracker) => tracker.summary).pipe(
 *   Effect.flatMap(Schema.encodeEffect(ErrorTracker.SummaryJson))
 * )
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const SummaryJson = Schema.fromJsonString(Summary)

// ---------------------------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------------------------

const positiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

const isPositiveDuration = (input: string | number): boolean => {
  const duration = Duration.fromInput(input as Duration.Input)
  return duration._tag === "Some" && Duration.isFinite(duration.value) &&
    Duration.isGreaterThan(duration.value, Duration.zero)
}

// milliseconds as a number, or a string such as "5 minutes"; positive and finite
const durationInput = (example: string) =>
  Schema.Union([
    Schema.Finite.check(Schema.isGreaterThan(0)),
    Schema.String.check(Schema.makeFilter((s: string) =>
      isPositiveDuration(s) ? undefined : `Expected a positive duration such as "${example}", got ${JSON.stringify(s)}`
    ))
  ])

const toMillis = (input: string | number): number => Duration.toMillis(Duration.fromInputUnsafe(input as Duration.Input))

/**
 * The tracker's options, validated with Schema when the tracker is made. Every field is optional:
 *
 * | field | meaning | default |
 * | --- | --- | --- |
 * | `historySize` | events kept in the history; older ones are dropped | `1000` |
 * | `window` | the sliding window of the rates | `"5 minutes"` |
 * | `buckets` | buckets the window is divided into (its resolution) | `30` |
 * | `queueCapacity` | events waiting for the tracker fiber; beyond it the oldest waiting skip history and subscribers (still counted) | `16384` |
 * | `subscriberBuffer` | events buffered per subscriber before its oldest are dropped | `1024` |
 * | `subscriberTimeout` | limit on one callback run; a callback that takes longer is interrupted and counted as failed | `"30 seconds"` |
 *
 * @since 0.1.0
 * @category schemas
 */
export const Options = Schema.Struct({
  historySize: Schema.optional(positiveInt),
  window: Schema.optional(durationInput("5 minutes")),
  buckets: Schema.optional(positiveInt.check(Schema.isLessThanOrEqualTo(3600))),
  queueCapacity: Schema.optional(positiveInt),
  subscriberBuffer: Schema.optional(positiveInt),
  subscriberTimeout: Schema.optional(durationInput("30 seconds"))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Options = typeof Options.Encoded

/**
 * Invalid tracker options: one issue per failing field, with its path and the reason. Nothing is started.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * const error = new ErrorTracker.ErrorTrackerConfigError({
 *   issues: [{ path: ["historySize"], message: "Expected a value greater than or equal to 1" }]
 * })
 * error.message // 'Invalid error tracker options: historySize: Expected a value greater than or equal to 1'
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ErrorTrackerConfigError extends Schema.TaggedError<ErrorTrackerConfigError>()("ErrorTrackerConfigError", {
  issues: Schema.Array(Schema.Struct({ path: Schema.Array(Schema.String), message: Schema.String }))
}) {
  override get message(): string {
    return `Invalid error tracker options: ${this.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`
  }
}

const decodeOptions = Schema.decodeUnknownEffect(Options)

// ---------------------------------------------------------------------------------------------------------------
// subscribers
// ---------------------------------------------------------------------------------------------------------------

/**
 * Which events a subscriber receives: all of them, or those whose severity is listed in `severities` or at least
 * `minSeverity`, and whose tag is listed in `tags`. Given criteria must all hold.
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly severities?: ReadonlyArray<ErrorFamily.Severity> | undefined
  readonly minSeverity?: ErrorFamily.Severity | undefined
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * A subscriber callback: it may return nothing, a promise or an effect. It runs on its own fiber, one event at a
 * time; when it throws, fails, dies or times out, the failure is logged and counted and the next event is
 * delivered.
 *
 * @since 0.1.0
 * @category models
 */
export type Callback = (event: ErrorEvent) => Effect.Effect<unknown, unknown> | PromiseLike<unknown> | void

/**
 * Options of {@link ErrorTrackerShape.subscribe}: a `name` for logs, a {@link Filter}, and overrides of the
 * tracker's `subscriberBuffer` (`buffer`) and `subscriberTimeout` (`timeout`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions extends Filter {
  readonly name?: string | undefined
  readonly buffer?: number | undefined
  readonly timeout?: Duration.Input | undefined
}

const severityRank: Record<ErrorFamily.Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 }

const matcher = (filter: Filter | undefined): ((event: ErrorEvent) => boolean) => {
  if (filter === undefined) return () => true
  const severities = filter.severities === undefined ? undefined : new Set(filter.severities)
  const min = filter.minSeverity === undefined ? undefined : severityRank[filter.minSeverity]
  const tags = filter.tags === undefined ? undefined : new Set(filter.tags)
  return (event) =>
    (severities === undefined || severities.has(event.severity)) &&
    (min === undefined || severityRank[event.severity] >= min) &&
    (tags === undefined || tags.has(event.tag))
}

interface Subscriber {
  readonly matches: (event: ErrorEvent) => boolean
  readonly queue: Queue.Queue<ErrorEvent, Cause.Done>
}

// ---------------------------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------------------------

/**
 * The tracker.
 *
 * - `offer` hands an occurrence to the tracker synchronously and never blocks, throws or fails. It enqueues; when
 *   the queue is full, the oldest waiting occurrence is counted in the totals at once and skips the history and
 *   the subscribers (`dropped`). After the tracker's scope has closed, occurrences are still counted.
 * - `resolve` gives the outcome of an occurrence offered with `recovery: "pending"`. It moves the recovery count
 *   and replaces the event in the history (subscribers have the pending event already).
 * - `record` is `offer` as an effect, with the time read from `Clock` and the fiber's log annotations.
 * - `summary` and `history` first take in everything already enqueued, so they are exact when read.
 * - `events` is a `Stream` of events; `subscribe` runs a callback per event on its own fiber. Both live in a
 *   scope (the stream's, or the `Scope` of `subscribe`) and end when the tracker's scope closes.
 * - `reporter` is an effect `ErrorReporter` that records what it is given, except errors already offered (so an
 *   error `protect` recorded is not counted again at a reporting boundary outside it); the layer installs it.
 * - `fiber` is the background fiber; it is interrupted when the layer's scope closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorTrackerShape {
  readonly offer: (occurrence: Occurrence) => void
  readonly resolve: (occurrence: Occurrence, outcome: "succeeded" | "failed") => void
  /** Records a circuit breaker's state change (breakers of `BreakerRegistry` report theirs). */
  readonly recordTransition: (transition: CircuitBreaker.Transition) => void
  readonly record: (
    error: unknown,
    options?: Omit<Occurrence, "error" | "timestamp" | "annotations"> | undefined
  ) => Effect.Effect<void>
  readonly summary: Effect.Effect<Summary>
  readonly history: Effect.Effect<ReadonlyArray<ErrorEvent>>
  readonly events: (filter?: Filter) => Stream.Stream<ErrorEvent>
  readonly subscribe: (
    callback: Callback,
    options?: SubscribeOptions
  ) => Effect.Effect<void, ErrorTrackerConfigError, Scope.Scope>
  readonly reporter: ErrorReporter.ErrorReporter
  readonly fiber: Fiber.Fiber<never>
}

/**
 * The error tracker service, provided by `ErrorLayer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorLayer, ErrorTracker } from "@effect-resilience/core"
 *
 * const report = Effect.gen(function*() {
 *   const tracker = yield* ErrorTracker.ErrorTracker
 *   const summary = yield* tracker.summary
 *   yield* Effect.log(`${summary.total} errors, ${summary.rates.perMinute}/min over the last 5 minutes`)
 * }).pipe(Effect.provide(ErrorLayer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class ErrorTracker extends Context.Service<ErrorTracker, ErrorTrackerShape>()(
  "@effect-resilience/core/ErrorTracker"
) {}

const unknownView = ErrorFamily.publicView(undefined)

interface TagEntry {
  readonly tag: string
  readonly code: string
  readonly kind: ErrorFamily.Kind
  readonly severity: ErrorFamily.Severity
  count: number
  lastSeen: number
  readonly rate: RateWindow
}

/** Where a pending occurrence is: still queued (with an outcome that came early), or counted (and recorded). */
interface Pending {
  queued: boolean
  outcome: "succeeded" | "failed" | undefined
  /** Its place in the history once counted, and that event's sequence number (to tell it was not overwritten). */
  index: number
  sequence: number
}

const maxAnnotationLength = 1024

const exportable = (value: unknown): string | number | boolean | undefined => {
  if (typeof value === "string") return value.length > maxAnnotationLength ? value.slice(0, maxAnnotationLength) : value
  if (typeof value === "number" || typeof value === "boolean") return value
  if (typeof value === "bigint") return value.toString()
  if (value === null || value === undefined || typeof value === "function" || typeof value === "symbol") return undefined
  if (Redacted.isRedacted(value)) return "<redacted>"
  try {
    return exportable(JSON.stringify(value))
  } catch {
    return undefined
  }
}

const noAnnotations: Record<string, string | number | boolean> = {}

const exportAnnotations = (annotations: Readonly<Record<string, unknown>>) => {
  const out: Record<string, string | number | boolean> = {}
  for (const key of Object.keys(annotations)) {
    const value = exportable(annotations[key])
    if (value !== undefined) out[key] = value
  }
  return out
}

const SubscribeLimits = Schema.Struct({
  buffer: Schema.optional(positiveInt),
  timeout: Schema.optional(durationInput("30 seconds"))
})

const configError = (issue: SchemaIssue.Issue) =>
  new ErrorTrackerConfigError({ issues: schemaIssues(issue) })

const decodeLimits = Schema.decodeUnknownEffect(SubscribeLimits)

/** One minute in six 10-second buckets, whatever the window's resolution. */
const lastMinuteBuckets = 6
const recentTransitions = 50

/**
 * Makes a tracker and starts its fiber in the current scope. Invalid options fail with
 * {@link ErrorTrackerConfigError} before anything starts.
 *
 * The figures are also published as effect metrics, read when metrics are exported (so recording updates no
 * metric itself), in the `Metric.MetricRegistry` of the context the tracker is made in: the counters
 * `resilience_errors_total{tag,code,kind,severity}`, `resilience_recoveries_total{outcome}` (`succeeded`,
 * `failed`, `unobserved`), `resilience_events_dropped_total` and `resilience_subscriber_failures_total`, and the
 * gauge `resilience_recoveries_pending` (recoveries still running). Trackers sharing a registry add up in the
 * same series. Closing the scope freezes this tracker's counts in the counters (a counter never goes down) and
 * takes its pending recoveries out of the gauge; a series with no tracker left leaves the registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, ErrorTracker } from "@effect-resilience/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const tracker = yield* ErrorTracker.make({ historySize: 100, window: "1 minute" })
 *   yield* tracker.record(new CommonErrors.StorageError({ operation: "save" }), { operation: "items.save" })
 *   return yield* tracker.summary
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ErrorTrackerShape, ErrorTrackerConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
      Effect.mapError((error) => configError(error.issue))
    )
    const historySize = config.historySize ?? 1000
    const windowMillis = toMillis(config.window ?? "5 minutes")
    const buckets = config.buckets ?? 30
    const bucketMillis = windowMillis / buckets
    const subscriberBuffer = config.subscriberBuffer ?? 1024
    const subscriberTimeout = toMillis(config.subscriberTimeout ?? "30 seconds")

    const context = yield* Effect.context<never>()
    const clock = yield* Clock.Clock
    const startedAt = clock.currentTimeMillisUnsafe()
    const queue = yield* Queue.dropping<Occurrence>(config.queueCapacity ?? 16_384)
    let closed = false

    // totals: touched by the fiber, or by a caller when the queue is full (JavaScript runs one at a time)
    const byTag = new Map<string, TagEntry>()
    const bySeverity = { low: 0, medium: 0, high: 0, critical: 0 }
    const severityRates = {
      low: new RateWindow(buckets, bucketMillis),
      medium: new RateWindow(buckets, bucketMillis),
      high: new RateWindow(buckets, bucketMillis),
      critical: new RateWindow(buckets, bucketMillis)
    }
    const totalRate = new RateWindow(buckets, bucketMillis)
    const lastMinute = new RateWindow(lastMinuteBuckets, 10_000)
    const recovery = { pending: 0, succeeded: 0, failed: 0, unobserved: 0 }
    let total = 0
    let dropped = 0
    const subscriberStats = { delivered: 0, dropped: 0, failed: 0 }
    const removals: Array<() => void> = []
    // read at export time, after taking in what is queued, so exporters see exact figures
    // counters (`_total`, never decreasing) unless `gauge` (a level, which goes up and down)
    const series = (
      name: string,
      description: string,
      attributes: Record<string, string>,
      get: () => number,
      gauge = false
    ) => {
      if (closed) return
      removals.push((gauge ? addGaugeSource : addCounterSource)(context, name, description, attributes, () => {
        drain()
        return get()
      }))
    }
    // errors already recorded, so the reporter does not count again an error that protect or retry recorded
    const tracked = new WeakSet<object>()
    const pendings = new WeakMap<Occurrence, Pending>()

    // breaker state changes: rare, so a plain array of the most recent ones
    const transitions: Array<CircuitBreaker.Transition> = []
    let transitionCount = 0

    // History: a ring of the last `historySize` events, kept as the parts an event is built from (references to
    // values that already exist, and numbers) rather than one new object per event. An event object that lives
    // for the next `historySize` errors survives the young generation, and V8 answers a steady stream of such
    // survivors by growing the young generation to its maximum (tens of MB of RSS); the events are built when
    // the history is read.
    const slotTimestamp = new Float64Array(historySize)
    const slotSequence = new Float64Array(historySize)
    const slotEntry: Array<TagEntry> = new Array(historySize)
    const slotMessage: Array<string> = new Array(historySize)
    const slotAnnotations: Array<Record<string, string | number | boolean>> = new Array(historySize)
    const slotRecovery: Array<Recovery> = new Array(historySize)
    const slotSource: Array<Source> = new Array(historySize)
    const slotOperation: Array<string | undefined> = new Array(historySize)
    const slotAttempt: Array<number | undefined> = new Array(historySize)
    let historyNext = 0
    let historyCount = 0
    let sequence = 0
    const eventAt = (index: number): ErrorEvent => {
      const entry = slotEntry[index]!
      const event: { -readonly [K in keyof ErrorEvent]: ErrorEvent[K] } = {
        timestamp: slotTimestamp[index]!,
        tag: entry.tag,
        code: entry.code,
        kind: entry.kind,
        severity: entry.severity,
        message: slotMessage[index]!,
        annotations: slotAnnotations[index]!,
        recovery: slotRecovery[index]!,
        source: slotSource[index]!
      }
      const operation = slotOperation[index]
      const attempt = slotAttempt[index]
      if (operation !== undefined) event.operation = operation
      if (attempt !== undefined) event.attempt = attempt
      return event
    }

    const subscribers = new Set<Subscriber>()

    // entries by tag; a tag seen with a second code (say effect's TimeoutError next to ours) gets its own entry
    const byTagCode = new Map<string, TagEntry>()
    const newEntry = (error: unknown, tag: string, code: string): TagEntry => {
      const key = `${tag}\u0000${code}`
      const existing = byTagCode.get(key)
      if (existing !== undefined) return existing
      const classified = ErrorFamily.isClassified(error)
      const created: TagEntry = {
        tag,
        code,
        kind: classified ? error.kind : unknownView.kind,
        severity: classified ? error.severity : unknownView.severity,
        count: 0,
        lastSeen: 0,
        rate: new RateWindow(buckets, bucketMillis)
      }
      byTagCode.set(key, created)
      if (!byTag.has(tag)) byTag.set(tag, created)
      series("resilience_errors_total", "Errors tracked, by tag, code, kind and severity", {
        tag,
        code,
        kind: created.kind,
        severity: created.severity
      }, () => created.count)
      return created
    }

    const entryOf = (error: unknown): TagEntry => {
      let tag: string
      let code: string
      if (ErrorFamily.isClassified(error)) {
        tag = error._tag
        code = error.code
      } else {
        tag = ErrorFamily.tagOf(error) ?? unknownView.tag
        code = unknownView.code
      }
      const entry = byTag.get(tag)
      return entry !== undefined && entry.code === code ? entry : newEntry(error, tag, code)
    }

    // counts an occurrence in the totals; returns its recovery as of now
    const count = (occurrence: Occurrence, entry: TagEntry): Recovery => {
      const at = occurrence.timestamp
      entry.count++
      if (at > entry.lastSeen) entry.lastSeen = at
      entry.rate.add(at)
      total++
      bySeverity[entry.severity]++
      severityRates[entry.severity].add(at)
      totalRate.add(at)
      lastMinute.add(at)
      let outcome = occurrence.recovery ?? "none"
      if (outcome === "pending") {
        const pending = pendings.get(occurrence)
        if (pending !== undefined) {
          pending.queued = false
          if (pending.outcome !== undefined) {
            outcome = pending.outcome
            pendings.delete(occurrence)
          }
        }
      }
      if (outcome !== "none") recovery[outcome]++
      return outcome
    }

    // the annotations of consecutive events are often the same object (one fiber, one run): exported once
    let annotationsIn: Readonly<Record<string, unknown>> | undefined
    let annotationsOut = noAnnotations
    const annotationsOf = (annotations: Readonly<Record<string, unknown>> | undefined) => {
      if (annotations === undefined) return noAnnotations
      if (annotations !== annotationsIn) {
        annotationsIn = annotations
        annotationsOut = exportAnnotations(annotations)
      }
      return annotationsOut
    }

    const process = (occurrence: Occurrence) => {
      const error = occurrence.error
      const entry = entryOf(error)
      const outcome = count(occurrence, entry)
      const index = historyNext
      slotTimestamp[index] = occurrence.timestamp
      slotSequence[index] = ++sequence
      slotEntry[index] = entry
      slotMessage[index] = ErrorFamily.isClassified(error) ? error.publicMessage : unknownView.message
      slotAnnotations[index] = annotationsOf(occurrence.annotations)
      slotRecovery[index] = outcome
      slotSource[index] = occurrence.source ?? "manual"
      slotOperation[index] = occurrence.operation
      slotAttempt[index] = occurrence.attempt
      if (outcome === "pending") {
        const pending = pendings.get(occurrence)
        if (pending !== undefined) {
          pending.index = index
          pending.sequence = sequence
        }
      }
      historyNext = (historyNext + 1) % historySize
      if (historyCount < historySize) historyCount++
      if (subscribers.size === 0) return
      const event = eventAt(index)
      for (const subscriber of subscribers) {
        if (!subscriber.matches(event)) continue
        // sliding buffers: a full one drops its oldest event to take this one
        if (Queue.isFullUnsafe(subscriber.queue)) subscriberStats.dropped++
        if (Queue.offerUnsafe(subscriber.queue, event)) subscriberStats.delivered++
      }
    }

    // everything already enqueued, processed now: readers see exact figures without waiting for the fiber
    const drain = () => {
      for (let exit = Queue.takeUnsafe(queue); exit !== undefined && exit._tag === "Success"; exit = Queue.takeUnsafe(queue)) {
        process(exit.value)
      }
    }

    const offer = (occurrence: Occurrence): void => {
      const error = occurrence.error
      if (typeof error === "object" && error !== null) tracked.add(error)
      if (occurrence.recovery === "pending") {
        pendings.set(occurrence, { queued: true, outcome: undefined, index: -1, sequence: -1 })
      }
      if (closed) return process(occurrence)
      if (Queue.offerUnsafe(queue, occurrence)) return
      // full: the oldest waiting occurrence is counted now and skips history and subscribers, so the history
      // keeps the most recent events and the totals stay exact
      const oldest = Queue.takeUnsafe(queue)
      if (oldest !== undefined && oldest._tag === "Success") {
        count(oldest.value, entryOf(oldest.value.error))
        dropped++
      }
      if (!Queue.offerUnsafe(queue, occurrence)) {
        count(occurrence, entryOf(error))
        dropped++
      }
    }

    const resolve = (occurrence: Occurrence, outcome: "succeeded" | "failed"): void => {
      const pending = pendings.get(occurrence)
      if (pending === undefined) return
      if (pending.queued) {
        pending.outcome = outcome // counted with its outcome when it is taken in
        return
      }
      pendings.delete(occurrence)
      recovery.pending--
      recovery[outcome]++
      // its event, unless newer ones have overwritten it since
      if (pending.index >= 0 && slotSequence[pending.index] === pending.sequence) slotRecovery[pending.index] = outcome
    }

    const fiber = yield* Effect.forkScoped(
      Effect.forever(Effect.map(Queue.takeAll(queue), (batch) => {
        for (const occurrence of batch) process(occurrence)
      }))
    )

    // an error's recovery is pending until its outcome is known, so pending is a level: a gauge, not an outcome
    for (const outcome of ["succeeded", "failed", "unobserved"] as const) {
      series("resilience_recoveries_total", "Tracked errors followed by a retry or fallback, by outcome", {
        outcome
      }, () => recovery[outcome])
    }
    series(
      "resilience_recoveries_pending",
      "Tracked errors whose retry or fallback is still running",
      {},
      () => recovery.pending,
      true
    )
    series(
      "resilience_events_dropped_total",
      "Tracked errors that skipped history and subscribers",
      {},
      () => dropped
    )
    series(
      "resilience_subscriber_failures_total",
      "Error tracker subscriber callbacks that failed",
      {},
      () => subscriberStats.failed
    )
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        // take in what is waiting, then count later occurrences directly: nothing offered is lost
        drain()
        closed = true
        for (const subscriber of subscribers) Queue.endUnsafe(subscriber.queue)
        subscribers.clear()
        for (const remove of removals) remove()
        removals.length = 0
      }).pipe(Effect.andThen(Queue.shutdown(queue)))
    )

    const summarize = (at: number): Summary => {
      const entries = Array.from(byTagCode.values()).sort((a, b) => b.count - a.count || a.tag.localeCompare(b.tag))
      const minutes = windowMillis / 60_000
      const perMinute = (n: number) => n / minutes
      const severityRate = (s: ErrorFamily.Severity) => perMinute(severityRates[s].sum(at))
      return {
        startedAt,
        at,
        total,
        bySeverity: { ...bySeverity },
        byTag: entries.map((e) => ({
          tag: e.tag,
          code: e.code,
          kind: e.kind,
          severity: e.severity,
          count: e.count,
          lastSeen: e.lastSeen
        })),
        rates: {
          windowSeconds: windowMillis / 1000,
          perMinute: perMinute(totalRate.sum(at)),
          lastMinute: lastMinute.sum(at),
          bySeverity: {
            low: severityRate("low"),
            medium: severityRate("medium"),
            high: severityRate("high"),
            critical: severityRate("critical")
          },
          byTag: entries.map((e) => ({ tag: e.tag, code: e.code, perMinute: perMinute(e.rate.sum(at)) }))
            .filter((r) => r.perMinute > 0)
        },
        recovery: {
          attempted: recovery.pending + recovery.succeeded + recovery.failed + recovery.unobserved,
          ...recovery
        },
        history: { size: historyCount, capacity: historySize },
        dropped,
        subscribers: { active: subscribers.size, ...subscriberStats },
        breakers: { transitions: transitionCount, recent: transitions.slice() }
      }
    }

    // a subscriber's buffer: ended when the tracker closes (its stream or callback fiber then ends too)
    const subscriber = (filter: Filter | undefined, buffer: number) =>
      Effect.acquireRelease(
        Effect.map(Queue.sliding<ErrorEvent, Cause.Done>(buffer), (queue) => {
          const created: Subscriber = { matches: matcher(filter), queue }
          if (closed) Queue.endUnsafe(queue)
          else subscribers.add(created)
          return created
        }),
        (created) => Effect.andThen(Effect.sync(() => subscribers.delete(created)), Queue.shutdown(created.queue))
      )

    let anonymous = 0
    const subscribe = (callback: Callback, options?: SubscribeOptions) =>
      Effect.gen(function*() {
        const limits = yield* decodeLimits({ buffer: options?.buffer, timeout: options?.timeout }, {
          errors: "all"
        }).pipe(Effect.mapError((error) => configError(error.issue)))
        const name = options?.name ?? `subscriber-${++anonymous}`
        const timeout = limits.timeout === undefined ? subscriberTimeout : toMillis(limits.timeout)
        const { queue } = yield* subscriber(options, limits.buffer ?? subscriberBuffer)
        const run = (event: ErrorEvent) =>
          Effect.suspend(() => {
            const result = callback(event)
            if (Effect.isEffect(result)) return result
            if (result !== undefined && typeof result.then === "function") {
              const promise = result
              return Effect.tryPromise(() => Promise.resolve(promise))
            }
            return Effect.void
          }).pipe(
            Effect.timeout(timeout),
            // every way a run can end badly, interruption by the callback itself included, counts and is logged;
            // the subscriber's own fiber, when interrupted, stops at its next wait
            Effect.catchCause((cause) => {
              subscriberStats.failed++
              return Effect.logError(`error tracker subscriber ${name} failed on an event`, cause).pipe(
                Effect.annotateLogs({ subscriber: name, tag: event.tag, code: event.code })
              )
            })
          )
        yield* Effect.forkScoped(Stream.runForEach(Stream.fromQueue(queue), run))
      })

    const tracker: ErrorTrackerShape = {
      offer,
      resolve,
      recordTransition: (transition) => {
        transitionCount++
        if (transitions.length === recentTransitions) transitions.shift()
        transitions.push(transition)
      },
      record: (error, options) =>
        Effect.sync(() => {
          readContext()
          offer(occurrenceNow(error, options))
        }),
      summary: Effect.withFiber((fiber) => {
        drain()
        return Effect.succeed(summarize(fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()))
      }),
      history: Effect.sync(() => {
        drain()
        const events: Array<ErrorEvent> = []
        const start = (historyNext - historyCount + historySize) % historySize
        for (let i = 0; i < historyCount; i++) events.push(eventAt((start + i) % historySize))
        return events
      }),
      events: (filter) =>
        Stream.unwrap(Effect.map(subscriber(filter, subscriberBuffer), ({ queue }) => Stream.fromQueue(queue))),
      subscribe,
      reporter: {
        [ErrorReporter.TypeId]: ErrorReporter.TypeId,
        report: ({ cause, fiber, timestamp }) => {
          for (const reason of cause.reasons) {
            if (reason._tag === "Interrupt") continue
            const error = reason._tag === "Fail" ? reason.error : reason.defect
            if (typeof error === "object" && error !== null && tracked.has(error)) continue
            if (ErrorReporter.isIgnored(error)) continue
            offer({
              error,
              timestamp: Number(timestamp / 1_000_000n),
              annotations: fiber.getRef(References.CurrentLogAnnotations),
              source: "reporter",
              recovery: "none"
            })
          }
        }
      },
      fiber
    }
    return tracker
  })

/**
 * A layer providing the tracker, with its fiber scoped to the layer, and installing its `ErrorReporter` next to
 * any already installed, so errors reported through effect's `ErrorReporter` are tracked too.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * const TrackerLive = ErrorTracker.layer({ historySize: 5000, window: "15 minutes" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<ErrorTracker, ErrorTrackerConfigError> =>
  Layer.effectContext(Effect.gen(function*() {
    const tracker = yield* make(options)
    const reporters = yield* ErrorReporter.CurrentErrorReporters
    return Context.make(ErrorTracker, tracker).pipe(
      Context.add(ErrorReporter.CurrentErrorReporters, new Set([...reporters, tracker.reporter]))
    )
  }))

/**
 * Records an error in the tracker, if one is in the context; otherwise does nothing. Never fails or blocks.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, ErrorTracker } from "@effect-resilience/core"
 *
 * const save = Effect.fail(new CommonErrors.StorageError({ operation: "save" })).pipe(
 *   Effect.tapError((error) => ErrorTracker.record(error, { operation: "items.save" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const record = (
  error: unknown,
  options?: Omit<Occurrence, "error" | "timestamp" | "annotations">
): Effect.Effect<void> =>
  // One `sync` node, which costs less than `withFiber` (that one evaluates the effect it returns as a second
  // step); the running fiber is at hand all the same. The tracker is offered the occurrence directly.
  Effect.sync(() => {
    const tracker = readContext().tracker
    if (tracker !== undefined) tracker.offer(occurrenceNow(error, options))
  })

// What `record` read from the last context it ran in. A context is immutable, so while a fiber's context is the
// same object, so are its tracker, clock and log annotations: one comparison instead of three lookups per record.
const seen: {
  context: Context.Context<never> | undefined
  tracker: ErrorTrackerShape | undefined
  clock: Clock.Clock
  annotations: Readonly<Record<string, unknown>>
} = { context: undefined, tracker: undefined, clock: undefined as unknown as Clock.Clock, annotations: {} }
// reads the running fiber's context into `seen` (called from inside an effect, where there is a running fiber)
const readContext = () => {
  const context = Fiber.getCurrent()!.context
  if (context !== seen.context) {
    seen.context = context
    seen.tracker = Context.getOrUndefined(context, ErrorTracker)
    seen.clock = Context.get(context, Clock.Clock)
    seen.annotations = Context.get(context, References.CurrentLogAnnotations)
  }
  return seen
}

// an occurrence of `error` now, in the log annotations of the context last read by `readContext`
const occurrenceNow = (
  error: unknown,
  options: Omit<Occurrence, "error" | "timestamp" | "annotations"> | undefined
): Occurrence => ({
  error,
  timestamp: seen.clock.currentTimeMillisUnsafe(),
  operation: options?.operation,
  attempt: options?.attempt,
  recovery: options?.recovery,
  source: options?.source,
  annotations: seen.annotations
})

/**
 * Subscribes a callback to the tracker's events for the life of the current scope (or until the tracker closes).
 * A `buffer` that is not a positive integer or a `timeout` that is not a positive duration fails with
 * {@link ErrorTrackerConfigError}.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ErrorLayer, ErrorTracker } from "@effect-resilience/core"
 *
 * // alert on high and critical errors for as long as the app runs
 * const PagerLive = Layer.effectDiscard(
 *   ErrorTracker.subscribe((event) => Effect.logError(`PAGE: ${event.code} ${event.message}`), {
 *     name: "pager",
 *     minSeverity: "high"
 *   })
 * ).pipe(Layer.provide(ErrorLayer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const subscribe = (
  callback: Callback,
  options?: SubscribeOptions
): Effect.Effect<void, ErrorTrackerConfigError, ErrorTracker | Scope.Scope> =>
  ErrorTracker.use((tracker) => tracker.subscribe(callback, options))

/**
 * The tracker's events as a `Stream`, filtered.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * const critical = ErrorTracker.events({ severities: ["critical"] }).pipe(
 *   Stream.runForEach((event) => Effect.logError(`${event.tag} in ${event.operation ?? "?"}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const events = (filter?: Filter): Stream.Stream<ErrorEvent, never, ErrorTracker> =>
  Stream.unwrap(ErrorTracker.useSync((tracker) => tracker.events(filter)))

/**
 * The tracker's summary.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * const logged = ErrorTracker.summary.pipe(Effect.flatMap((s) => Effect.log(`${s.total} errors`)))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const summary: Effect.Effect<Summary, never, ErrorTracker> = ErrorTracker.use((tracker) => tracker.summary)
