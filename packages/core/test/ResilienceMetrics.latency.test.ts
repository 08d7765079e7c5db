import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Fiber, Layer, Metric, Schema, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  protect,
  ResilienceMetrics,
  RetryBudgetRegistry
} from "../src/index.js"
import { repeat } from "./utils.js"

const { StorageError, UnavailableError, ValidationError } = CommonErrors

const storage = () => new StorageError({ operation: "items.insert" })

const policies = [
  Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis" }),
  Policy.forFamily(UnavailableError, { maxAttempts: 3, baseDelay: "100 millis" })
]

const Errors = ErrorLayer.layer({ logFormat: false, policies })

// each test gets a registry of its own, so that only its own series are read
const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

/** Runs `effect` in a fiber, moves the clock `by`, and returns its exit. */
const within = <A, E, R>(by: Duration.Input, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    yield* TestClock.adjust(by)
    return yield* Fiber.join(fiber)
  })

/** An operation that sleeps `millis` (under TestClock), then succeeds. */
const sleeping = (millis: number) => Effect.as(Effect.sleep(`${millis} millis`), millis)

/** Calls whose `i`-th invocation sleeps `millis[i]` before it succeeds (the last duration repeats). */
const sequence = (millis: ReadonlyArray<number>) => {
  let calls = 0
  return Effect.suspend(() => sleeping(millis[Math.min(calls++, millis.length - 1)]!))
}

type HistogramState = Metric.HistogramState

const sameAttributes = (a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>>) =>
  a !== undefined && Object.keys(a).length === Object.keys(b).length &&
  Object.entries(b).every(([k, v]) => a[k] === v)

/** The state of one series of the registry (undefined when it does not exist). */
const seriesState = (id: string, attributes: Readonly<Record<string, string>>) =>
  Effect.map(Metric.snapshot, (all) => {
    const found = all.filter((m) => m.id === id && sameAttributes(m.attributes, attributes))
    assert.isAtMost(found.length, 1, `one series ${id} ${JSON.stringify(attributes)}`)
    return found[0]
  })

const histogram = (id: string, attributes: Readonly<Record<string, string>>) =>
  Effect.map(seriesState(id, attributes), (m) => {
    if (m === undefined) return undefined
    assert.strictEqual(m.type, "Histogram", id)
    return m.state as HistogramState
  })

const callDuration = (operation: string, outcome: string) =>
  histogram("resilience_call_duration_seconds", { operation, outcome })
const attemptDuration = (operation: string, outcome: string) =>
  histogram("resilience_attempt_duration_seconds", { operation, outcome })

const counter = (id: string, attributes: Readonly<Record<string, string>>) =>
  Effect.map(seriesState(id, attributes), (m) => (m?.state as { count: number } | undefined)?.count)
const gauge = (id: string, attributes: Readonly<Record<string, string>>) =>
  Effect.map(seriesState(id, attributes), (m) => (m?.state as { value: number } | undefined)?.value)

const bucketsOf = (state: HistogramState | undefined) =>
  Object.fromEntries((state?.buckets ?? []).map(([le, count]) => [String(le), count]))

/** Whether `actual` is within the histogram's bound (1/32 of the value, a bucket's half width) of `expected`. */
const near = (actual: number, expected: number, label: string) =>
  assert.isAtMost(Math.abs(actual - expected), expected / 32, `${label}: ${actual} vs ${expected}`)

describe("call and attempt durations", () => {
  it.effect("every call's duration lands in its outcome's histogram, in seconds, with the documented buckets", () =>
    Effect.gen(function*() {
      // 100 calls at once, the i-th lasting i milliseconds
      const fibers = yield* Effect.forEach(
        repeat(100, (i) => i + 1),
        (millis) => Effect.forkChild(sleeping(millis).pipe(protect({ operation: "items.get" })))
      )
      // and a business failure after 5 ms, and a call refused by nothing (a plain failure at once)
      const failing = yield* Effect.forkChild(Effect.exit(
        Effect.andThen(Effect.sleep("5 millis"), Effect.fail(new ValidationError({ issues: [] }))).pipe(
          protect({ operation: "items.get" })
        )
      ))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.joinAll(fibers)
      assert.isTrue(Exit.isFailure(yield* Fiber.join(failing)))

      const succeeded = yield* callDuration("items.get", "succeeded")
      assert.isDefined(succeeded)
      assert.strictEqual(succeeded!.count, 100)
      assert.closeTo(succeeded!.sum, 5.05, 1e-9) // (1 + ... + 100) ms
      assert.closeTo(succeeded!.min, 0.001, 1e-12)
      assert.closeTo(succeeded!.max, 0.1, 1e-12)
      // cumulative counts: `le` is inclusive (a 10 ms call is in the 0.01 bucket)
      assert.deepStrictEqual(bucketsOf(succeeded), {
        "0.001": 1,
        "0.0025": 2,
        "0.005": 5,
        "0.01": 10,
        "0.025": 25,
        "0.05": 50,
        "0.1": 100,
        "0.25": 100,
        "0.5": 100,
        "1": 100,
        "2.5": 100,
        "5": 100,
        "10": 100,
        "30": 100,
        "60": 100
      })
      const failed = yield* callDuration("items.get", "failed")
      assert.strictEqual(failed?.count, 1)
      assert.closeTo(failed!.sum, 0.005, 1e-12)
      // one attempt per call, with the call's duration
      assert.strictEqual((yield* attemptDuration("items.get", "succeeded"))?.count, 100)
      assert.strictEqual((yield* attemptDuration("items.get", "failed"))?.count, 1)
      // a series appears with its first duration: no call ended after a retry
      assert.isUndefined(yield* callDuration("items.get", "succeeded_after_retry"))
      assert.isUndefined(yield* callDuration("items.get", "rejected"))

      // effect's Prometheus exporter prints them as histograms
      const text = yield* PrometheusMetrics.format()
      assert.include(text, "# TYPE resilience_call_duration_seconds histogram")
      assert.include(text, "resilience_call_duration_seconds_bucket{operation=\"items.get\",outcome=\"succeeded\",le=\"0.05\"} 50")
      assert.include(text, "resilience_call_duration_seconds_bucket{operation=\"items.get\",outcome=\"succeeded\",le=\"+Inf\"} 100")
      assert.include(text, "resilience_call_duration_seconds_count{operation=\"items.get\",outcome=\"succeeded\"} 100")
      assert.include(text, "# TYPE resilience_attempt_duration_seconds histogram")
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("the snapshot's percentiles are those of the last minute's calls, within the histogram's bound", () =>
    Effect.gen(function*() {
      const fibers = yield* Effect.forEach(
        repeat(100, (i) => i + 1),
        (millis) => Effect.forkChild(sleeping(millis).pipe(protect({ operation: "items.get" })))
      )
      yield* TestClock.adjust("100 millis")
      yield* Fiber.joinAll(fibers)
      yield* within("1 second", sleeping(1000).pipe(protect({ operation: "a.slow" })))

      const { latency } = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(latency.map((l) => [l.operation, l.count]), [["a.slow", 1], ["items.get", 100]])
      const items = latency[1]!
      // nearest rank over 1..100 ms: p50 = 50, p90 = 90, p99 = 99, max = 100
      near(items.p50, 50, "p50")
      near(items.p90, 90, "p90")
      near(items.p99, 99, "p99")
      near(items.max, 100, "max")
      assert.isBelow(items.p50, items.p90)
      assert.isBelow(items.p90, items.p99)
      const slow = latency[0]!
      for (const p of [slow.p50, slow.p90, slow.p99, slow.max]) near(p, 1000, "a.slow")

      // a minute later the window is empty (the operations stay, with zeros); the histograms keep everything
      yield* TestClock.adjust("61 seconds")
      const later = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(later.latency, [
        { operation: "a.slow", count: 0, p50: 0, p90: 0, p99: 0, max: 0 },
        { operation: "items.get", count: 0, p50: 0, p90: 0, p99: 0, max: 0 }
      ])
      assert.strictEqual((yield* callDuration("items.get", "succeeded"))?.count, 100)

      // new calls fill it again, alone
      yield* within("200 millis", sleeping(200).pipe(protect({ operation: "items.get" })))
      const refilled = (yield* ResilienceMetrics.snapshot).latency.find((l) => l.operation === "items.get")!
      assert.strictEqual(refilled.count, 1)
      near(refilled.p50, 200, "refilled p50")
      near(refilled.p99, 200, "refilled p99")
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a retried call records each attempt (failed, then succeeded) and the call's whole duration", () =>
    Effect.gen(function*() {
      let calls = 0
      const op = Effect.suspend(() =>
        ++calls === 1
          ? Effect.andThen(Effect.sleep("10 millis"), Effect.fail(storage()))
          : sleeping(20)
      )
      const exit = yield* within("1 second", op.pipe(protect({ operation: "items.save" })))
      assert.deepStrictEqual(exit, Exit.succeed(20))
      const failed = yield* attemptDuration("items.save", "failed")
      const succeeded = yield* attemptDuration("items.save", "succeeded")
      assert.strictEqual(failed?.count, 1)
      assert.closeTo(failed!.sum, 0.01, 1e-12)
      assert.strictEqual(succeeded?.count, 1)
      assert.closeTo(succeeded!.sum, 0.02, 1e-12)
      // the call: 10 ms, the 100 ms backoff, 20 ms
      const call = yield* callDuration("items.save", "succeeded_after_retry")
      assert.strictEqual(call?.count, 1)
      assert.closeTo(call!.sum, 0.13, 1e-9)
      assert.isUndefined(yield* callDuration("items.save", "succeeded"))
      const [latency] = (yield* ResilienceMetrics.snapshot).latency
      assert.strictEqual(latency?.count, 1)
      near(latency!.p50, 130, "p50 of the retried call")
    }).pipe(Effect.provide(Errors), isolated))
})

describe("retry budgets and suppressed retries", () => {
  // one retry per second, then none
  const Budgeted = ErrorLayer.layer({
    logFormat: false,
    policies,
    budgets: { budgets: { db: { percent: 0, minPerSecond: 1, ttl: "1 second" } } }
  })

  it.effect("a budget's series exist from when its registry makes it, and follow its state", () =>
    Effect.gen(function*() {
      const attributes = { budget: "db" }
      assert.strictEqual(yield* gauge("resilience_retry_budget_available", attributes), 1)
      assert.strictEqual(yield* counter("resilience_retry_budget_granted_total", attributes), 0)
      assert.strictEqual(yield* counter("resilience_retry_budget_refused_total", attributes), 0)
      const before = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(before.budgets, [{
        name: "db",
        kind: "ratio",
        available: 1,
        requests: 0,
        retries: 0,
        granted: 0,
        refused: 0
      }])

      // the first retry is granted, the second refused: the call gives up with its error on attempt 2 (at 100 ms),
      // at once; read within the budget's second, while the withdrawal still counts
      const exit = yield* within(
        "150 millis",
        Effect.fail(storage()).pipe(protect({ operation: "items.save", budget: "db" }))
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* gauge("resilience_retry_budget_available", attributes), 0)
      assert.strictEqual(yield* counter("resilience_retry_budget_granted_total", attributes), 1)
      assert.strictEqual(yield* counter("resilience_retry_budget_refused_total", attributes), 1)
      const after = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(after.budgets.map((b) => [b.name, b.available, b.granted, b.refused]), [["db", 0, 1, 1]])
      // a budget made later, on first use, appears too (sorted by name)
      yield* RetryBudgetRegistry.RetryBudgetRegistry.use((registry) => Effect.sync(() => registry.budget("auth")))
      assert.strictEqual(yield* gauge("resilience_retry_budget_available", { budget: "auth" }), 100) // 10/s × 10 s
      assert.deepStrictEqual((yield* ResilienceMetrics.snapshot).budgets.map((b) => b.name), ["auth", "db"])
      const text = yield* PrometheusMetrics.format()
      assert.include(text, "resilience_retry_budget_available{budget=\"db\"} 0")
      assert.include(text, "resilience_retry_budget_refused_total{budget=\"db\"} 1")
      assert.include(text, "# TYPE resilience_retry_budget_available gauge")
    }).pipe(Effect.provide(Budgeted), isolated))

  it.effect("an exhausted budget's suppressed retry is counted per operation and reason, and by the tracker", () =>
    Effect.gen(function*() {
      const suppressed = (operation: string, reason: string) =>
        counter("resilience_retries_suppressed_total", { operation, reason })
      // an operation's suppression series exist, at zero, from its first call
      yield* within("1 second", Effect.succeed(1).pipe(protect({ operation: "items.load" })))
      assert.strictEqual(yield* suppressed("items.load", "budget"), 0)
      assert.strictEqual(yield* suppressed("items.load", "pushback"), 0)
      assert.strictEqual(yield* counter("resilience_hedges_total", { operation: "items.load", result: "started" }), 0)

      const save = Effect.fail(storage()).pipe(protect({ operation: "items.save", budget: "db" }))
      yield* within("150 millis", save) // one retry granted, the next refused
      assert.strictEqual(yield* suppressed("items.save", "budget"), 1)
      assert.strictEqual(yield* suppressed("items.save", "pushback"), 0)
      yield* within("150 millis", save) // within the budget's second: the first retry is refused
      assert.strictEqual(yield* suppressed("items.save", "budget"), 2)

      // a retry-after hint longer than the policy's maxRetryAfter (30 s): suppressed as pushback
      yield* within("1 second", Effect.fail(new UnavailableError({ service: "search", retryAfterMillis: 60_000 })).pipe(
        protect({ operation: "search" })
      ))
      assert.strictEqual(yield* suppressed("search", "pushback"), 1)
      assert.strictEqual(yield* suppressed("search", "budget"), 0)

      // Effect.retry(PolicyService.retry) with no operation: operation ""
      yield* within("5 seconds", Effect.fail(storage()).pipe(
        Effect.retry(PolicyService.retry),
        RetryBudgetRegistry.withBudget("empty")
      ))
      assert.strictEqual(yield* suppressed("", "budget"), 1)

      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.retriesSuppressed, [
        { operation: "", budget: 1, pushback: 0 },
        { operation: "items.save", budget: 2, pushback: 0 },
        { operation: "search", budget: 0, pushback: 1 }
      ])
      // the tracker counts the give-ups marked suppressed, and its history says why
      const summary = yield* ErrorTracker.summary
      assert.deepStrictEqual(summary.retriesSuppressed, { budget: 3, pushback: 1 })
      assert.deepStrictEqual(snapshot.errors.retriesSuppressed, { budget: 3, pushback: 1 })
      const history = yield* ErrorTracker.ErrorTracker.use((tracker) => tracker.history)
      assert.deepStrictEqual(
        history.map((e) => `${e.source} ${e.operation ?? "-"} #${e.attempt} ${e.gaveUp === true} ${e.suppressed ?? "-"}`),
        [
          "protect items.save #1 false -",
          "protect items.save #2 true budget",
          "protect items.save #1 true budget",
          "protect search #1 true pushback",
          "retry - #1 true budget"
        ]
      )
      // through the JSON of the summary and of the events
      const json = yield* Schema.encodeEffect(ErrorTracker.SummaryJson)(summary)
      assert.deepStrictEqual((yield* Schema.decodeEffect(ErrorTracker.SummaryJson)(json)).retriesSuppressed, {
        budget: 3,
        pushback: 1
      })
      const events = Schema.fromJsonString(Schema.Array(ErrorTracker.ErrorEvent))
      const decoded = yield* Schema.decodeEffect(events)(yield* Schema.encodeEffect(events)(history))
      assert.deepStrictEqual(decoded, history)
      assert.notProperty(history[0]!, "suppressed") // the JSON of an event not suppressed is what it was
    }).pipe(
      Effect.provide(ErrorLayer.layer({
        logFormat: false,
        policies,
        budgets: {
          budgets: {
            db: { percent: 0, minPerSecond: 1, ttl: "1 second" },
            empty: { percent: 0, minPerSecond: 0 }
          }
        }
      })),
      isolated
    ))

  it.effect("a suppressed occurrence recorded by hand is counted and kept in its event", () =>
    Effect.gen(function*() {
      yield* ErrorTracker.record(storage(), { operation: "manual", gaveUp: true, suppressed: "pushback" })
      assert.deepStrictEqual((yield* ErrorTracker.summary).retriesSuppressed, { budget: 0, pushback: 1 })
      const [event] = yield* ErrorTracker.ErrorTracker.use((tracker) => tracker.history)
      assert.strictEqual(event?.suppressed, "pushback")
    }).pipe(Effect.provide(ErrorTracker.layer())))
})

describe("hedges", () => {
  const hedge = { idempotent: true, delay: "10 millis" } as const
  const hedges = (operation: string) =>
    Effect.all({
      started: counter("resilience_hedges_total", { operation, result: "started" }),
      won: counter("resilience_hedges_total", { operation, result: "won" }),
      lost: counter("resilience_hedges_total", { operation, result: "lost" }),
      suppressed: counter("resilience_hedges_total", { operation, result: "suppressed" })
    })

  it.effect("a hedge that wins: started 1, won 1, lost 0; the primary's attempt is interrupted", () =>
    Effect.gen(function*() {
      // the primary takes 100 ms; the hedge, started at 10 ms, returns at once
      const exit = yield* within("1 second", sequence([100, 0]).pipe(protect({ operation: "search", hedge })))
      assert.deepStrictEqual(exit, Exit.succeed(0))
      assert.deepStrictEqual(yield* hedges("search"), { started: 1, won: 1, lost: 0, suppressed: 0 })
      const interrupted = yield* attemptDuration("search", "interrupted")
      assert.strictEqual(interrupted?.count, 1)
      assert.closeTo(interrupted!.sum, 0.01, 1e-12)
      const succeeded = yield* attemptDuration("search", "succeeded")
      assert.strictEqual(succeeded?.count, 1)
      assert.closeTo(succeeded!.sum, 0, 1e-12)
      const call = yield* callDuration("search", "succeeded")
      assert.strictEqual(call?.count, 1)
      assert.closeTo(call!.sum, 0.01, 1e-12) // the call ended with the hedge
      assert.deepStrictEqual((yield* ResilienceMetrics.snapshot).hedges, [
        { operation: "search", started: 1, won: 1, lost: 0, suppressed: 0 }
      ])
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a hedge that loses: started 1, won 0, lost 1; the hedge's attempt is interrupted", () =>
    Effect.gen(function*() {
      // the primary takes 20 ms; the hedge, started at 10 ms, would take 100
      const exit = yield* within("1 second", sequence([20, 100]).pipe(protect({ operation: "search", hedge })))
      assert.deepStrictEqual(exit, Exit.succeed(20))
      assert.deepStrictEqual(yield* hedges("search"), { started: 1, won: 0, lost: 1, suppressed: 0 })
      const interrupted = yield* attemptDuration("search", "interrupted")
      assert.strictEqual(interrupted?.count, 1)
      assert.closeTo(interrupted!.sum, 0.01, 1e-12) // from 10 ms to 20 ms
      assert.closeTo((yield* attemptDuration("search", "succeeded"))!.sum, 0.02, 1e-12)
      // a call that needed no hedge counts nothing, and an operation without hedging reads zero
      yield* within("1 second", sequence([5]).pipe(protect({ operation: "search", hedge })))
      yield* within("1 second", Effect.succeed(1).pipe(protect({ operation: "plain" })))
      assert.deepStrictEqual(yield* hedges("search"), { started: 1, won: 0, lost: 1, suppressed: 0 })
      assert.deepStrictEqual(yield* hedges("plain"), { started: 0, won: 0, lost: 0, suppressed: 0 })
      assert.deepStrictEqual((yield* ResilienceMetrics.snapshot).hedges, [
        { operation: "search", started: 1, won: 0, lost: 1, suppressed: 0 }
      ])
    }).pipe(Effect.provide(Errors), isolated))

  it.effect("a hedge the budget refuses is counted as suppressed", () =>
    Effect.gen(function*() {
      const exit = yield* within(
        "1 second",
        sequence([100]).pipe(protect({ operation: "search", hedge, budget: "empty" }))
      )
      assert.deepStrictEqual(exit, Exit.succeed(100))
      assert.deepStrictEqual(yield* hedges("search"), { started: 0, won: 0, lost: 0, suppressed: 1 })
      assert.strictEqual(yield* counter("resilience_retry_budget_refused_total", { budget: "empty" }), 1)
    }).pipe(
      Effect.provide(ErrorLayer.layer({
        logFormat: false,
        policies,
        budgets: { budgets: { empty: { percent: 0, minPerSecond: 0 } } }
      })),
      isolated
    ))
})

describe("the new figures' life cycle", () => {
  it.effect("services sharing a registry add up in one histogram; closing one keeps its durations", () =>
    Effect.gen(function*() {
      const a = yield* Scope.make()
      const b = yield* Scope.make()
      const Metrics = Layer.fresh(
        Layer.mergeAll(ResilienceMetrics.layer, PolicyService.layer({ policies })).pipe(
          Layer.provideMerge(ErrorTracker.layer())
        )
      )
      const first = yield* Layer.buildWithScope(Metrics, a)
      const second = yield* Layer.buildWithScope(Metrics, b)
      const call = (millis: number) => within(millis, sleeping(millis).pipe(protect({ operation: "x" })))
      yield* call(10).pipe(Effect.provide(first))
      yield* call(20).pipe(Effect.provide(second))
      const state = callDuration("x", "succeeded")
      assert.strictEqual((yield* state)?.count, 2)
      assert.closeTo((yield* state)!.sum, 0.03, 1e-12)

      yield* Scope.close(b, Exit.void)
      assert.strictEqual((yield* state)?.count, 2) // a histogram never goes down either
      yield* call(40).pipe(Effect.provide(second)) // the closed service records nothing more
      assert.strictEqual((yield* state)?.count, 2)
      yield* call(50).pipe(Effect.provide(first))
      assert.strictEqual((yield* state)?.count, 3)
      assert.closeTo((yield* state)!.sum, 0.08, 1e-12)

      yield* Scope.close(a, Exit.void)
      assert.deepStrictEqual((yield* Metric.snapshot).filter((m) => m.id.startsWith("resilience_")), [])
    }).pipe(isolated))

  it.effect("closing the layer removes the histograms, the budget, hedge and suppression series", () =>
    Effect.gen(function*() {
      const registry: Metric.MetricRegistry = new Map()
      const ids = yield* Effect.gen(function*() {
        yield* within("1 second", sequence([100, 0]).pipe(protect({ operation: "h", hedge: { idempotent: true, delay: 10 } })))
        return new Set((yield* Metric.snapshot).map((m) => m.id))
      }).pipe(
        Effect.provide(ErrorLayer.layer({ logFormat: false, budgets: { budgets: { db: {} } } }), { local: true }),
        Effect.provideService(Metric.MetricRegistry, registry)
      )
      for (
        const id of [
          "resilience_call_duration_seconds",
          "resilience_attempt_duration_seconds",
          "resilience_hedges_total",
          "resilience_retries_suppressed_total",
          "resilience_retry_budget_available",
          "resilience_retry_budget_granted_total",
          "resilience_retry_budget_refused_total"
        ]
      ) assert.isTrue(ids.has(id), id)
      const left = yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry))
      assert.deepStrictEqual(left.filter((m) => m.id.startsWith("resilience_")), [])
    }))

  it.effect("the snapshot with every new figure round-trips through its Schema to JSON and back", () =>
    Effect.gen(function*() {
      yield* within("1 second", sequence([100, 0]).pipe(protect({ operation: "h", hedge: { idempotent: true, delay: 10 } })))
      yield* within("1 second", Effect.fail(storage()).pipe(protect({ operation: "s", budget: "db" })))
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.lengthOf(snapshot.latency, 2)
      assert.lengthOf(snapshot.hedges, 1)
      assert.lengthOf(snapshot.retriesSuppressed, 1)
      assert.lengthOf(snapshot.budgets, 1)
      const json = yield* Schema.encodeEffect(ResilienceMetrics.SnapshotJson)(snapshot)
      assert.deepStrictEqual(yield* Schema.decodeEffect(ResilienceMetrics.SnapshotJson)(json), snapshot)
    }).pipe(
      Effect.provide(ErrorLayer.layer({
        logFormat: false,
        policies,
        budgets: { budgets: { db: { percent: 0, minPerSecond: 0 } } }
      })),
      isolated
    ))
})

describe("durations: false", () => {
  it.effect("records no duration, keeps the counts", () =>
    Effect.gen(function*() {
      const exit = yield* within("20 millis", sleeping(10).pipe(protect({ operation: "quiet" })))
      assert.isTrue(Exit.isSuccess(exit))
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.latency, [])
      assert.strictEqual(snapshot.calls.find((c) => c.operation === "quiet")?.succeeded, 1)
      assert.isUndefined(yield* seriesState("resilience_call_duration_seconds", { operation: "quiet", outcome: "succeeded" }))
      assert.isUndefined(yield* seriesState("resilience_attempt_duration_seconds", { operation: "quiet", outcome: "succeeded" }))
    }).pipe(Effect.provide(ErrorLayer.layer({ logFormat: false, durations: false })), isolated))

  it.effect("is checked: a value that is not a boolean names the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(ErrorLayer.layer({ durations: "no" as never })).pipe(Effect.scoped))
      assert.include(String(error), "durations")
    }))
})
