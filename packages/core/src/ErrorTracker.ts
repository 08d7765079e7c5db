/**
 * The error tracker: a background fiber, owned by the layer's scope, that keeps a bounded history of error events,
 * exact totals per tag and per severity, per-minute rates over a sliding window, recovery outcomes and recent
 * breaker state changes, and feeds subscribers. Callers only enqueue, so recording never slows, blocks or fails
 * them.
 *
 * **Details**
 *
 * The tracker is a consumer of what the strategies emit: with {@link layer} (or `ErrorLayer`) provided, every
 * failure `protect` and the `PolicyService.retry` schedule see, every outcome of their retries and fallbacks and
 * every state change of the breakers of a `BreakerRegistry` reach it without any of them knowing it exists.
 * Errors reported through effect's `ErrorReporter` (an HTTP server boundary, `Effect.withErrorReporting`) are
 * tracked too, and {@link record} records one by hand.
 *
 * **Example** (paging on an unrecoverable error that ended an operation)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ErrorLayer, ErrorTracker } from "@effect-resilience/core"
 *
 * declare const page: (event: ErrorTracker.ErrorEvent) => Effect.Effect<void>
 *
 * // once per failed operation (after its last attempt), not once per attempt
 * const PagerLive = Layer.effectDiscard(
 *   ErrorTracker.subscribe(page, { name: "pager", kinds: ["unrecoverable"], gaveUp: true })
 * ).pipe(Layer.provideMerge(ErrorLayer.layer()))
 * ```
 *
 * **Gotchas**
 *
 * - What an error is (tag, code, kind, severity, public message) is what `ErrorFamily.infoOf` says: effect's own
 *   `Cause.TimeoutError` is counted as the common `TimeoutError` (`resilience.E0006`), in one entry with it; an
 *   undeclared error is `UnknownError` (`resilience.E0000`) unless it has a `_tag` of its own.
 * - The {@link record} accessor records through the context's observers: with no {@link layer} (or
 *   `ErrorLayer`) provided it does nothing, even when an `ErrorTracker` service is provided by hand. A tracker
 *   from {@link make} alone only sees what its own `record` gives it.
 * - An error that reaches an `ErrorReporter` boundary after a strategy recorded it is not counted again (the
 *   same error object), so a failure given up by `protect` and then answered by the HTTP edge counts once.
 * - Only failures that ended their run (`protect`'s give-up, the schedule's last failure) have `gaveUp: true`;
 *   reported errors never do, and hand-recorded ones only when `record` is told so, so a `gaveUp: true`
 *   subscription sees neither by default.
 * - An undeclared error is `unrecoverable` for `kinds` (as `infoOf` describes it), so the paging recipe pages
 *   when one ends an operation too: an error nobody declared that ends an operation is worth a look. Add
 *   `tags` to the filter to page on your own families only.
 * - A run inside a run (`Effect.retry(PolicyService.retry)` in a repository, `protect` around its caller) gives
 *   up twice on one failure: each run records its give-up, so the error is counted, and paged, twice. Retry at
 *   one level.
 * - An error reported to effect's `ErrorReporter` reaches every tracker installed around the reporting
 *   boundary, a nested `ErrorLayer`'s and the outer one's alike (reporters add up, as effect's do).
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import {
  Clock,
  Context,
  Duration,
  Effect,
  ErrorReporter,
  Fiber,
  Layer,
  Queue,
  References,
  Schema,
  Stream
} from "effect"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ConfigError from "./ConfigError.js"
import * as ErrorFamily from "./ErrorFamily.js"
import { CurrentObserver, type Failure, noObserver, type Observer, observe } from "./internal/observation.js"
import { Fanout, runSubscriber } from "./internal/tracker/fanout.js"
import { attach, internalsOf, Store } from "./internal/tracker/store.js"
import { objectOf } from "./internal/unknownKeys.js"

/**
 * The tracker.
 *
 * - `record` records an error in this tracker, with the time read from `Clock` and the fiber's log
 *   annotations. It never blocks, throws or fails: it enqueues; when the queue is full, the oldest waiting event
 *   is counted in the totals at once and skips the history and the subscribers (`dropped`). After the tracker's
 *   scope has closed, errors are still counted.
 * - `summary` and `history` first take in everything already enqueued, so they are exact when read.
 * - `events` is a `Stream` of events; `subscribe` runs a callback per event on its own fiber. Both live in a
 *   scope (the stream's, or the `Scope` of `subscribe`) and end when the tracker's scope closes.
 * - `reporter` is an effect `ErrorReporter` that records what it is given, except errors already recorded (so an
 *   error `protect` recorded is not counted again at a reporting boundary outside it); the layer installs it.
 * - `fiber` is the background fiber; it is interrupted when the tracker's scope closes.
 *
 * @since 0.2.0
 * @category models
 */
export interface ErrorTracker {
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
  ) => Effect.Effect<void, ConfigError.ConfigError, Scope.Scope>
  readonly reporter: ErrorReporter.ErrorReporter
  readonly fiber: Fiber.Fiber<never>
}

/**
 * The error tracker service, provided by {@link layer} and by `ErrorLayer`.
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
export const ErrorTracker: Context.Service<ErrorTracker, ErrorTracker> = Context.Service<ErrorTracker>(
  "@effect-resilience/core/ErrorTracker"
)

/**
 * Makes a tracker and starts its fiber in the current scope. Invalid options fail with a
 * `ConfigError.ConfigError` (paths from the options given here) before anything starts.
 *
 * The tracker made here observes nothing by itself: {@link layer} also adds it to the context's observers
 * (failures, recoveries and breaker state changes emitted by the strategies) and installs its `ErrorReporter`.
 * Its figures are exported as metrics by `ResilienceMetrics`.
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
): Effect.Effect<ErrorTracker, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
      Effect.mapError(configError)
    )
    const windowMillis = toMillis(config.window ?? "5 minutes")
    const subscriberBuffer = config.subscriberBuffer ?? 1024
    const subscriberTimeout = toMillis(config.subscriberTimeout ?? "30 seconds")

    const clock = yield* Clock.Clock
    const store = new Store({
      historySize: config.historySize ?? 1000,
      windowMillis,
      buckets: config.buckets ?? 30,
      startedAt: clock.currentTimeMillisUnsafe()
    })
    const fanout = new Fanout(store.subscribers)
    const queue = yield* Queue.dropping<Occurrence>(config.queueCapacity ?? 16_384)
    let closed = false

    const process = (occurrence: Occurrence) => {
      const index = store.take(occurrence)
      if (fanout.size > 0) fanout.deliver(store.history.eventAt(index))
    }
    // everything already enqueued, processed now: readers see exact figures without waiting for the fiber
    const drain = () => {
      for (let exit = Queue.takeUnsafe(queue); exit?._tag === "Success"; exit = Queue.takeUnsafe(queue)) {
        process(exit.value)
      }
    }
    const offer = (occurrence: Occurrence): void => {
      if (occurrence.recovery === "pending") store.expect(occurrence)
      if (closed) return process(occurrence)
      if (Queue.offerUnsafe(queue, occurrence)) return
      // full: the oldest waiting occurrence is counted now and skips history and subscribers, so the history
      // keeps the most recent events and the totals stay exact
      const oldest = Queue.takeUnsafe(queue)
      if (oldest !== undefined && oldest._tag === "Success") store.countDropped(oldest.value)
      if (!Queue.offerUnsafe(queue, occurrence)) store.countDropped(occurrence)
    }

    const fiber = yield* Effect.forkScoped(
      Effect.forever(Effect.map(Queue.takeAll(queue), (batch) => {
        for (const occurrence of batch) process(occurrence)
      }))
    )
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        // take in what is waiting, then count later occurrences directly: nothing offered is lost
        drain()
        closed = true
        fanout.close()
      }).pipe(Effect.andThen(Queue.shutdown(queue)))
    )

    // what `record` read from the last context it ran in
    const reads = new ContextReads()

    const observer: Observer = {
      active: true,
      calls: false, // calls are counted by `ResilienceMetrics`, not here
      emit: (event) => {
        switch (event._tag) {
          case "Failure":
            return offer(event)
          case "Resolved":
            return store.resolve(event.failure, event.outcome)
          case "Transition":
            return store.recordTransition(event.transition)
        }
      }
    }

    let anonymous = 0
    const tracker: ErrorTracker = {
      record: (error, options) =>
        Effect.sync(() => {
          const { clock, annotations } = reads.of(Fiber.getCurrent()!.context)
          offer(failureOf(error, clock.currentTimeMillisUnsafe(), annotations, options))
        }),
      summary: Effect.withFiber((fiber) => {
        drain()
        return Effect.succeed(store.summarize(fiber.getRef(Clock.Clock).currentTimeMillisUnsafe(), fanout.size))
      }),
      history: Effect.sync(() => {
        drain()
        return store.history.toArray()
      }),
      events: (filter) => fanout.stream(filter, subscriberBuffer),
      subscribe: (callback, options) =>
        Effect.gen(function*() {
          const decoded = yield* decodeSubscribeOptions(options ?? {}, {
            errors: "all",
            onExcessProperty: "error"
          }).pipe(Effect.mapError(configError))
          const name = decoded.name ?? `subscriber-${++anonymous}`
          const timeout = decoded.timeout === undefined ? subscriberTimeout : toMillis(decoded.timeout)
          const queue = yield* fanout.add(decoded, decoded.buffer ?? subscriberBuffer)
          yield* Effect.forkScoped(runSubscriber(queue, callback, name, timeout, store.subscribers))
        }),
      reporter: {
        [ErrorReporter.TypeId]: ErrorReporter.TypeId,
        report: ({ cause, fiber, timestamp }) => {
          // what is queued first, so that an error a strategy recorded a moment ago is known as recorded
          drain()
          for (const reason of cause.reasons) {
            if (reason._tag === "Interrupt") continue
            const error = reason._tag === "Fail" ? reason.error : reason.defect
            if (store.hasCounted(error) || ErrorReporter.isIgnored(error)) continue
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
    return attach(tracker, { store, drain, observer })
  })

/**
 * A layer providing the tracker, with its fiber scoped to the layer. It adds the tracker to the context's
 * observers, so the failures, recoveries and breaker state changes the strategies emit are tracked, and installs
 * its `ErrorReporter` next to any already installed, so errors reported through effect's `ErrorReporter` are
 * tracked too.
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
export const layer = (options?: Options): Layer.Layer<ErrorTracker, ConfigError.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const tracker = yield* make(options)
    const reporters = yield* ErrorReporter.CurrentErrorReporters
    return Layer.merge(
      Layer.succeedContext(
        Context.make(ErrorTracker, tracker).pipe(
          Context.add(ErrorReporter.CurrentErrorReporters, new Set([...reporters, tracker.reporter])),
          Context.add(CurrentRecordCache, new ContextReads())
        )
      ),
      observe(Effect.succeed(internalsOf(tracker)!.observer))
    )
  }))

// ---------------------------------------------------------------------------------------------------------------
// models
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
 * known; `annotations` are the log annotations of the fiber that failed (`Redacted` values as `"<redacted>"`);
 * `gaveUp` is present, and `true`, only on a failure that ended its run (no retry follows it; a fallback may).
 * `suppressed` (since 0.4.0) is present only on a give-up whose retry its policy asked for was not made: the retry
 * budget had none left (`"budget"`), or the error's retry-after hint exceeded the policy's `maxRetryAfter`
 * (`"pushback"`). `chaos` (since 0.6.0) is present, and `true`, only on an error a `Chaos` layer injected (a
 * rehearsal, not an outage): a failure of `Chaos.fail` or a defect of `Chaos.die` that is an object (a primitive
 * cannot be told from a real one and is not marked), wherever it was recorded (by `protect`, by the policy
 * schedule of an outer retry, at a reporting boundary), or one recorded by hand with `chaos: true`.
 *
 * **Example** (leaving rehearsals out of a pager)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * const page = (event: ErrorTracker.ErrorEvent) =>
 *   event.chaos === true
 *     ? Effect.logInfo(`rehearsal: ${event.tag} in ${event.operation ?? "?"}`)
 *     : Effect.logError(`PAGE: ${event.tag} in ${event.operation ?? "?"}`)
 * ```
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
  source: Source,
  gaveUp: Schema.optional(Schema.Literal(true)),
  suppressed: Schema.optional(Schema.Literals(["budget", "pushback"])),
  chaos: Schema.optional(Schema.Literal(true))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorEvent = typeof ErrorEvent.Type

/**
 * An error as handed to the tracker, before it is turned into an {@link ErrorEvent} on the tracker's fiber.
 * `annotations` may hold any values; they are made safe to export by the tracker. `gaveUp` marks a failure that
 * ended its run: `protect` sets it at its give-up, the policy schedule on the failure it does not retry.
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
  /**
   * A retry its policy asked for was not made: the retry budget had none left (`"budget"`), or the error's
   * retry-after hint exceeded the policy's `maxRetryAfter` (`"pushback"`). Set on a failure that `gaveUp`.
   */
  readonly suppressed?: "budget" | "pushback" | undefined
  /**
   * The error was injected by a `Chaos` layer: a rehearsal (since 0.6.0). `protect` sets it on a failure its
   * chaos stage injected; the tracker also finds any error object a chaos stage injected by itself, so it is
   * needed only to mark by hand an error the tracker cannot know of.
   */
  readonly chaos?: boolean | undefined
}

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
 * - `retriesSuppressed` (since 0.4.0): failures that ended their run because a retry their policy asked for was not
 *   made, by reason: the retry budget had none left (`budget`), or the error's retry-after hint exceeded the
 *   policy's `maxRetryAfter` (`pushback`). Exact counts since the tracker started, like `total`.
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
  }),
  retriesSuppressed: Schema.Struct({ budget: Schema.Number, pushback: Schema.Number })
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

/**
 * Which events a subscriber receives: all of them, or those that meet every criterion given:
 *
 * - `severities`: the event's severity is listed; `minSeverity`: it is at least this one;
 * - `tags`: the event's tag is listed; `kinds`: the event's kind (`business`, `recoverable`, `unrecoverable`) is;
 * - `gaveUp`: with `true`, only failures that ended their run (`protect`'s give-up, the policy schedule's last
 *   failure), never the attempts that were retried nor reported or hand-recorded errors; with `false`, only the
 *   others.
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly severities?: ReadonlyArray<ErrorFamily.Severity> | undefined
  readonly minSeverity?: ErrorFamily.Severity | undefined
  readonly tags?: ReadonlyArray<string> | undefined
  readonly kinds?: ReadonlyArray<ErrorFamily.Kind> | undefined
  readonly gaveUp?: boolean | undefined
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
 * Options of {@link ErrorTracker.subscribe}: a `name` for logs, a {@link Filter}, and overrides of the
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

// what subscribe accepts: its unknown keys are refused like those of every other options object
const SubscribeOptionsSchema = Schema.Struct({
  name: Schema.optional(Schema.String),
  buffer: Schema.optional(positiveInt),
  timeout: Schema.optional(durationInput("30 seconds")),
  severities: Schema.optional(Schema.Array(ErrorFamily.SeveritySchema)),
  minSeverity: Schema.optional(ErrorFamily.SeveritySchema),
  tags: Schema.optional(Schema.Array(Schema.String)),
  kinds: Schema.optional(Schema.Array(ErrorFamily.KindSchema)),
  gaveUp: Schema.optional(Schema.Boolean)
})

const decodeOptions = Schema.decodeUnknownEffect(objectOf(Options))
const decodeSubscribeOptions = Schema.decodeUnknownEffect(objectOf(SubscribeOptionsSchema))

// the issues of a decoding failure, with paths from the options decoded
const configError = (error: Schema.SchemaError) =>
  new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })

/**
 * Checks tracker options without making a tracker: every problem at once, in a `ConfigError.ConfigError` whose
 * paths start at the options (what {@link make} fails with). `ErrorLayer` uses it to report every section's
 * problems together.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorTracker } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: historySize: Expected a value greater than or equal to 1"
 * const checked = ErrorTracker.validate({ historySize: 0 }).pipe(Effect.flip)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(Effect.mapError(decodeOptions(options, { errors: "all", onExcessProperty: "error" }), configError))

// ---------------------------------------------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Records an error through the observers of the context: in the tracker of {@link layer} (or `ErrorLayer`) when
 * one is provided; otherwise does nothing. Never fails or blocks.
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
  // step); the running fiber is at hand all the same.
  Effect.sync(() => {
    const context = Fiber.getCurrent()!.context
    // without a tracker layer (no cache) another consumer may still want the failure: read afresh
    const { observer, clock, annotations } = (Context.get(context, CurrentRecordCache) ?? new ContextReads()).of(context)
    if (observer.active) observer.emit(failureOf(error, clock.currentTimeMillisUnsafe(), annotations, options))
  })

/**
 * What a record read from the last context it ran in. A context is immutable, so while a fiber's context is the
 * same object, so are its observer, clock and log annotations: one comparison per record instead of three
 * lookups. `tracker.record` keeps one; each tracker layer provides one for the {@link record} accessor.
 */
class ContextReads {
  private context: Context.Context<never> | undefined = undefined
  observer: Observer = noObserver
  clock: Clock.Clock = undefined as unknown as Clock.Clock
  annotations: Readonly<Record<string, unknown>> = {}
  of(context: Context.Context<never>): this {
    if (context !== this.context) {
      this.context = context
      this.observer = Context.get(context, CurrentObserver)
      this.clock = Context.get(context, Clock.Clock)
      this.annotations = Context.get(context, References.CurrentLogAnnotations)
    }
    return this
  }
}

const CurrentRecordCache = Context.Reference<ContextReads | undefined>(
  "@effect-resilience/core/ErrorTracker/RecordCache",
  { defaultValue: () => undefined }
)

// a failure of `error` at `timestamp`, in the given log annotations (what `tracker.record` offers and the
// accessor emits)
const failureOf = (
  error: unknown,
  timestamp: number,
  annotations: Readonly<Record<string, unknown>>,
  options: Omit<Occurrence, "error" | "timestamp" | "annotations"> | undefined
): Failure => ({
  _tag: "Failure",
  error,
  timestamp,
  operation: options?.operation,
  attempt: options?.attempt,
  recovery: options?.recovery,
  source: options?.source,
  gaveUp: options?.gaveUp,
  suppressed: options?.suppressed,
  chaos: options?.chaos,
  annotations
})

/**
 * Subscribes a callback to the tracker's events for the life of the current scope (or until the tracker closes).
 * Options that are not valid (an unknown key, a `buffer` that is not a positive integer, a `timeout` that is not
 * a positive duration, a severity or kind that does not exist) fail with a `ConfigError.ConfigError` whose paths
 * start at the options.
 *
 * **Example** (paging on an unrecoverable error that ended an operation)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ErrorLayer, ErrorTracker } from "@effect-resilience/core"
 *
 * // once per operation that gave up on an unrecoverable error (after its cleanup), not once per attempt
 * const PagerLive = Layer.effectDiscard(
 *   ErrorTracker.subscribe((event) => Effect.logError(`PAGE: ${event.code} in ${event.operation ?? "?"}`), {
 *     name: "pager",
 *     kinds: ["unrecoverable"],
 *     gaveUp: true
 *   })
 * ).pipe(Layer.provideMerge(ErrorLayer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const subscribe = (
  callback: Callback,
  options?: SubscribeOptions
): Effect.Effect<void, ConfigError.ConfigError, ErrorTracker | Scope.Scope> =>
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
