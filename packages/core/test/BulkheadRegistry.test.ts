import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Metric, Schema, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { AdaptiveLimit, Bulkhead, BulkheadRegistry, ErrorLayer, ResilienceMetrics } from "../src/index.js"

const options: BulkheadRegistry.Options = {
  default: { limit: 5 },
  bulkheads: {
    search: { limit: 2, queue: 1 },
    reports: { limit: AdaptiveLimit.aimd({ initial: 3, max: 6 }) }
  },
  operations: { "items.search": "search" }
}

const Errors = ErrorLayer.layer({ logFormat: false, bulkheads: options })

/** Lets other fibers run until `done` holds (at most 10 000 yields, then dies). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    if (!done()) return yield* Effect.die("condition never held")
  })

/** Fills `n` places of a bulkhead with calls that hold them until the returned effect releases them. */
const fill = (bulkhead: Bulkhead.Bulkhead, n: number) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const before = Effect.runSync(bulkhead.state)
    const fibers = yield* Effect.forEach(
      Array.from({ length: n }),
      () => Effect.forkChild(bulkhead.execute(Deferred.await(gate)))
    )
    yield* settle(() => {
      const now = Effect.runSync(bulkhead.state)
      return now.inFlight + now.queued === before.inFlight + before.queued + n
    })
    return Effect.andThen(Deferred.succeed(gate, undefined), Fiber.joinAll(fibers))
  })

/** The Prometheus line of a series whose labels include every one of `labels`. */
const lineOf = (text: string, name: string, labels: ReadonlyArray<string>) =>
  text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.every((p) => l.includes(p)))

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

describe("BulkheadRegistry", () => {
  it.effect("returns the same bulkhead for a name, with its own options or the default ones", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([BulkheadRegistry.bulkhead("search"), BulkheadRegistry.bulkhead("search")], {
        concurrency: "unbounded"
      })
      assert.strictEqual(a, b)
      const search = yield* a.state
      assert.deepStrictEqual([search.limit, search.queue], [2, 1])
      const other = yield* (yield* BulkheadRegistry.bulkhead("other")).state
      assert.deepStrictEqual([other.name, other.limit, other.queue, other.order], ["other", 5, 0, "fifo"])
      const reports = yield* (yield* BulkheadRegistry.bulkhead("reports")).state
      assert.deepStrictEqual([reports.limit, reports.adaptive?.algorithm], [3, "Aimd"])
    }).pipe(Effect.provide(Errors)))

  it.effect("named bulkheads exist from the start, others once asked for; states are sorted by name", () =>
    Effect.gen(function*() {
      const states = BulkheadRegistry.BulkheadRegistry.use((r) => r.states)
      assert.deepStrictEqual((yield* states).map((s) => s.name), ["reports", "search"])
      yield* BulkheadRegistry.bulkhead("archive")
      assert.deepStrictEqual((yield* states).map((s) => s.name), ["archive", "reports", "search"])
    }).pipe(Effect.provide(Errors)))

  it.effect("forOperation: the mapped bulkhead, or the one named after the operation with the default options", () =>
    Effect.gen(function*() {
      const registry = yield* BulkheadRegistry.BulkheadRegistry
      assert.strictEqual(registry.forOperation("items.search"), registry.bulkhead("search"))
      const own = registry.forOperation("items.load")
      assert.strictEqual(own, registry.bulkhead("items.load"))
      assert.strictEqual((yield* own.state).limit, 5)
    }).pipe(Effect.provide(Errors)))

  it.effect("withBulkhead runs an effect in the named bulkhead (both forms)", () =>
    Effect.gen(function*() {
      const search = yield* BulkheadRegistry.bulkhead("search")
      assert.strictEqual(yield* Effect.succeed(1).pipe(BulkheadRegistry.withBulkhead("search")), 1)
      assert.strictEqual(yield* BulkheadRegistry.withBulkhead(Effect.succeed(2), "search"), 2)
      assert.strictEqual((yield* search.state).admitted, 2)
      const release = yield* fill(search, 3) // 2 in flight, 1 queued
      const error = yield* Effect.flip(Effect.succeed(3).pipe(BulkheadRegistry.withBulkhead("search")))
      assert.deepStrictEqual([error.bulkhead, error.reason, error.inFlight, error.queued], ["search", "full", 2, 1])
      yield* release
    }).pipe(Effect.provide(Errors)))

  it.effect("withBulkhead uses the registry of the context it runs in, each time", () =>
    Effect.gen(function*() {
      const guarded = Effect.succeed("ran").pipe(BulkheadRegistry.withBulkhead("solo"))
      const one = BulkheadRegistry.layer({ bulkheads: { solo: { limit: 1 } } })
      const two = BulkheadRegistry.layer({ bulkheads: { solo: { limit: 1 } } })
      const scope = yield* Scope.make()
      const first = yield* Layer.buildWithScope(one, scope)
      const second = yield* Layer.buildWithScope(two, scope)
      const registryOf = (context: Context.Context<BulkheadRegistry.BulkheadRegistry>) =>
        Context.get(context, BulkheadRegistry.BulkheadRegistry)
      // the first registry's bulkhead is full; the second's is free
      const release = yield* fill(registryOf(first).bulkhead("solo"), 1)
      assert.strictEqual((yield* Effect.flip(Effect.provide(guarded, first))).reason, "full")
      assert.strictEqual(yield* Effect.provide(guarded, second), "ran")
      assert.strictEqual((yield* Effect.flip(Effect.provide(guarded, first))).reason, "full")
      yield* release
      assert.strictEqual(yield* Effect.provide(guarded, first), "ran")
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("exports each bulkhead's figures as metric series, read when exported", () =>
    isolated(
      Effect.gen(function*() {
        const search = yield* BulkheadRegistry.bulkhead("search")
        const release = yield* fill(search, 3) // 2 in flight, 1 queued
        yield* Effect.exit(search.execute(Effect.void)) // refused: full
        const text = yield* PrometheusMetrics.format()
        const value = (name: string, ...labels: Array<string>) =>
          lineOf(text, name, [`bulkhead="search"`, ...labels])?.split(" ").at(-1)
        assert.strictEqual(value("resilience_bulkhead_in_flight"), "2")
        assert.strictEqual(value("resilience_bulkhead_queued"), "1")
        assert.strictEqual(value("resilience_bulkhead_limit"), "2")
        assert.strictEqual(value("resilience_bulkhead_admitted_total"), "2")
        assert.strictEqual(value("resilience_bulkhead_rejections_total", `reason="full"`), "1")
        assert.strictEqual(value("resilience_bulkhead_rejections_total", `reason="queue_timeout"`), "0")
        assert.strictEqual(value("resilience_bulkhead_rejections_total", `reason="evicted"`), "0")
        // named bulkheads are exported before their first call
        assert.strictEqual(lineOf(text, "resilience_bulkhead_limit", [`bulkhead="reports"`])?.split(" ").at(-1), "3")
        // others once built
        assert.isUndefined(lineOf(text, "resilience_bulkhead_limit", [`bulkhead="late"`]))
        yield* BulkheadRegistry.bulkhead("late")
        const later = yield* PrometheusMetrics.format()
        assert.strictEqual(lineOf(later, "resilience_bulkhead_limit", [`bulkhead="late"`])?.split(" ").at(-1), "5")
        yield* release
        const after = yield* PrometheusMetrics.format()
        assert.strictEqual(lineOf(after, "resilience_bulkhead_in_flight", [`bulkhead="search"`])?.split(" ").at(-1), "0")
        assert.strictEqual(
          lineOf(after, "resilience_bulkhead_admitted_total", [`bulkhead="search"`])?.split(" ").at(-1),
          "3"
        )
      }).pipe(Effect.provide(Errors))
    ))

  it.effect("the snapshot lists every bulkhead's state, sorted by name, and survives its JSON codec", () =>
    Effect.gen(function*() {
      const search = yield* BulkheadRegistry.bulkhead("search")
      const release = yield* fill(search, 1)
      yield* BulkheadRegistry.bulkhead("archive")
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.bulkheads.map((b) => b.name), ["archive", "reports", "search"])
      const registry = yield* BulkheadRegistry.BulkheadRegistry
      assert.deepStrictEqual(snapshot.bulkheads, yield* registry.states)
      assert.deepStrictEqual(snapshot.bulkheads.find((b) => b.name === "search"), {
        name: "search",
        limit: 2,
        inFlight: 1,
        queued: 0,
        queue: 1,
        order: "fifo",
        admitted: 1,
        rejected: { full: 0, queue_timeout: 0, evicted: 0 }
      })
      const json = yield* Schema.encodeEffect(ResilienceMetrics.SnapshotJson)(snapshot)
      assert.deepStrictEqual(yield* Schema.decodeEffect(ResilienceMetrics.SnapshotJson)(json), snapshot)
      yield* release
    }).pipe(Effect.provide(Errors)))

  it.effect("closing the layer removes the bulkheads' series", () =>
    isolated(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Errors, scope)
      const registry = Context.get(context, BulkheadRegistry.BulkheadRegistry)
      yield* registry.bulkhead("search").execute(Effect.void)
      assert.include(yield* PrometheusMetrics.format(), `resilience_bulkhead_in_flight{bulkhead="search"}`)
      yield* Scope.close(scope, Exit.void)
      assert.notInclude(yield* PrometheusMetrics.format(), "resilience_bulkhead_")
    })))

  it.effect("a bulkhead built after the layer closed is not exported", () =>
    isolated(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Errors, scope)
      const registry = Context.get(context, BulkheadRegistry.BulkheadRegistry)
      yield* Scope.close(scope, Exit.void)
      registry.bulkhead("afterwards")
      assert.notInclude(yield* PrometheusMetrics.format(), "resilience_bulkhead_")
    })))

  it.effect("the registry alone (no metrics layer) works and exports nothing", () =>
    isolated(Effect.gen(function*() {
      const bulkhead = yield* BulkheadRegistry.bulkhead("alone")
      assert.strictEqual(yield* bulkhead.execute(Effect.succeed(1)), 1)
      assert.strictEqual((yield* bulkhead.state).limit, 25)
      assert.notInclude(yield* PrometheusMetrics.format(), "resilience_bulkhead_")
    }).pipe(Effect.provide(BulkheadRegistry.layer()))))

  describe("validation", () => {
    it.effect("every problem of every bulkhead at once, with paths from the options", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(BulkheadRegistry.validate({
          default: { limit: 0 },
          bulkheads: { search: { queueTimout: "1 second" } as Bulkhead.Options, reports: { order: "random" as "fifo" } },
          operations: { "items.load": 3 as unknown as string }
        }))
        const paths = error.issues.map((i) => i.path.join(".")).sort()
        assert.deepStrictEqual(paths, [
          "bulkheads.reports.order",
          "bulkheads.search.queueTimout",
          "default.limit",
          "operations.items.load"
        ])
        assert.include(
          error.issues.find((i) => i.path.join(".") === "bulkheads.search.queueTimout")!.message,
          "did you mean \"queueTimeout\"?"
        )
      }))

    it.effect("an unknown top-level key is refused with the nearest name", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          BulkheadRegistry.validate({ bulkhead: { search: { limit: 1 } } } as BulkheadRegistry.Options)
        )
        assert.deepStrictEqual(error.issues, [{
          path: ["bulkhead"],
          message: "Unknown key \"bulkhead\", did you mean \"bulkheads\"?"
        }])
      }))

    it.effect("ErrorLayer reports the section's problems under bulkheads, and builds nothing", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(ErrorLayer.layer({
          logFormat: false,
          bulkheads: { bulkheads: { search: { limit: -1 } } }
        })))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        const issues = error?._tag === "Fail"
          ? (error.error as { issues: ReadonlyArray<{ path: ReadonlyArray<unknown> }> }).issues
          : []
        assert.deepStrictEqual(issues.map((i) => i.path), [["bulkheads", "bulkheads", "search", "limit"]])
      }).pipe(Effect.scoped))
  })
})
