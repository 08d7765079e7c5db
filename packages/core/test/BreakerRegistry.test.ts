import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric, Schema, Scope, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  CircuitBreaker,
  CommonErrors,
  ErrorLayer,
  ErrorTracker,
  Policy,
  protect,
  ResilienceMetrics,
  TripRule
} from "../src/index.js"
import { observe, type Observer } from "../src/internal/observation.js"
import { captureLogs, type Line, scripted } from "./utils.js"

const storage = () => new CommonErrors.StorageError({ operation: "items.insert" })

const Layer3 = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 6, baseDelay: "100 millis", factor: 1 }),
    Policy.forFamily(CommonErrors.TimeoutError, { maxAttempts: 6, baseDelay: "100 millis", factor: 1 })
  ],
  breakers: {
    default: { trip: TripRule.consecutive(10) },
    breakers: { storage: { trip: TripRule.consecutive(3), openDuration: "10 seconds" } },
    operations: { "items.save": "storage", "items.load": "storage" }
  }
})

describe("BreakerRegistry", () => {
  it.effect("returns the same breaker for a name everywhere, with its own options or the default ones", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([BreakerRegistry.breaker("storage"), BreakerRegistry.breaker("storage")], {
        concurrency: "unbounded"
      })
      assert.strictEqual(a, b)
      const failing = Effect.fail(storage())
      yield* Effect.exit(Effect.repeat(Effect.exit(a.execute(failing)), { times: 2 }))
      assert.strictEqual((yield* a.state).status, "open") // its own rule: 3 in a row
      const other = yield* BreakerRegistry.breaker("search")
      for (let i = 0; i < 9; i++) yield* Effect.exit(other.execute(failing))
      assert.strictEqual((yield* other.state).status, "closed") // the default rule: 10 in a row
      // named breakers exist from the start; others once asked for
      assert.deepStrictEqual((yield* BreakerRegistry.states).map((s) => [s.breaker, s.status]), [
        ["search", "closed"],
        ["storage", "open"]
      ])
    }).pipe(Effect.provide(Layer3)))

  it.effect("invalid options anywhere fail the build with every problem listed", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(ErrorLayer.layer({
        logFormat: false,
        breakers: {
          default: { halfOpenProbes: 0 },
          breakers: { payments: { trip: TripRule.failureRate({ threshold: 0, lastCalls: 10 }) } }
        }
      })).pipe(Effect.scoped))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(BreakerRegistry.layer({
        default: { halfOpenProbes: 0 },
        breakers: { payments: { trip: TripRule.failureRate({ threshold: 0, lastCalls: 10 }) } }
      }))))
      assert.strictEqual(error._tag, "ConfigError")
      // rooted at the registry's options: the breaker is where it is in them
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), [
        "default.halfOpenProbes",
        "breakers.payments.trip.threshold"
      ])
    }))

  it.effect("an unknown key of the registry is refused together with the breakers' own problems", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(BreakerRegistry.make({
        // @ts-expect-error: misspelt field
        breaker: {},
        breakers: { storage: { openDuraton: "5 seconds" } as CircuitBreaker.Options }
      })))
      assert.deepStrictEqual(error.issues.map((i) => [i.path.join("."), i.message]), [
        ["breaker", "Unknown key \"breaker\", did you mean \"breakers\"?"],
        ["breakers.storage.openDuraton", "Unknown key \"openDuraton\", did you mean \"openDuration\"?"]
      ])
    }))

  it.effect("the registry emits each breaker it builds and each state change to the observers it was made with", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const recording = observe(Effect.succeed<Observer>({
        active: true,
        emit: (event) => {
          if (event._tag === "BreakerAdded") seen.push(`added ${event.name} ${event.state().status}`)
          if (event._tag === "Transition") seen.push(`${event.transition.breaker} -> ${event.transition.to}`)
        }
      }))
      yield* Effect.gen(function*() {
        assert.deepStrictEqual(seen, ["added storage closed"]) // the named ones at once
        const search = yield* BreakerRegistry.breaker("search")
        yield* BreakerRegistry.breaker("search")
        yield* search.isolate
        assert.deepStrictEqual(seen, ["added storage closed", "added search closed", "search -> forced_open"])
      }).pipe(
        Effect.provide(BreakerRegistry.layer({ breakers: { storage: {} } }).pipe(Layer.provide(recording)))
      )
      // without observers it works the same, and emits nowhere
      const alone = yield* BreakerRegistry.breaker("x").pipe(Effect.provide(BreakerRegistry.layer()))
      yield* alone.isolate
      assert.strictEqual((yield* alone.state).status, "forced_open")
    }))

  it.effect("state changes go to the registry stream, the tracker summary and the metrics", () =>
    Effect.gen(function*() {
      const seen: Array<CircuitBreaker.Transition> = []
      const watcher = yield* Effect.forkChild(
        Stream.runForEach(BreakerRegistry.BreakerRegistry.use((r) => Effect.succeed(r.changes)).pipe(Stream.unwrap), (t) =>
          Effect.sync(() => seen.push(t)))
      )
      yield* Effect.yieldNow
      const db = yield* BreakerRegistry.breaker("storage")
      for (let i = 0; i < 3; i++) yield* Effect.exit(db.execute(Effect.fail(storage())))
      yield* Effect.exit(db.execute(Effect.void)) // rejected
      const search = yield* BreakerRegistry.breaker("search")
      yield* search.isolate
      yield* Effect.yieldNow
      assert.deepStrictEqual(seen.map((t) => `${t.breaker}:${t.to}`), ["storage:open", "search:forced_open"])

      const summary = yield* ErrorTracker.summary
      assert.strictEqual(summary.breakers.transitions, 2)
      assert.deepStrictEqual(summary.breakers.recent.map((t) => [t.breaker, t.from, t.to, t.reason]), [
        ["storage", "closed", "open", "consecutive_failures"],
        ["search", "closed", "forced_open", "isolated"]
      ])
      // the summary, transitions included, survives its JSON codec
      const json = yield* Schema.encodeEffect(ErrorTracker.SummaryJson)(summary)
      assert.deepStrictEqual(yield* Schema.decodeEffect(ErrorTracker.SummaryJson)(json), summary)

      const text = yield* PrometheusMetrics.format()
      const line = (name: string, labels: string) =>
        text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.split(",").every((p) => l.includes(p)))
      assert.match(line("resilience_breaker_state", `breaker="storage",state="open"`)!, / 1$/)
      assert.match(line("resilience_breaker_state", `breaker="storage",state="closed"`)!, / 0$/)
      assert.match(line("resilience_breaker_state", `breaker="search",state="forced_open"`)!, / 1$/)
      assert.match(line("resilience_breaker_calls_total", `breaker="storage",outcome="failure"`)!, / 3$/)
      assert.match(line("resilience_breaker_calls_total", `breaker="storage",outcome="rejected"`)!, / 1$/)
      assert.match(line("resilience_breaker_transitions_total", `breaker="storage",to="open"`)!, / 1$/)
      yield* Fiber.interrupt(watcher)
    }).pipe(Effect.provide(Layer3)))

  it.effect("closing the layer ends the stream and removes the metric series", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Layer3, scope)
      const registry = context.mapUnsafe.get(BreakerRegistry.BreakerRegistry.key) as BreakerRegistry.BreakerRegistry
      const fiber = yield* Effect.forkChild(Stream.runCollect(registry.changes))
      yield* Effect.yieldNow
      assert.include(yield* PrometheusMetrics.format(), `resilience_breaker_state{breaker="storage"`)
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(fiber)
      assert.notInclude(yield* PrometheusMetrics.format(), "resilience_breaker_")
    }))
})

describe("protect with a breaker", () => {
  it.effect("retries outside the breaker and stops at the first rejection instead of burning retries", () =>
    Effect.gen(function*() {
      const lines: Array<Line> = []
      const op = scripted([storage(), storage(), storage(), storage(), storage()])
      const fiber = yield* Effect.forkChild(
        Effect.exit(op.effect.pipe(protect({ operation: "items.save", breaker: "storage" }))).pipe(
          Effect.provide(captureLogs(lines))
        )
      )
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(fiber)
      // three attempts reach the storage and open the breaker; the fourth is rejected and ends the run at once
      assert.strictEqual(op.calls(), 3)
      assert.deepStrictEqual(op.times, [0, 100, 200])
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.strictEqual(error?._tag === "Fail" ? (error.error as any)._tag : undefined, "BreakerOpenError")
      const giveUp = lines.find((l) => String(l.message).includes("giving up"))!
      assert.strictEqual(giveUp.level, "DEBUG")
      assert.strictEqual(giveUp.annotations.attempt, 4)

      // every attempt, the rejection included, was recorded; the call failed after retries
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.errors.byTag.map((t) => [t.tag, t.count]), [
        ["StorageError", 3],
        ["BreakerOpenError", 1]
      ])
      assert.deepStrictEqual(snapshot.calls.find((c) => c.operation === "items.save")?.failed_after_retry, 1)

      // a later call is rejected without reaching the storage and without any wait
      const later = scripted([])
      const start = op.calls()
      const rejected = yield* Effect.exit(later.effect.pipe(protect({ operation: "items.save", breaker: "storage" })))
      assert.isTrue(Exit.isFailure(rejected))
      assert.strictEqual(later.calls(), 0)
      assert.strictEqual(op.calls(), start)
    }).pipe(Effect.provide(Layer3)))

  it.effect("a fallback for BreakerOpenError answers while the breaker is open, and a timeout counts against it", () =>
    Effect.gen(function*() {
      const breaker = yield* BreakerRegistry.breaker("storage")
      const slow = Effect.never.pipe(protect({
        operation: "items.load",
        breaker: "storage",
        timeout: "1 second",
        recover: { BreakerOpenError: (e) => Effect.succeed(`cached (${e.breaker} open)`) }
      }))
      const fiber = yield* Effect.forkChild(slow)
      // each attempt times out after 1 s and counts as a failure; the third opens the breaker
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "cached (storage open)")
      assert.strictEqual((yield* breaker.state).calls.failure, 3)
    }).pipe(Effect.provide(Layer3)))

  it.effect("breaker: true takes the breaker the config maps the operation to, or the one named after it", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(BreakerRegistry.breaker("storage"), (b) => b.isolate)
      const mapped = scripted([])
      const exit = yield* Effect.exit(mapped.effect.pipe(protect({ operation: "items.save", breaker: true })))
      assert.strictEqual(mapped.calls(), 0, "the storage breaker is isolated, so the call never runs")
      assert.isTrue(Exit.isFailure(exit))
      const own = yield* Effect.succeed(1).pipe(protect({ operation: "reports.build", breaker: true }))
      assert.strictEqual(own, 1)
      const states = yield* BreakerRegistry.states
      assert.deepStrictEqual(states.map((s) => [s.breaker, s.status, s.calls.success]), [
        ["reports.build", "closed", 1],
        ["storage", "forced_open", 0]
      ])
    }).pipe(Effect.provide(Layer3)))

  it.effect("a registry's breakers leave the metrics when its scope closes: no series outlives its registry", () =>
    Effect.gen(function*() {
      const stateLines = Effect.map(PrometheusMetrics.format(), (text) =>
        text.split("\n").filter((l) => l.startsWith("resilience_breaker_state{breaker=\"db\"")))
      for (let i = 0; i < 3; i++) {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* BreakerRegistry.make({ breakers: { db: {} } })
          assert.include((yield* stateLines).join("\n"), "resilience_breaker_state{breaker=\"db\",state=\"closed\"} 1")
        }))
      }
      assert.deepStrictEqual(yield* stateLines, [])
    }).pipe(
      Effect.provide(ErrorLayer.layer({ logFormat: false })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})

