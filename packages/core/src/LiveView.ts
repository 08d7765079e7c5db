/**
 * The live view: the figures of the running service as compact frames, about twice a second, for a dashboard or
 * any client that watches (`OpsRoutes.events` streams them as Server-Sent Events, `OpsRoutes.dashboard` draws
 * them), with each breaker transition and each alert-worthy error event as it happens. `ErrorLayer` provides it;
 * {@link layer} provides it over the services it reads.
 *
 * **What a frame holds** (see {@link Frame}): per operation, its calls per second by outcome and its error rate
 * over the last `window` (10 s), its latency percentiles over the last minute, its hedges and suppressed retries,
 * the faults a `Chaos` layer injected into it in the window (so a rehearsal reads as one);
 * per breaker its state, the time left while open and its calls; per bulkhead, rate limiter and retry budget their
 * levels and rejections per second; the error totals by severity and the latest error events.
 *
 * **Watching costs nothing until someone watches.** Frames are made only while a client is connected (here or,
 * in a fleet, at another replica): each is one read of the `ResilienceMetrics` snapshot and the breakers'
 * states, on a fiber of the view's own. Nothing is added to any call's path. The two-minute history behind the
 * sparklines is kept while frames are made, so it starts when the first client connects.
 *
 * **Clients never hold anything up.** Each client has a bounded buffer (`buffer` messages); a client that reads
 * too slowly loses its oldest messages, which are counted, and it is told how many it lost (a `Dropped` message)
 * when it reads again. One that reads nothing while four buffers' worth are lost is taken as gone: its stream
 * ends (after what it holds), and its place is freed. At most `maxClients` are connected at once: one more is refused with a
 * {@link LiveViewError}. When the layer closes, every client's stream ends.
 *
 * **The fleet.** With a shared store (`RedisBreakerStore`) in the context, the replicas publish their frames on
 * the store's channel while a client of any of them watches (each frame says whether its replica has clients; the
 * others publish theirs until `stale` after the last such frame), and a replica with clients reads the others',
 * so its view holds the whole fleet: a frame per replica and their sum (`View.fleet`), with no aggregator
 * service. A replica not heard of for `stale` (5 s) leaves the view; at most 64 others are kept. While nobody in
 * the fleet watches, nothing is made or published. Publishing costs one `PUBLISH` of a frame per interval per
 * replica (a few hundred bytes per operation), under the store's timeout, and never touches a call.
 *
 * @since 0.5.0
 */
import { Cause, Context, Duration, Effect, Exit, Layer, Queue, Schema, Scope, Stream } from "effect"
import * as BreakerRegistry from "./BreakerRegistry.js"
import type * as Chaos from "./Chaos.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ConfigError from "./ConfigError.js"
import * as ErrorFamily from "./ErrorFamily.js"
import * as ErrorTracker from "./ErrorTracker.js"
import { monotonicMillis } from "./internal/breaker/store.js"
import { objectOf } from "./internal/unknownKeys.js"
import * as RedisBreakerStore from "./RedisBreakerStore.js"
import * as ResilienceMetrics from "./ResilienceMetrics.js"

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

const PerOutcome = Schema.Struct({
  succeeded: Schema.Number,
  succeeded_after_retry: Schema.Number,
  failed: Schema.Number,
  failed_after_retry: Schema.Number,
  rejected: Schema.Number
})

/**
 * One operation in a {@link Frame}:
 *
 * - `rate`: its calls per second over the view's window, every outcome included; `perSecond`: the same by outcome
 *   (see `ResilienceMetrics.CallOutcome`).
 * - `errorRate`: the share of those calls that failed or were rejected (`0` to `1`; `0` with no calls).
 * - `latency` (when it had timed calls in the last minute): p50, p90, p99 and max in milliseconds, and how many.
 * - `hedges`, `suppressed` (when it has any): its hedges and suppressed retries since the service started.
 * - `chaos` (since 0.6.0; when a `Chaos` layer injected faults into it in the view's window): how many of each
 *   kind in the window (`injected`) and their rate per second (`rate`, every kind). Those injections are also in
 *   its calls and errors: this says they are a rehearsal, not an outage. An operation whose calls were all
 *   interrupted by chaos has a frame too (with no calls).
 *
 * @since 0.5.0
 * @category schemas
 */
export const OperationFrame = Schema.Struct({
  name: Schema.String,
  rate: Schema.Number,
  perSecond: PerOutcome,
  errorRate: Schema.Number,
  latency: Schema.optional(Schema.Struct({
    count: Schema.Number,
    p50: Schema.Number,
    p90: Schema.Number,
    p99: Schema.Number,
    max: Schema.Number
  })),
  hedges: Schema.optional(Schema.Struct({
    started: Schema.Number,
    won: Schema.Number,
    lost: Schema.Number,
    suppressed: Schema.Number
  })),
  suppressed: Schema.optional(Schema.Struct({ budget: Schema.Number, pushback: Schema.Number })),
  chaos: Schema.optional(Schema.Struct({
    rate: Schema.Number,
    injected: Schema.Struct({
      fail: Schema.Number,
      die: Schema.Number,
      latency: Schema.Number,
      interrupt: Schema.Number
    })
  }))
})

/**
 * @since 0.5.0
 * @category models
 */
export type OperationFrame = typeof OperationFrame.Type

/**
 * One breaker in a {@link Frame}: its status, the time left before it lets a probe through (`remainingMillis`,
 * while open or half-open), its openings, its calls by outcome since it was made (see `CircuitBreaker.Calls`),
 * and, when shared, its store's mode.
 *
 * @since 0.5.0
 * @category schemas
 */
export const BreakerFrame = Schema.Struct({
  name: Schema.String,
  status: CircuitBreaker.Status,
  remainingMillis: Schema.optional(Schema.Number),
  openings: Schema.Number,
  calls: CircuitBreaker.Calls,
  shared: Schema.optional(Schema.Literals(["shared", "degraded", "off"]))
})

/**
 * @since 0.5.0
 * @category models
 */
export type BreakerFrame = typeof BreakerFrame.Type

/**
 * One bulkhead in a {@link Frame}: its limit, calls running and waiting, queue size, calls admitted and refused
 * since it was made, and refusals per second over the view's window.
 *
 * @since 0.5.0
 * @category schemas
 */
export const BulkheadFrame = Schema.Struct({
  name: Schema.String,
  limit: Schema.Number,
  inFlight: Schema.Number,
  queued: Schema.Number,
  queue: Schema.Number,
  admitted: Schema.Number,
  rejected: Schema.Number,
  rejectedPerSecond: Schema.Number
})

/**
 * @since 0.5.0
 * @category models
 */
export type BulkheadFrame = typeof BulkheadFrame.Type

/**
 * One rate limiter in a {@link Frame}: its algorithm, limit per window, mode (`local`, `shared` on a fleet,
 * `degraded` while its store is away), grants and refusals since it was made, refusals per second.
 *
 * @since 0.5.0
 * @category schemas
 */
export const LimiterFrame = Schema.Struct({
  name: Schema.String,
  algorithm: Schema.String,
  limit: Schema.Number,
  windowMillis: Schema.Number,
  mode: Schema.Literals(["local", "shared", "degraded"]),
  granted: Schema.Number,
  rejected: Schema.Number,
  rejectedPerSecond: Schema.Number
})

/**
 * @since 0.5.0
 * @category models
 */
export type LimiterFrame = typeof LimiterFrame.Type

/**
 * One retry budget in a {@link Frame}: its kind, the retries it would grant now (`available`), grants and
 * refusals since it was made, refusals per second.
 *
 * @since 0.5.0
 * @category schemas
 */
export const BudgetFrame = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literals(["ratio", "tokens"]),
  available: Schema.Number,
  granted: Schema.Number,
  refused: Schema.Number,
  refusedPerSecond: Schema.Number
})

/**
 * @since 0.5.0
 * @category models
 */
export type BudgetFrame = typeof BudgetFrame.Type

/**
 * An error event as the view shows it: its public view only (tag, code, severity, public message; never internal
 * detail), when it happened (epoch milliseconds), its operation, whether it ended its run (`gaveUp`), whether a
 * `Chaos` layer injected it (`chaos`, since 0.6.0: present, and `true`, only on a rehearsal's error, as the
 * tracker's `ErrorEvent` says), and, in a fleet's sum, the replica it happened on.
 *
 * **Example**
 *
 * ```ts
 * import { LiveView } from "@effect-resilience/core"
 *
 * const line = (item: LiveView.ErrorItem) =>
 *   `${item.chaos === true ? "[chaos] " : ""}${item.tag} in ${item.operation ?? "?"}`
 * ```
 *
 * @since 0.5.0
 * @category schemas
 */
export const ErrorItem = Schema.Struct({
  at: Schema.Number,
  tag: Schema.String,
  code: Schema.String,
  severity: ErrorFamily.SeveritySchema,
  message: Schema.String,
  operation: Schema.optional(Schema.String),
  gaveUp: Schema.optional(Schema.Boolean),
  chaos: Schema.optional(Schema.Boolean),
  replica: Schema.optional(Schema.String)
})

/**
 * @since 0.5.0
 * @category models
 */
export type ErrorItem = typeof ErrorItem.Type

/**
 * The figures of one replica at one instant (`at`, epoch milliseconds). Operations are sorted by traffic, busiest
 * first; beyond `maxOperations` the quietest are left out and counted in `truncated`. Breakers, bulkheads,
 * limiters and budgets are sorted by name. `errors.recent` holds the latest error events, newest first (at most
 * 20).
 *
 * @since 0.5.0
 * @category schemas
 */
export const Frame = Schema.Struct({
  replica: Schema.String,
  at: Schema.Number,
  windowMillis: Schema.Number,
  truncated: Schema.Number,
  operations: Schema.Array(OperationFrame),
  breakers: Schema.Array(BreakerFrame),
  bulkheads: Schema.Array(BulkheadFrame),
  limiters: Schema.Array(LimiterFrame),
  budgets: Schema.Array(BudgetFrame),
  errors: Schema.Struct({
    total: Schema.Number,
    bySeverity: Schema.Struct({
      low: Schema.Number,
      medium: Schema.Number,
      high: Schema.Number,
      critical: Schema.Number
    }),
    recent: Schema.Array(ErrorItem)
  })
})

/**
 * @since 0.5.0
 * @category models
 */
export type Frame = typeof Frame.Type

/**
 * What a client sees at one instant: this replica's frame first, then those of the other replicas heard from
 * (sorted by replica), and, when there are several, their sum (`fleet`, replica `"fleet"`; see {@link sum}).
 *
 * @since 0.5.0
 * @category schemas
 */
export const View = Schema.Struct({
  at: Schema.Number,
  replica: Schema.String,
  frames: Schema.Array(Frame),
  fleet: Schema.optional(Frame)
})

/**
 * @since 0.5.0
 * @category models
 */
export type View = typeof View.Type

/**
 * A client's messages, in order:
 *
 * - `Hello` (first, once): the view's settings, the sparklines' history (per operation, its calls per second at
 *   `historyStepMillis` resolution, oldest first, at most two minutes) and the current view.
 * - `Frame`: the view, every `intervalMillis`.
 * - `Transition`: a breaker of this replica changed state (as it happens, in order; a shared breaker's change made
 *   by another replica arrives as this replica adopts it).
 * - `Alert`: an alert-worthy error event (as it happens): a failure that ended its run (no retry follows it) and
 *   is not a business error, or any error of severity `critical`. At most 10 per interval are sent (an
 *   outage can fail hundreds of calls a second); the others are in the frames' totals and recent events. An
 *   error a `Chaos` layer injected is alerted on too (a rehearsal of the alert), with `chaos: true` on its item.
 * - `Dropped`: this client read too slowly and lost `count` messages (its oldest) since the last time it was told.
 *
 * @since 0.5.0
 * @category schemas
 */
export const Message = Schema.Union([
  Schema.TaggedStruct("Hello", {
    v: Schema.Literal(1),
    replica: Schema.String,
    intervalMillis: Schema.Number,
    windowMillis: Schema.Number,
    historyStepMillis: Schema.Number,
    history: Schema.Array(Schema.Struct({ name: Schema.String, rates: Schema.Array(Schema.Number) })),
    view: View
  }),
  Schema.TaggedStruct("Frame", { view: View }),
  Schema.TaggedStruct("Transition", { replica: Schema.String, transition: CircuitBreaker.Transition }),
  Schema.TaggedStruct("Alert", { replica: Schema.String, error: ErrorItem }),
  Schema.TaggedStruct("Dropped", { count: Schema.Number })
])

/**
 * @since 0.5.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A client the view refused: `maxClients` clients are connected already. Recoverable: one may connect once
 * another has gone. The HTTP edge answers it with 503.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { LiveView } from "@effect-resilience/core"
 *
 * const first = LiveView.LiveView.use((view) => Stream.runHead(view.messages)).pipe(
 *   Effect.catchTag("LiveViewError", (e) => Effect.logWarning(`refused: ${e.limit} clients already`))
 * )
 * ```
 *
 * @since 0.5.0
 * @category errors
 */
export class LiveViewError extends ErrorFamily.TaggedError<LiveViewError>()("LiveViewError", {
  reason: Schema.Literal("clients"),
  limit: Schema.Number
}, {
  code: "resilience.E0011",
  kind: "recoverable",
  severity: "low",
  publicMessage: "Too many clients are watching; try again later."
}) {}

/**
 * The live view service:
 *
 * - `messages`: one client's stream of {@link Message}s (its first is `Hello`), from when it is run until the
 *   view closes; it fails with {@link LiveViewError} at once when `maxClients` clients are connected.
 * - `view`: the current view, made now.
 * - `stats`: the clients connected now, how many may be, and the messages dropped for slow clients since the view
 *   started.
 *
 * @since 0.5.0
 * @category models
 */
export interface LiveView {
  readonly replica: string
  readonly messages: Stream.Stream<Message, LiveViewError>
  readonly view: Effect.Effect<View>
  readonly stats: Effect.Effect<{ readonly clients: number; readonly maxClients: number; readonly dropped: number }>
}

/**
 * The live view service, provided by {@link layer} and by `ErrorLayer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ErrorLayer, LiveView } from "@effect-resilience/core"
 *
 * const busiest = LiveView.LiveView.use((live) => live.view).pipe(
 *   Effect.map((view) => view.frames[0]?.operations[0]?.name),
 *   Effect.provide(ErrorLayer.layer())
 * )
 * ```
 *
 * @since 0.5.0
 * @category services
 */
export const LiveView: Context.Service<LiveView, LiveView> = Context.Service<LiveView>(
  "@effect-resilience/core/LiveView"
)

// ---------------------------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------------------------

const positiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

const millisOf = (input: string | number): number | undefined => {
  const duration = Duration.fromInput(input as Duration.Input)
  if (duration._tag !== "Some" || !Duration.isFinite(duration.value)) return undefined
  const millis = Duration.toMillis(duration.value)
  return millis > 0 ? millis : undefined
}

// milliseconds as a number, or a string such as "500 millis"; positive and finite
const durationInput = (example: string) =>
  Schema.Union([
    Schema.Finite.check(Schema.isGreaterThan(0)),
    Schema.String.check(Schema.makeFilter((s: string) =>
      millisOf(s) !== undefined ? undefined : `Expected a positive duration such as "${example}", got ${JSON.stringify(s)}`
    ))
  ])

/**
 * Options of {@link layer} (and of `ErrorLayer`'s `live`), all optional. Durations are milliseconds or strings
 * such as `"500 millis"`. Unknown keys are refused, with the nearest known name.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `interval` | time between frames | `"500 millis"` |
 * | `window` | the window of the rates (calls and refusals per second, error rate) | `"10 seconds"` |
 * | `maxClients` | clients connected at once; one more is refused with {@link LiveViewError} | `32` |
 * | `buffer` | messages buffered per client; a slower client loses its oldest | `64` |
 * | `maxOperations` | operations per frame, the busiest kept | `1000` |
 * | `fleet` | with a shared store (`RedisBreakerStore`) in the context: publish this replica's frames and show the other replicas' | `true` |
 * | `stale` | a replica not heard of for this long leaves the view | `"5 seconds"` |
 *
 * The interval is at least 50 ms, the window at least the interval, and `stale` at least twice the interval.
 *
 * @since 0.5.0
 * @category schemas
 */
export const Options = Schema.Struct({
  interval: Schema.optional(durationInput("500 millis")),
  window: Schema.optional(durationInput("10 seconds")),
  maxClients: Schema.optional(positiveInt),
  buffer: Schema.optional(positiveInt),
  maxOperations: Schema.optional(positiveInt),
  fleet: Schema.optional(Schema.Boolean),
  stale: Schema.optional(durationInput("5 seconds"))
})

/**
 * @since 0.5.0
 * @category models
 */
export type Options = typeof Options.Encoded

const decodeOptions = Schema.decodeUnknownEffect(objectOf(Options))

/**
 * Checks the options as {@link layer} does, without building anything: every problem at once, in a
 * `ConfigError.ConfigError` naming each field (unknown keys included).
 *
 * **Example**
 *
 * ```ts
 * import { LiveView } from "@effect-resilience/core"
 *
 * // fails: interval must be a positive duration
 * const checked = LiveView.validate({ interval: "soon" })
 * ```
 *
 * @since 0.5.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(settingsOf(options))

interface Settings {
  readonly intervalMillis: number
  readonly windowMillis: number
  readonly maxClients: number
  readonly buffer: number
  readonly maxOperations: number
  readonly fleet: boolean
  readonly staleMillis: number
}

const settingsOf = (options: Options): Effect.Effect<Settings, ConfigError.ConfigError> =>
  decodeOptions(options, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(error.issue) })),
    Effect.map((o): Settings => ({
      intervalMillis: millisOf(o.interval ?? 500)!,
      windowMillis: millisOf(o.window ?? 10_000)!,
      maxClients: o.maxClients ?? 32,
      buffer: o.buffer ?? 64,
      maxOperations: o.maxOperations ?? 1000,
      fleet: o.fleet ?? true,
      staleMillis: millisOf(o.stale ?? 5000)!
    })),
    Effect.flatMap((settings) => {
      // the durations against each other: a ticker that never rests, rates over less than a frame, a replica
      // that leaves the view between two of its frames
      const issues: Array<{ readonly path: ReadonlyArray<string>; readonly message: string }> = []
      if (settings.intervalMillis < minIntervalMillis) {
        issues.push({ path: ["interval"], message: `Expected at least ${minIntervalMillis} millis` })
      }
      if (settings.windowMillis < settings.intervalMillis) {
        issues.push({ path: ["window"], message: "Expected at least the interval" })
      }
      if (settings.staleMillis < 2 * settings.intervalMillis) {
        issues.push({ path: ["stale"], message: "Expected at least twice the interval" })
      }
      return issues.length === 0 ? Effect.succeed(settings) : Effect.fail(new ConfigError.ConfigError({ issues }))
    })
  )

const minIntervalMillis = 50

// ---------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------

const historyStepMillis = 1000
const historyPoints = 120
const recentErrors = 20
const maxAlerts = 10
const severities = ["low", "medium", "high", "critical"] as const

interface Client {
  readonly queue: Queue.Queue<Message, Cause.Done>
  dropped: number
}

// cumulative figures at one instant (monotonic milliseconds), for the rates over the window
interface Sample {
  readonly at: number
  readonly values: Map<string, number>
}

/**
 * Makes the live view over the metrics, the breakers and the tracker of the context, for the life of the scope
 * (closing it ends every client's stream). With a `RedisBreakerStore` in the context (and `fleet` not `false`)
 * the frames are shared with the other replicas.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ErrorLayer, LiveView } from "@effect-resilience/core"
 *
 * // the first two messages a client gets: Hello, then a Frame
 * const firstTwo = Effect.scoped(Effect.gen(function*() {
 *   const live = yield* LiveView.make({ interval: "1 second" })
 *   return yield* Stream.runCollect(Stream.take(live.messages, 2))
 * })).pipe(Effect.provide(ErrorLayer.layer()))
 * ```
 *
 * @since 0.5.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  LiveView,
  ConfigError.ConfigError,
  Scope.Scope | ResilienceMetrics.ResilienceMetrics | BreakerRegistry.BreakerRegistry | ErrorTracker.ErrorTracker
> =>
  Effect.gen(function*() {
    const settings = yield* settingsOf(options)
    const metrics = yield* ResilienceMetrics.ResilienceMetrics
    const breakers = yield* BreakerRegistry.BreakerRegistry
    const tracker = yield* ErrorTracker.ErrorTracker
    const store = yield* Effect.serviceOption(RedisBreakerStore.RedisBreakerStore)
    const fleet = settings.fleet && store._tag === "Some" ? RedisBreakerStore.fleetOf(store.value) : undefined
    const replica = store._tag === "Some" ? store.value.replica : "local"
    const clock = yield* Effect.clockWith(Effect.succeed)
    const scope = yield* Effect.scope

    const clients = new Set<Client>()
    let joining = 0 // clients between the limit's check and their Hello
    let dropped = 0
    let alerts = 0 // sent in this interval
    let closed = false
    const recent: Array<ErrorItem> = [] // newest last
    const remote = new Map<string, { readonly frame: Frame; readonly heard: number }>()
    let samples: Array<Sample> = []
    let history = new Map<string, Array<number>>()
    let step: { readonly at: number; readonly totals: Map<string, number> } | undefined

    // --- delivery: never blocks; a full buffer (a sliding queue of `buffer` messages) loses its oldest, counted
    const deliver = (message: Message) => {
      for (const client of clients) offer(client, message)
    }
    // A client that has read nothing while four buffers' worth were dropped is gone (a peer that vanished without
    // closing its connection): its stream ends, and its place is freed
    const offer = (client: Client, message: Message) => {
      if (Queue.sizeUnsafe(client.queue) >= settings.buffer) {
        client.dropped++
        dropped++
        if (client.dropped >= 4 * settings.buffer) {
          clients.delete(client)
          Queue.endUnsafe(client.queue)
          return
        }
      }
      Queue.offerUnsafe(client.queue, message)
    }

    // --- the frames
    // `record`: the ticker's frames add a sample (and a sparkline point); any other read (a view, a Hello) is
    // computed against the samples as they are, and reads the latest errors from the tracker itself
    const localFrame = (record: boolean): Effect.Effect<Frame> => Effect.gen(function*() {
      const snapshot = yield* metrics.snapshot
      const states = yield* breakers.states
      const mono = monotonicMillis(clock)
      const at = clock.currentTimeMillisUnsafe()
      const values = new Map<string, number>()
      for (const c of snapshot.calls) {
        for (const outcome of outcomes) values.set(`c\u0000${c.operation}\u0000${outcome}`, c[outcome])
      }
      for (const b of snapshot.bulkheads) {
        values.set(`b\u0000${b.name}`, b.rejected.full + b.rejected.queue_timeout + b.rejected.evicted)
      }
      for (const l of snapshot.rateLimiters) values.set(`l\u0000${l.name}`, l.rejected)
      for (const b of snapshot.budgets) values.set(`r\u0000${b.name}`, b.refused)
      for (const c of snapshot.chaos) {
        for (const kind of chaosKinds) values.set(`x\u0000${c.operation}\u0000${kind}`, c[kind])
      }
      if (record) {
        samples.push({ at: mono, values })
        while (samples.length > 2 && samples[1]!.at <= mono - settings.windowMillis) samples.shift()
        recordHistory(mono, snapshot.calls)
      }
      const oldest = samples[0]
      const seconds = oldest === undefined ? 0 : (mono - oldest.at) / 1000
      // how much a cumulative figure grew over the window
      const grown = (key: string) =>
        oldest === undefined ? 0 : Math.max(0, (values.get(key) ?? 0) - (oldest.values.get(key) ?? 0))
      const rate = (key: string) => seconds <= 0 ? 0 : grown(key) / seconds
      const latest = record ? recent : (yield* tracker.history).slice(-recentErrors).map(itemOf)

      const latency = new Map(snapshot.latency.map((l) => [l.operation, l]))
      const hedges = new Map(snapshot.hedges.map((h) => [h.operation, h]))
      const suppressed = new Map(snapshot.retriesSuppressed.map((s) => [s.operation, s]))
      // an operation's injections in the window, when it had any
      const chaosOf = (operation: string): OperationFrame["chaos"] => {
        const injected = { fail: 0, die: 0, latency: 0, interrupt: 0 }
        let total = 0
        for (const kind of chaosKinds) total += injected[kind] = grown(`x\u0000${operation}\u0000${kind}`)
        return total === 0 ? undefined : { rate: seconds <= 0 ? 0 : total / seconds, injected }
      }
      const operations = snapshot.calls.map((c): OperationFrame => {
        const perSecond = {
          succeeded: rate(`c\u0000${c.operation}\u0000succeeded`),
          succeeded_after_retry: rate(`c\u0000${c.operation}\u0000succeeded_after_retry`),
          failed: rate(`c\u0000${c.operation}\u0000failed`),
          failed_after_retry: rate(`c\u0000${c.operation}\u0000failed_after_retry`),
          rejected: rate(`c\u0000${c.operation}\u0000rejected`)
        }
        const l = latency.get(c.operation)
        const h = hedges.get(c.operation)
        const s = suppressed.get(c.operation)
        const x = chaosOf(c.operation)
        return {
          name: c.operation,
          ...ratesOf(perSecond),
          ...(l !== undefined && l.count > 0
            ? { latency: { count: l.count, p50: l.p50, p90: l.p90, p99: l.p99, max: l.max } }
            : {}),
          ...(h !== undefined ? { hedges: { started: h.started, won: h.won, lost: h.lost, suppressed: h.suppressed } } : {}),
          ...(s !== undefined ? { suppressed: { budget: s.budget, pushback: s.pushback } } : {}),
          ...(x !== undefined ? { chaos: x } : {})
        }
      })
      // an operation chaos interrupted at every call has no calls counted (an interruption is no outcome), and
      // still shows its rehearsal
      if (snapshot.chaos.length > 0) {
        const called = new Set(snapshot.calls.map((c) => c.operation))
        for (const c of snapshot.chaos) {
          const x = called.has(c.operation) ? undefined : chaosOf(c.operation)
          if (x !== undefined) operations.push({ name: c.operation, ...ratesOf({ ...zeroPerSecond }), chaos: x })
        }
      }
      operations.sort(byTraffic)
      const kept = operations.slice(0, settings.maxOperations)
      return {
        replica,
        at,
        windowMillis: settings.windowMillis,
        truncated: operations.length - kept.length,
        operations: kept,
        breakers: states.map((s): BreakerFrame => ({
          name: s.breaker,
          status: s.status,
          ...(s.retryAfterMillis !== undefined && Number.isFinite(s.retryAfterMillis)
            ? { remainingMillis: Math.max(0, s.retryAfterMillis) }
            : {}),
          openings: s.openings,
          calls: s.calls,
          ...(s.shared !== undefined ? { shared: s.shared.mode } : {})
        })),
        bulkheads: snapshot.bulkheads.map((b) => ({
          name: b.name,
          limit: b.limit,
          inFlight: b.inFlight,
          queued: b.queued,
          queue: b.queue,
          admitted: b.admitted,
          rejected: b.rejected.full + b.rejected.queue_timeout + b.rejected.evicted,
          rejectedPerSecond: rate(`b\u0000${b.name}`)
        })),
        limiters: snapshot.rateLimiters.map((l) => ({
          name: l.name,
          algorithm: l.algorithm,
          limit: l.limit,
          windowMillis: l.windowMillis,
          mode: l.mode,
          granted: l.granted,
          rejected: l.rejected,
          rejectedPerSecond: rate(`l\u0000${l.name}`)
        })),
        budgets: snapshot.budgets.map((b) => ({
          name: b.name,
          kind: b.kind,
          available: b.available,
          granted: b.granted,
          refused: b.refused,
          refusedPerSecond: rate(`r\u0000${b.name}`)
        })),
        errors: {
          total: snapshot.errors.total,
          bySeverity: snapshot.errors.bySeverity,
          recent: latest.slice(-recentErrors).reverse()
        }
      } satisfies Frame
    })

    // the sparklines: each operation's calls per second, one point per step while frames are made; after a pause
    // longer than two steps the history starts again (a point averaged over the pause would be made up)
    const recordHistory = (mono: number, calls: ReadonlyArray<ResilienceMetrics.OperationCalls>) => {
      const totals = new Map(calls.map((c) => [c.operation, totalOf(c)]))
      if (step === undefined || mono - step.at > 2 * Math.max(historyStepMillis, settings.intervalMillis)) {
        if (step !== undefined) history = new Map()
        step = { at: mono, totals }
        return
      }
      if (mono - step.at < historyStepMillis) return
      const seconds = (mono - step.at) / 1000
      for (const [operation, total] of totals) {
        let points = history.get(operation)
        if (points === undefined) {
          points = []
          history.set(operation, points)
        }
        points.push(Math.max(0, (total - (step.totals.get(operation) ?? 0)) / seconds))
        if (points.length > historyPoints) points.shift()
      }
      step = { at: mono, totals }
    }

    const viewOf = (record: boolean): Effect.Effect<View> => Effect.map(localFrame(record), (frame) => {
      const now = monotonicMillis(clock)
      for (const [id, entry] of remote) {
        if (now - entry.heard > settings.staleMillis) remote.delete(id)
      }
      const others = [...remote.values()].map((e) => e.frame).sort((a, b) => compare(a.replica, b.replica))
      const frames = [frame, ...others]
      const view: View = {
        at: frame.at,
        replica,
        frames,
        ...(frames.length > 1 ? { fleet: sum(frames) } : {})
      }
      return view
    })

    // --- the ticker and the tracker's events run while someone watches: a client here, or, in a fleet, a client of
    // another replica (whose frames say so: `watched`). With a fleet the ticker always runs, but while nobody in
    // the fleet watches it only wakes each interval to check: no frame is made and nothing is published.
    let watchedUntil = -Infinity // the monotonic time until which another replica's client counts as watching
    let idle = true
    // the rates start again after a pause: samples from before it would stretch the window over it. Answers
    // whether the view was idle (its first frame then takes the first sample)
    const wake = () => {
      if (!idle) return false
      samples = []
      idle = false
      return true
    }
    const frameOnce = Effect.gen(function*() {
      const now = monotonicMillis(clock)
      if (clients.size === 0 && now > watchedUntil) {
        idle = true
        return
      }
      wake()
      alerts = 0
      const view = yield* viewOf(true)
      if (clients.size > 0) deliver({ _tag: "Frame", view })
      if (fleet !== undefined) yield* fleet.publishView(view.frames[0], clients.size > 0)
    })
    const tick = Effect.forever(
      Effect.andThen(
        Effect.sleep(settings.intervalMillis),
        // a frame that fails is logged and the next one tried: the view never stops for good
        Effect.catchCause(frameOnce, (cause) => Effect.logWarning("the live view could not make a frame", cause))
      )
    )
    const onError = (event: ErrorTracker.ErrorEvent) => {
      const item = itemOf(event)
      recent.push(item)
      if (recent.length > recentErrors) recent.shift()
      if (clients.size > 0 && isAlert(event) && alerts < maxAlerts) {
        alerts++
        deliver({ _tag: "Alert", replica, error: item })
      }
    }
    const onTransition = (transition: CircuitBreaker.Transition) => {
      if (clients.size > 0) deliver({ _tag: "Transition", replica, transition })
    }
    // the watch's own scope: closing it stops the ticker and ends both subscriptions
    let watchScope: Scope.Closeable | undefined
    const startWatching = Effect.suspend(() => {
      if (watchScope !== undefined || closed) return Effect.void
      return Effect.gen(function*() {
        const own = yield* Scope.fork(scope)
        watchScope = own
        // both subscriptions are made before this returns, so before the caller's Hello: nothing that happens after
        // it is missed (each loop starts at once, and runs until its first wait, which comes after it subscribed)
        const now = { startImmediately: true } as const
        yield* Effect.forkIn(Stream.runForEach(tracker.events(), (event) => Effect.sync(() => onError(event))), own, now)
        yield* Effect.forkIn(Stream.runForEach(breakers.changes, (t) => Effect.sync(() => onTransition(t))), own, now)
        idle = true
        // the latest errors so far, so a first client sees them at once
        const past = yield* tracker.history
        recent.splice(0, recent.length, ...past.slice(-recentErrors).map(itemOf))
        yield* Effect.forkIn(tick, own)
      })
    })
    const stopWatching = Effect.suspend(() => {
      const own = watchScope
      if (own === undefined || clients.size > 0 || joining > 0 || fleet !== undefined) return Effect.void
      watchScope = undefined
      return Scope.close(own, Exit.void)
    })

    // --- the fleet: the other replicas' frames, as they are published. Only a replica with clients of its own
    // decodes and keeps them; any other only notes whether they are watched. At most `maxRemote` replicas are kept.
    if (fleet !== undefined) {
      const unregister = fleet.onView((value, watched) => {
        const from = typeof value === "object" && value !== null ? (value as { readonly replica?: unknown }).replica : undefined
        if (typeof from !== "string" || from === replica) return
        const now = monotonicMillis(clock)
        if (watched) watchedUntil = Math.max(watchedUntil, now + settings.staleMillis)
        if (clients.size === 0 && joining === 0) return
        if (!remote.has(from) && remote.size >= maxRemote) return
        const decoded = decodeFrame(value)
        if (decoded._tag === "Some") remote.set(from, { frame: decoded.value, heard: now })
      })
      yield* Effect.addFinalizer(() => Effect.sync(unregister))
      yield* startWatching
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const client of clients) Queue.endUnsafe(client.queue)
        clients.clear()
      })
    )

    const historyOf = (view: View) =>
      view.frames[0]!.operations.flatMap((o) => {
        const rates = history.get(o.name)
        return rates === undefined || rates.length === 0 ? [] : [{ name: o.name, rates: [...rates] }]
      })

    const connect = Effect.acquireRelease(
      Effect.gen(function*() {
        if (clients.size + joining >= settings.maxClients) {
          return yield* new LiveViewError({ reason: "clients", limit: settings.maxClients })
        }
        const queue = yield* Queue.sliding<Message, Cause.Done>(settings.buffer)
        const client: Client = { queue, dropped: 0 }
        if (closed) {
          Queue.endUnsafe(queue)
          return client
        }
        // its Hello first, then whatever happens next (the acquisition is not interruptible)
        joining++
        yield* startWatching
        const view = yield* Effect.ensuring(Effect.suspend(() => viewOf(wake())), Effect.sync(() => joining--))
        Queue.offerUnsafe(queue, {
          _tag: "Hello",
          v: 1,
          replica,
          intervalMillis: settings.intervalMillis,
          windowMillis: settings.windowMillis,
          historyStepMillis,
          history: historyOf(view),
          view
        })
        if (closed) Queue.endUnsafe(queue)
        else clients.add(client)
        return client
      }),
      (client) =>
        Effect.suspend(() => {
          clients.delete(client)
          Queue.endUnsafe(client.queue)
          return stopWatching
        })
    )

    const messages: Stream.Stream<Message, LiveViewError> = Stream.unwrap(Effect.map(connect, (client) =>
      Stream.fromQueue(client.queue).pipe(
        Stream.mapArray((batch) => {
          if (client.dropped === 0) return batch
          const count = client.dropped
          client.dropped = 0
          return [{ _tag: "Dropped", count } as Message, ...batch] as unknown as typeof batch
        })
      )))

    return {
      replica,
      messages,
      view: viewOf(false),
      stats: Effect.sync(() => ({ clients: clients.size, maxClients: settings.maxClients, dropped }))
    } satisfies LiveView
  })

/**
 * The live view as a layer, over the `ResilienceMetrics`, `BreakerRegistry` and `ErrorTracker` of its context
 * (`ErrorLayer` provides it already; use this for a view with other options over services built by hand).
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { BreakerRegistry, ErrorTracker, LiveView, ResilienceMetrics } from "@effect-resilience/core"
 *
 * const Live = LiveView.layer({ interval: "1 second" }).pipe(
 *   Layer.provideMerge(BreakerRegistry.layer()),
 *   Layer.provideMerge(ResilienceMetrics.layer),
 *   Layer.provideMerge(ErrorTracker.layer())
 * )
 * ```
 *
 * @since 0.5.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  LiveView,
  ConfigError.ConfigError,
  ResilienceMetrics.ResilienceMetrics | BreakerRegistry.BreakerRegistry | ErrorTracker.ErrorTracker
> => Layer.effect(LiveView, make(options))

// ---------------------------------------------------------------------------------------------------------------
// combinators
// ---------------------------------------------------------------------------------------------------------------

const statusRank: Record<CircuitBreaker.Status, number> = {
  open: 5,
  forced_open: 4,
  half_open: 3,
  disabled: 2,
  forced_closed: 1,
  closed: 0
}

/**
 * The sum of several replicas' frames, as one frame of replica `"fleet"`: per operation its rates added and its
 * error rate recomputed from them, its latency the slowest replica's (percentiles cannot be added: each figure
 * is the highest of the replicas'), its hedges, suppressed retries and chaos injections added; per breaker the
 * worst status (open, then forced open, half-open, disabled, forced closed, closed), the longest time left and
 * the most openings, its calls added; bulkheads, budgets and limiters added (a shared limiter's limit, one for
 * the fleet, is kept once); errors added, the latest events of all merged (each with its replica).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { LiveView } from "@effect-resilience/core"
 *
 * const fleetRate = LiveView.LiveView.use((live) => live.view).pipe(
 *   Effect.map((view) => LiveView.sum(view.frames).operations.reduce((n, o) => n + o.rate, 0))
 * )
 * ```
 *
 * @since 0.5.0
 * @category combinators
 */
export const sum = (frames: ReadonlyArray<Frame>): Frame => {
  const operations = new Map<string, OperationFrame>()
  const breakerMap = new Map<string, BreakerFrame>()
  const bulkheads = new Map<string, BulkheadFrame>()
  const limiters = new Map<string, LimiterFrame>()
  const budgets = new Map<string, BudgetFrame>()
  const bySeverity = { low: 0, medium: 0, high: 0, critical: 0 }
  const recent: Array<ErrorItem> = []
  let total = 0
  let truncated = 0
  let at = 0
  for (const frame of frames) {
    at = Math.max(at, frame.at)
    truncated = Math.max(truncated, frame.truncated)
    for (const o of frame.operations) {
      const known = operations.get(o.name)
      if (known === undefined) {
        operations.set(o.name, o)
        continue
      }
      const perSecond = {
        succeeded: known.perSecond.succeeded + o.perSecond.succeeded,
        succeeded_after_retry: known.perSecond.succeeded_after_retry + o.perSecond.succeeded_after_retry,
        failed: known.perSecond.failed + o.perSecond.failed,
        failed_after_retry: known.perSecond.failed_after_retry + o.perSecond.failed_after_retry,
        rejected: known.perSecond.rejected + o.perSecond.rejected
      }
      const latency = known.latency === undefined
        ? o.latency
        : o.latency === undefined
        ? known.latency
        : {
          count: known.latency.count + o.latency.count,
          p50: Math.max(known.latency.p50, o.latency.p50),
          p90: Math.max(known.latency.p90, o.latency.p90),
          p99: Math.max(known.latency.p99, o.latency.p99),
          max: Math.max(known.latency.max, o.latency.max)
        }
      const hedges = addFields(known.hedges, o.hedges)
      const suppressed = addFields(known.suppressed, o.suppressed)
      const chaos = known.chaos === undefined || o.chaos === undefined
        ? known.chaos ?? o.chaos
        : { rate: known.chaos.rate + o.chaos.rate, injected: addFields(known.chaos.injected, o.chaos.injected)! }
      operations.set(o.name, {
        name: o.name,
        ...ratesOf(perSecond),
        ...(latency !== undefined ? { latency } : {}),
        ...(hedges !== undefined ? { hedges } : {}),
        ...(suppressed !== undefined ? { suppressed } : {}),
        ...(chaos !== undefined ? { chaos } : {})
      })
    }
    for (const b of frame.breakers) {
      const known = breakerMap.get(b.name)
      if (known === undefined) {
        breakerMap.set(b.name, b)
        continue
      }
      const remaining = Math.max(known.remainingMillis ?? -1, b.remainingMillis ?? -1)
      const shared = known.shared === "degraded" || b.shared === "degraded" ? "degraded" : known.shared ?? b.shared
      breakerMap.set(b.name, {
        name: b.name,
        status: statusRank[b.status] > statusRank[known.status] ? b.status : known.status,
        ...(remaining >= 0 ? { remainingMillis: remaining } : {}),
        openings: Math.max(known.openings, b.openings),
        calls: addFields(known.calls, b.calls)!,
        ...(shared !== undefined ? { shared } : {})
      })
    }
    for (const b of frame.bulkheads) {
      const known = bulkheads.get(b.name)
      bulkheads.set(b.name, known === undefined ? b : { ...addFields(known, b)!, name: b.name })
    }
    for (const l of frame.limiters) {
      const known = limiters.get(l.name)
      limiters.set(
        l.name,
        known === undefined ? l : {
          ...l,
          limit: l.mode === "local" && known.mode === "local" ? known.limit + l.limit : Math.max(known.limit, l.limit),
          mode: known.mode === "degraded" || l.mode === "degraded" ? "degraded" : l.mode,
          granted: known.granted + l.granted,
          rejected: known.rejected + l.rejected,
          rejectedPerSecond: known.rejectedPerSecond + l.rejectedPerSecond
        }
      )
    }
    for (const b of frame.budgets) {
      const known = budgets.get(b.name)
      budgets.set(
        b.name,
        known === undefined ? b : {
          ...b,
          available: known.available + b.available,
          granted: known.granted + b.granted,
          refused: known.refused + b.refused,
          refusedPerSecond: known.refusedPerSecond + b.refusedPerSecond
        }
      )
    }
    total += frame.errors.total
    for (const s of severities) bySeverity[s] += frame.errors.bySeverity[s]
    for (const e of frame.errors.recent) recent.push(e.replica === undefined ? { ...e, replica: frame.replica } : e)
  }
  recent.sort((a, b) => b.at - a.at)
  const byName = <A extends { readonly name: string }>(map: Map<string, A>) =>
    [...map.values()].sort((a, b) => compare(a.name, b.name))
  return {
    replica: "fleet",
    at,
    windowMillis: frames[0]?.windowMillis ?? 0,
    truncated,
    operations: [...operations.values()].sort(byTraffic),
    breakers: byName(breakerMap),
    bulkheads: byName(bulkheads),
    limiters: byName(limiters),
    budgets: byName(budgets),
    errors: { total, bySeverity, recent: recent.slice(0, recentErrors) }
  }
}

/**
 * The current view of the live view in the context.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { LiveView } from "@effect-resilience/core"
 *
 * const openBreakers = Effect.map(
 *   LiveView.view,
 *   (view) => view.frames[0]!.breakers.filter((b) => b.status === "open").map((b) => b.name)
 * )
 * ```
 *
 * @since 0.5.0
 * @category accessors
 */
export const view: Effect.Effect<View, never, LiveView> = LiveView.use((live) => live.view)

// ---------------------------------------------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------------------------------------------

const outcomes = ResilienceMetrics.CallOutcome.literals
const chaosKinds = ["fail", "die", "latency", "interrupt"] as const satisfies ReadonlyArray<Chaos.CallKind>
const zeroPerSecond: OperationFrame["perSecond"] = {
  succeeded: 0,
  succeeded_after_retry: 0,
  failed: 0,
  failed_after_retry: 0,
  rejected: 0
}

const totalOf = (c: ResilienceMetrics.OperationCalls) =>
  c.succeeded + c.succeeded_after_retry + c.failed + c.failed_after_retry + c.rejected

const ratesOf = (perSecond: OperationFrame["perSecond"]) => {
  const rate = perSecond.succeeded + perSecond.succeeded_after_retry + perSecond.failed +
    perSecond.failed_after_retry + perSecond.rejected
  const errors = perSecond.failed + perSecond.failed_after_retry + perSecond.rejected
  return { rate, perSecond, errorRate: rate > 0 ? errors / rate : 0 }
}

const byTraffic = (a: OperationFrame, b: OperationFrame) => b.rate - a.rate || compare(a.name, b.name)

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const addFields = <A extends { readonly [K in keyof A]: unknown }>(a: A | undefined, b: A | undefined): A | undefined => {
  if (a === undefined) return b
  if (b === undefined) return a
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(a)) {
    const x = (a as Record<string, unknown>)[key]
    const y = (b as Record<string, unknown>)[key]
    out[key] = typeof x === "number" && typeof y === "number" ? x + y : x
  }
  return out as A
}

// a failure that ended its run (not a business error: that is an answer, not an incident), or anything critical;
// not an attempt that is being retried
const isAlert = (event: ErrorTracker.ErrorEvent) =>
  event.severity === "critical" || (event.gaveUp === true && event.kind !== "business")

const itemOf = (event: ErrorTracker.ErrorEvent): ErrorItem => ({
  at: event.timestamp,
  tag: event.tag,
  code: event.code,
  severity: event.severity,
  message: event.message,
  ...(event.operation !== undefined ? { operation: event.operation } : {}),
  ...(event.gaveUp === true ? { gaveUp: true } : {}),
  ...(event.chaos === true ? { chaos: true } : {})
})

const decodeFrame = Schema.decodeUnknownOption(Frame)

// the most other replicas a view holds (a channel anyone can publish on must not grow it without bound)
const maxRemote = 64

