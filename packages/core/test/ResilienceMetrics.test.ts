import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect, Exit, Fiber, Layer, Metric, Schema, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  type CircuitBreaker,
  CommonErrors,
  ErrorFamily,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  protect,
  ResilienceMetrics,
  TripRule
} from "../src/index.js"
import { CurrentObserver } from "../src/internal/observation.js"
import { repeat, scripted } from "./utils.js"

const { NetworkError, StorageError, ValidationError } = CommonErrors

const storage = () => new StorageError({ operation: "items.insert" })

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis" })]
})

const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.result(effect))
    yield* TestClock.adjust("1 minute")
    return yield* Fiber.join(fiber)
  })

const history = ErrorTracker.ErrorTracker.use((tracker) => tracker.history)
const brief = (events: ReadonlyArray<ErrorTracker.ErrorEvent>) =>
  events.map((e) => `${e.source} ${e.tag} #${e.attempt ?? "-"} ${e.recovery}`)

const calls = (operation: string) =>
  Effect.map(ResilienceMetrics.snapshot, (s) => s.calls.find((c) => c.operation === operation))

class Corrupted extends ErrorFamily.TaggedError<Corrupted>()("Corrupted", { table: Schema.String }, {
  code: "test.E0201",
  kind: "unrecoverable",
  severity: "critical"
}) {}

/** Lets other fibers run until `done` holds (at most 10 000 yields, then fails). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    if (!done()) return yield* Effect.die("condition never held")
  })

describe("tracking through protect and the retry policy", () => {
  it.effect("protect records each failure with the outcome of the retry that followed, and the call's outcome", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(2, storage))
      yield* run(op.effect.pipe(protect({ operation: "items.save" })))
      assert.deepStrictEqual(brief(yield* history), [
        "protect StorageError #1 failed", // its retry failed too
        "protect StorageError #2 succeeded" // its retry succeeded
      ])
      const events = yield* history
      assert.deepStrictEqual(events.map((e) => [e.timestamp, e.operation]), [[0, "items.save"], [100, "items.save"]])
      assert.deepStrictEqual(yield* calls("items.save"), {
        operation: "items.save",
        succeeded: 0,
        succeeded_after_retry: 1,
        failed: 0,
        failed_after_retry: 0,
        rejected: 0
      })
      const summary = yield* ErrorTracker.summary
      assert.deepStrictEqual(summary.recovery, { attempted: 2, pending: 0, succeeded: 1, failed: 1, unobserved: 0 })
    }).pipe(Effect.provide(Errors)))

  it.effect("first-time successes, business failures, exhausted retries and fallbacks are each counted", () =>
    Effect.gen(function*() {
      yield* run(Effect.succeed(1).pipe(protect({ operation: "a" })))
      yield* run(Effect.succeed(1).pipe(protect({ operation: "a" })))
      yield* run(Effect.fail(new ValidationError({ issues: [] })).pipe(protect({ operation: "a" })))
      yield* run(Effect.fail(storage()).pipe(protect({ operation: "a" })))
      yield* run(Effect.fail(storage()).pipe(
        protect({ operation: "b", recover: { StorageError: () => Effect.succeed("cached") } })
      ))
      assert.deepStrictEqual(yield* calls("a"), {
        operation: "a",
        succeeded: 2,
        succeeded_after_retry: 0,
        failed: 1,
        failed_after_retry: 1,
        rejected: 0
      })
      assert.deepStrictEqual(brief(yield* history), [
        "protect ValidationError #1 none",
        "protect StorageError #1 failed",
        "protect StorageError #2 failed",
        "protect StorageError #3 none", // given up, no fallback
        "protect StorageError #1 failed",
        "protect StorageError #2 failed",
        "protect StorageError #3 succeeded" // given up, and the fallback succeeded
      ])
    }).pipe(Effect.provide(Errors)))

  it.effect("a call interrupted during its backoff records that failure as failed and counts no outcome", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.fail(storage()).pipe(protect({ operation: "slow" })))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(brief(yield* history), ["protect StorageError #1 failed"])
      assert.deepStrictEqual(yield* calls("slow"), undefined)
    }).pipe(Effect.provide(Errors)))

  it.effect("a failure is counted while its retry waits, and a hanging fallback leaves it pending", () =>
    Effect.gen(function*() {
      const slow = ErrorLayer.layer({
        logFormat: false,
        policies: [Policy.forFamily(StorageError, { maxAttempts: 2, baseDelay: "1 hour" })]
      })
      const summary = ErrorTracker.summary
      yield* Effect.gen(function*() {
        const op = scripted(repeat(1, storage))
        const call = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "slow" })))
        yield* TestClock.adjust("1 second")
        const during = yield* summary
        assert.strictEqual(during.total, 1)
        assert.strictEqual(during.rates.lastMinute, 1)
        assert.strictEqual(during.recovery.pending, 1)
        assert.deepStrictEqual(brief(yield* history), ["protect StorageError #1 pending"])
        yield* TestClock.adjust("1 hour")
        yield* Fiber.join(call)
        assert.deepStrictEqual(brief(yield* history), ["protect StorageError #1 succeeded"])

        yield* Effect.forkChild(Effect.fail(new NetworkError({ target: "x" })).pipe(
          protect({ operation: "hang", recover: { NetworkError: () => Effect.never } })
        ))
        yield* TestClock.adjust("1 minute")
        const after = yield* summary
        assert.strictEqual(after.total, 4) // storage, and network 3 times (the built-in default policy)
        assert.strictEqual(after.recovery.pending, 1) // the fallback never ends
      }).pipe(Effect.provide(slow))
    }))

  it.effect("a defect on the first attempt is a failed call, not a tracked error", () =>
    Effect.gen(function*() {
      yield* run(Effect.die("bug").pipe(protect({ operation: "buggy" }), Effect.catchDefect(() => Effect.void)))
      assert.strictEqual((yield* calls("buggy"))?.failed, 1)
      assert.strictEqual((yield* ErrorTracker.summary).total, 0)
    }).pipe(Effect.provide(Errors)))

  it.effect("Effect.retry(PolicyService.retry) records each failure; the retries' outcome is unobserved", () =>
    Effect.gen(function*() {
      yield* run(Effect.fail(storage()).pipe(Effect.retry(PolicyService.retry)))
      assert.deepStrictEqual(brief(yield* history), [
        "retry StorageError #1 unobserved",
        "retry StorageError #2 unobserved",
        "retry StorageError #3 none"
      ])
    }).pipe(Effect.provide(Errors)))

  it.effect("errors reported through effect's ErrorReporter are tracked, once", () =>
    Effect.gen(function*() {
      yield* Effect.fail(new NetworkError({ target: "bank" })).pipe(
        Effect.withErrorReporting,
        Effect.annotateLogs({ requestId: "r-9" }),
        Effect.ignore
      )
      yield* Effect.die(new Error("boom")).pipe(Effect.withErrorReporting, Effect.exit)
      // business errors are ignored by ErrorReporter, as effect's convention has it
      yield* Effect.fail(new ValidationError({ issues: [] })).pipe(Effect.withErrorReporting, Effect.ignore)
      // an error protect already recorded is not counted again when it reaches a reporting boundary
      yield* run(Effect.fail(storage()).pipe(protect({ operation: "c" }), Effect.withErrorReporting))
      const events = yield* history
      assert.deepStrictEqual(brief(events), [
        "reporter NetworkError #- none",
        "reporter UnknownError #- none",
        "protect StorageError #1 failed",
        "protect StorageError #2 failed",
        "protect StorageError #3 none"
      ])
      assert.deepStrictEqual(events[0]?.annotations, { requestId: "r-9" })
      assert.strictEqual(events[1]?.message, "An internal error occurred.")
    }).pipe(Effect.provide(Errors)))
})

describe("the tracker and the metrics as consumers of what the strategies emit", () => {
  const policies = PolicyService.layer({
    policies: [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis" })]
  })

  it.effect("ErrorTracker.layer alone records protect's failures; ResilienceMetrics.layer over it counts calls", () =>
    Effect.gen(function*() {
      const call = Effect.suspend(() =>
        run(scripted(repeat(1, storage)).effect.pipe(protect({ operation: "items.save" })))
      )
      // the tracker alone, no metrics service
      yield* Effect.gen(function*() {
        yield* call
        assert.deepStrictEqual(brief(yield* history), ["protect StorageError #1 succeeded"])
        assert.strictEqual((yield* ErrorTracker.summary).recovery.succeeded, 1)
      }).pipe(Effect.provide(Layer.merge(policies, ErrorTracker.layer())))
      // the metrics service over it counts the calls, and the tracker still records
      yield* Effect.gen(function*() {
        yield* call
        yield* run(Effect.succeed(1).pipe(protect({ operation: "items.save" })))
        assert.deepStrictEqual(yield* calls("items.save"), {
          operation: "items.save",
          succeeded: 1,
          succeeded_after_retry: 1,
          failed: 0,
          failed_after_retry: 0,
          rejected: 0
        })
        assert.deepStrictEqual(brief(yield* history), ["protect StorageError #1 succeeded"])
      }).pipe(
        Effect.provide(Layer.merge(policies, ResilienceMetrics.layer.pipe(Layer.provideMerge(ErrorTracker.layer()))))
      )
    }))

  it.effect("an unrecoverable family given a retrying policy pages once per give-up, not once per attempt", () =>
    Effect.gen(function*() {
      const paged: Array<string> = []
      yield* ErrorTracker.subscribe((event) => {
        paged.push(`${event.source} ${event.operation ?? "-"} #${event.attempt}`)
      }, { name: "pager", kinds: ["unrecoverable"], gaveUp: true })
      const corrupted = Effect.fail(new Corrupted({ table: "orders" }))
      yield* run(corrupted.pipe(protect({ operation: "orders.save" })))
      yield* run(corrupted.pipe(protect({ operation: "orders.load", recover: { Corrupted: () => Effect.void } })))
      yield* run(corrupted.pipe(Effect.retry(PolicyService.retry)))
      yield* settle(() => paged.length >= 3)
      yield* settle(() => paged.length > 3).pipe(Effect.exit) // and no more
      assert.deepStrictEqual(paged, ["protect orders.save #3", "protect orders.load #3", "retry - #3"])
      // every attempt is in the history; only the give-ups are marked
      const events = yield* history
      assert.strictEqual(events.length, 9)
      assert.deepStrictEqual(events.map((e) => e.gaveUp === true), repeat(9, (i) => i % 3 === 2))
    }).pipe(
      Effect.scoped,
      Effect.provide(ErrorLayer.layer({
        logFormat: false,
        policies: [Policy.forFamily(Corrupted, { maxAttempts: 3, baseDelay: "100 millis" })]
      }))
    ))

  it.effect("calls emitted to the seam are counted per operation and exported", () =>
    Effect.gen(function*() {
      const observer = yield* CurrentObserver
      const succeeded = { _tag: "Call", operation: "items.get", outcome: "succeeded" } as const
      observer.emit(succeeded)
      observer.emit(succeeded)
      observer.emit({ _tag: "Call", operation: "items.get", outcome: "failed_after_retry" })
      observer.emit({ _tag: "Call", operation: "a.first", outcome: "failed" })
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.calls.map((c) => [c.operation, c.succeeded, c.failed, c.failed_after_retry]), [
        ["a.first", 0, 1, 0],
        ["items.get", 2, 0, 1]
      ])
      const text = yield* PrometheusMetrics.format()
      assert.include(text, "resilience_calls_total{operation=\"items.get\",outcome=\"succeeded\"} 2")
      assert.include(text, "resilience_calls_total{operation=\"items.get\",outcome=\"succeeded_after_retry\"} 0")
    }).pipe(
      Effect.provide(ResilienceMetrics.layer.pipe(Layer.provideMerge(ErrorTracker.layer()))),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))

  it.effect("a breaker's series exist from when it is added, read its state, and count its state changes", () =>
    Effect.gen(function*() {
      const observer = yield* CurrentObserver
      let status: CircuitBreaker.Status = "closed"
      const calls = { success: 4, failure: 2, ignored: 0, rejected: 1, slow: 0 }
      const state = (): CircuitBreaker.State => ({
        breaker: "db",
        status,
        since: 0,
        generation: 0,
        openings: 0,
        probes: { running: 0, succeeded: 0, limit: 1 },
        calls,
        wouldOpen: 0
      })
      observer.emit({ _tag: "BreakerAdded", name: "db", state })
      let text = yield* PrometheusMetrics.format()
      assert.include(text, "resilience_breaker_state{breaker=\"db\",state=\"closed\"} 1")
      assert.include(text, "resilience_breaker_transitions_total{breaker=\"db\",to=\"open\",origin=\"local\"} 0")
      assert.include(text, "resilience_breaker_calls_total{breaker=\"db\",outcome=\"rejected\"} 1")
      status = "open"
      calls.rejected = 5
      observer.emit({
        _tag: "Transition",
        transition: {
          breaker: "db",
          from: "closed",
          to: "open",
          reason: "consecutive_failures",
          at: 0,
          generation: 1,
          openings: 1,
          origin: "local"
        }
      })
      text = yield* PrometheusMetrics.format()
      assert.include(text, "resilience_breaker_state{breaker=\"db\",state=\"open\"} 1")
      assert.include(text, "resilience_breaker_state{breaker=\"db\",state=\"closed\"} 0")
      assert.include(text, "resilience_breaker_calls_total{breaker=\"db\",outcome=\"rejected\"} 5")
      assert.include(text, "resilience_breaker_transitions_total{breaker=\"db\",to=\"open\",origin=\"local\"} 1")
      // the tracker, the other consumer, has the state change in its summary
      assert.strictEqual((yield* ErrorTracker.summary).breakers.transitions, 1)
    }).pipe(
      Effect.provide(ResilienceMetrics.layer.pipe(Layer.provideMerge(ErrorTracker.layer()))),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))

  it.effect("services sharing a metric registry add up; closing one keeps its counts, a counter never goes down", () =>
    Effect.gen(function*() {
      const a = yield* Scope.make()
      const b = yield* Scope.make()
      const build = (scope: Scope.Scope) =>
        Layer.buildWithScope(Layer.fresh(ResilienceMetrics.layer.pipe(Layer.provideMerge(ErrorTracker.layer()))), scope)
      const first = yield* build(a)
      const second = yield* build(b)
      const record = (context: Context.Context<ErrorTracker.ErrorTracker>, error: unknown) =>
        ErrorTracker.record(error).pipe(Effect.provide(context))
      const network = () => new NetworkError({ target: "bank" })
      for (let i = 0; i < 5; i++) yield* record(first, network())
      yield* record(second, network())
      const count = Effect.map(Metric.snapshot, (all) =>
        all.filter((m) => m.id === "resilience_errors_total").map((m) => (m.state as { count: number }).count))
      yield* Effect.yieldNow // the trackers take them in (a series appears with its tag's first event)
      assert.deepStrictEqual(yield* count, [6])
      yield* Scope.close(b, Exit.void)
      assert.deepStrictEqual(yield* count, [6]) // not 5: Prometheus would read the drop as a reset
      yield* record(second, network()) // counted by the closed tracker, no longer exported
      yield* record(first, network())
      assert.deepStrictEqual(yield* count, [7])
      // a tag first seen after closing registers nothing
      yield* record(second, storage())
      yield* Scope.close(a, Exit.void)
      assert.deepStrictEqual((yield* Metric.snapshot).filter((m) => m.id.startsWith("resilience_")), [])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})

describe("ResilienceMetrics", () => {
  it.effect("the figures are effect metrics, exported by effect's PrometheusMetrics", () =>
    Effect.gen(function*() {
      yield* run(Effect.succeed(1).pipe(protect({ operation: "items.get" })))
      yield* run(scripted(repeat(1, storage)).effect.pipe(protect({ operation: "items.save" })))
      const text = yield* PrometheusMetrics.format()
      assert.include(text, "resilience_calls_total{operation=\"items.get\",outcome=\"succeeded\"} 1")
      assert.include(text, "resilience_calls_total{operation=\"items.save\",outcome=\"succeeded_after_retry\"} 1")
      assert.include(
        text,
        "resilience_errors_total{tag=\"StorageError\",code=\"resilience.E0004\",kind=\"recoverable\",severity=\"high\"} 1"
      )
      assert.include(text, "resilience_recoveries_total{outcome=\"succeeded\"} 1")
      assert.include(text, "resilience_events_dropped_total 0")
    }).pipe(Effect.provide(Errors), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("closing the layer removes its series from the registry", () =>
    Effect.gen(function*() {
      const registry: Metric.MetricRegistry = new Map()
      yield* run(Effect.succeed(1).pipe(protect({ operation: "x" }))).pipe(
        Effect.provide(Errors, { local: true }),
        Effect.provideService(Metric.MetricRegistry, registry)
      )
      const left = yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry))
      assert.deepStrictEqual(left.filter((m) => m.id.startsWith("resilience_")), [])
    }))

  it.effect("the snapshot round-trips through its Schema to JSON and back", () =>
    Effect.gen(function*() {
      yield* run(scripted(repeat(1, storage)).effect.pipe(protect({ operation: "items.save" })))
      const snapshot = yield* ResilienceMetrics.snapshot
      const json = yield* Schema.encodeEffect(ResilienceMetrics.SnapshotJson)(snapshot)
      assert.deepStrictEqual(yield* Schema.decodeEffect(ResilienceMetrics.SnapshotJson)(json), snapshot)
      assert.strictEqual(snapshot.errors.total, 1)
    }).pipe(Effect.provide(Errors)))
})

// one Prometheus scrape, as the ops routes serve it: the type of each family and the value of each series
const scrape = Effect.map(PrometheusMetrics.format(), (text) => {
  const types = new Map<string, string>()
  const values = new Map<string, number>()
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) types.set(type[1]!, type[2]!)
    const sample = /^(resilience_[^\s{]+(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (sample !== null) values.set(sample[1]!, Number(sample[2]))
  }
  return { types, values }
})
type Scrape = typeof scrape extends Effect.Effect<infer A> ? A : never

describe("metric types", () => {
  const Metered = ErrorLayer.layer({
    logFormat: false,
    policies: [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis" })],
    breakers: { breakers: { bank: { trip: TripRule.consecutive(1), openDuration: "1 second" } } }
  })

  it.effect("every resilience_*_total series is a counter that never goes down; levels (pending) are gauges", () =>
    Effect.gen(function*() {
      // a second layer sharing the registry, built beside the first (not inside it, where it would also emit to
      // the first one's observers), and closed half way: its figures must stay in the counters
      const other = yield* Scope.make()
      const otherContext = yield* Layer.buildWithScope(Layer.fresh(Metered), other)
      yield* Effect.gen(function*() {
        const scrapes: Array<Scrape> = []
        const take = Effect.flatMap(scrape, (s) => Effect.sync(() => scrapes.push(s)))
        const pending = (s: Scrape) => s.values.get("resilience_recoveries_pending")
        const bank = (s: Scrape, state: string) =>
          s.values.get(`resilience_breaker_state{breaker="bank",state="${state}"}`)

        yield* run(scripted(repeat(1, storage)).effect.pipe(protect({ operation: "items.save" }))).pipe(
          Effect.provide(otherContext)
        )
        yield* run(Effect.fail(new NetworkError({ target: "bank" })).pipe(protect({ operation: "pay", breaker: "bank" })))
          .pipe(Effect.provide(otherContext))
        yield* take

        // recoveries start: a failure waits for its retry, another for a fallback that is still running; the
        // breaker opens
        const op = scripted(repeat(2, storage))
        const call = yield* Effect.forkChild(op.effect.pipe(protect({ operation: "items.save" })))
        const fallback = yield* Effect.forkChild(Effect.fail(storage()).pipe(
          protect({ operation: "items.load", recover: { StorageError: () => Effect.sleep("5 minutes") } })
        ))
        yield* Effect.forkChild(Effect.fail(new NetworkError({ target: "bank" })).pipe(
          protect({ operation: "pay", breaker: "bank" }),
          Effect.ignore
        ))
        yield* TestClock.adjust("50 millis")
        yield* take
        assert.strictEqual(pending(scrapes[1]!), 3) // and the retry of the call the breaker failed

        // they resolve, one after the other; the breaker closes again
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(call)
        yield* run(Effect.succeed(1).pipe(protect({ operation: "pay", breaker: "bank" })))
        yield* take
        yield* TestClock.adjust("10 minutes")
        yield* Fiber.join(fallback)
        yield* take
        assert.strictEqual(pending(scrapes[3]!), 0)

        yield* Scope.close(other, Exit.void)
        yield* take
        yield* run(Effect.fail(storage()).pipe(protect({ operation: "items.save" })))
        yield* take

        const last = scrapes[scrapes.length - 1]!
        assert.strictEqual(last.types.get("resilience_recoveries_pending"), "gauge")
        assert.isFalse(Array.from(last.values.keys()).some((k) => k.includes("outcome=\"pending\"")))
        assert.deepStrictEqual(scrapes.map(pending), [0, 3, 1, 0, 0, 0], "pending: the recoveries in progress")
        // a gauge may go down: the open "bank" breakers of both layers (the other's stays open: it gets no call)
        assert.deepStrictEqual(scrapes.map((s) => bank(s, "open")), [1, 2, 1, 1, 0, 0])
        const families = Array.from(last.types).filter(([name]) => name.startsWith("resilience_"))
        assert.includeMembers(families.map(([name]) => name), [
          "resilience_errors_total",
          "resilience_calls_total",
          "resilience_recoveries_total",
          "resilience_recoveries_pending",
          "resilience_events_dropped_total",
          "resilience_subscriber_failures_total",
          "resilience_breaker_state",
          "resilience_breaker_calls_total",
          "resilience_breaker_transitions_total",
          "resilience_call_duration_seconds",
          "resilience_attempt_duration_seconds"
        ])
        for (const [name, type] of families) {
          assert.strictEqual(
            type,
            name.endsWith("_total") ? "counter" : name.endsWith("_duration_seconds") ? "histogram" : "gauge",
            name
          )
        }
        for (let i = 1; i < scrapes.length; i++) {
          for (const [series, before] of scrapes[i - 1]!.values) {
            // counters, and the histograms' buckets and counts (cumulative too)
            if (!/^resilience_\w+(_total|_seconds_bucket|_seconds_count)\b/.test(series)) continue
            const after = scrapes[i]!.values.get(series)
            assert.isDefined(after, `${series} disappeared at scrape ${i}`)
            assert.isAtLeast(after!, before, `${series} went down at scrape ${i}`)
          }
        }
        assert.strictEqual(last.values.get("resilience_recoveries_total{outcome=\"succeeded\"}"), 3)
        assert.isAtLeast(last.values.get("resilience_breaker_transitions_total{breaker=\"bank\",to=\"open\",origin=\"local\"}")!, 2)
      }).pipe(Effect.provide(Metered))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
