import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, type Duration, Effect, Exit, Layer, Metric, Schema, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { ErrorLayer, RateLimiter, RateLimiterRegistry, ResilienceMetrics } from "../src/index.js"

const options: RateLimiterRegistry.Options = {
  default: { limit: 5, window: "1 second" },
  limiters: {
    api: { limit: 2, window: "1 second" },
    exports: { algorithm: "sliding-window", limit: 10, window: "1 hour" }
  }
}

const Errors = ErrorLayer.layer({ logFormat: false, rateLimiters: options })

const lineOf = (text: string, name: string, labels: ReadonlyArray<string>) =>
  text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.every((p) => l.includes(p)))
const valueOf = (text: string, name: string, limiter: string) =>
  lineOf(text, name, [`limiter="${limiter}"`])?.split(" ").at(-1)

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

describe("RateLimiterRegistry", () => {
  it.effect("returns the same limiter for a name, with its own options or the default ones", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([RateLimiterRegistry.limiter("api"), RateLimiterRegistry.limiter("api")])
      assert.strictEqual(a, b)
      const api = yield* a.state
      assert.deepStrictEqual([api.name, api.limit, api.windowMillis, api.algorithm], ["api", 2, 1000, "token-bucket"])
      const other = yield* (yield* RateLimiterRegistry.limiter("other")).state
      assert.deepStrictEqual([other.name, other.limit, other.windowMillis], ["other", 5, 1000])
      const registry = yield* RateLimiterRegistry.RateLimiterRegistry
      assert.deepStrictEqual((yield* registry.states).map((s) => s.name), ["api", "exports", "other"])
    }).pipe(Effect.provide(Errors)))

  it.effect("without default options, asking for an unknown name is a defect; named limiters still work", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(RateLimiterRegistry.limiter("unknown"))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      assert.include(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "", "unknown")
      const guarded = yield* Effect.exit(Effect.void.pipe(RateLimiterRegistry.withRateLimit("unknown")))
      assert.isTrue(Exit.isFailure(guarded) && Cause.hasDies(guarded.cause))
      yield* Effect.void.pipe(RateLimiterRegistry.withRateLimit("api"))
    }).pipe(Effect.provide(RateLimiterRegistry.layer({ limiters: { api: { limit: 1, window: "1 second" } } }))))

  it.effect("withRateLimit takes a permit of the named limiter for a key (both forms)", () =>
    Effect.gen(function*() {
      let runs = 0
      const call = Effect.sync(() => ++runs)
      yield* call.pipe(RateLimiterRegistry.withRateLimit("api", "tenant-a"))
      yield* RateLimiterRegistry.withRateLimit(call, "api", "tenant-a")
      const error = yield* Effect.flip(call.pipe(RateLimiterRegistry.withRateLimit("api", "tenant-a")))
      assert.instanceOf(error, RateLimiter.RateLimitedError)
      assert.deepStrictEqual([error.limiter, error.key, error.limit, error.retryAfterMillis], ["api", "tenant-a", 2, 500])
      assert.strictEqual(runs, 2)
      // another key, and the default key, have their own permits
      yield* call.pipe(RateLimiterRegistry.withRateLimit("api", "tenant-b"))
      yield* call.pipe(RateLimiterRegistry.withRateLimit("api"))
      yield* RateLimiterRegistry.withRateLimit(call, "api")
      assert.strictEqual((yield* Effect.flip(RateLimiterRegistry.withRateLimit(call, "api"))).key, "")
      assert.strictEqual(runs, 5)
      yield* TestClock.adjust("500 millis")
      yield* call.pipe(RateLimiterRegistry.withRateLimit("api", "tenant-a"))
      assert.strictEqual(runs, 6)
    }).pipe(Effect.provide(Errors)))

  it.effect("exports each limiter's figures as metric series", () =>
    isolated(
      Effect.gen(function*() {
        const api = yield* RateLimiterRegistry.limiter("api")
        yield* api.acquire("a")
        yield* api.acquire("a")
        yield* Effect.exit(api.acquire("a"))
        yield* api.acquire("b")
        const text = yield* PrometheusMetrics.format()
        assert.strictEqual(valueOf(text, "resilience_rate_limiter_permits_total", "api"), "3")
        assert.strictEqual(valueOf(text, "resilience_rate_limiter_rejections_total", "api"), "1")
        assert.strictEqual(valueOf(text, "resilience_rate_limiter_waits_total", "api"), "0")
        assert.strictEqual(valueOf(text, "resilience_rate_limiter_keys", "api"), "2")
        // named limiters before their first call
        assert.strictEqual(valueOf(text, "resilience_rate_limiter_permits_total", "exports"), "0")
        // a local limiter has no shared store to be degraded from
        assert.notInclude(text, "resilience_rate_limiter_shared_degraded")
      }).pipe(Effect.provide(Errors))
    ))

  it.effect("the snapshot lists every limiter's state, sorted by name, and survives its JSON codec", () =>
    Effect.gen(function*() {
      const api = yield* RateLimiterRegistry.limiter("api")
      yield* api.acquire()
      yield* RateLimiterRegistry.limiter("archive")
      const snapshot = yield* ResilienceMetrics.snapshot
      assert.deepStrictEqual(snapshot.rateLimiters.map((l) => l.name), ["api", "archive", "exports"])
      assert.deepStrictEqual(snapshot.rateLimiters[0], {
        name: "api",
        algorithm: "token-bucket",
        limit: 2,
        windowMillis: 1000,
        mode: "local",
        keys: 1,
        granted: 1,
        rejected: 0,
        waited: 0
      })
      const registry = yield* RateLimiterRegistry.RateLimiterRegistry
      assert.deepStrictEqual(snapshot.rateLimiters, yield* registry.states)
      const json = yield* Schema.encodeEffect(ResilienceMetrics.SnapshotJson)(snapshot)
      assert.deepStrictEqual(yield* Schema.decodeEffect(ResilienceMetrics.SnapshotJson)(json), snapshot)
    }).pipe(Effect.provide(Errors)))

  it.effect("closing the layer removes the limiters' series", () =>
    isolated(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Errors, scope)
      const registry = Context.get(context, RateLimiterRegistry.RateLimiterRegistry)
      yield* registry.limiter("api").acquire()
      assert.include(yield* PrometheusMetrics.format(), `resilience_rate_limiter_permits_total{limiter="api"}`)
      yield* Scope.close(scope, Exit.void)
      assert.notInclude(yield* PrometheusMetrics.format(), "resilience_rate_limiter_")
    })))

  describe("validation", () => {
    it.effect("every problem of every limiter at once, with paths from the options", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(RateLimiterRegistry.validate({
          default: { limit: 0, window: "1 second" },
          limiters: {
            api: { limit: 1, windw: "1 second" } as unknown as RateLimiter.Options,
            exports: { limit: 1, window: "1 hour", wait: "forever" as Duration.Input }
          }
        }))
        const paths = error.issues.map((i) => i.path.join(".")).sort()
        assert.deepStrictEqual(paths, [
          "default.limit",
          "limiters.api.window",
          "limiters.api.windw",
          "limiters.exports.wait"
        ])
        assert.include(
          error.issues.find((i) => i.path.join(".") === "limiters.api.windw")!.message,
          "did you mean \"window\"?"
        )
      }))

    it.effect("an unknown top-level key is refused with the nearest name", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          RateLimiterRegistry.validate({ limiter: {} } as RateLimiterRegistry.Options)
        )
        assert.deepStrictEqual(error.issues, [{
          path: ["limiter"],
          message: "Unknown key \"limiter\", did you mean \"limiters\"?"
        }])
      }))

    it.effect("ErrorLayer reports the section's problems under rateLimiters", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(ErrorLayer.layer({
          logFormat: false,
          rateLimiters: { limiters: { api: { limit: 1, window: 0 } } }
        })))
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        const issues = failure?._tag === "Fail"
          ? (failure.error as { issues: ReadonlyArray<{ path: ReadonlyArray<unknown> }> }).issues
          : []
        assert.deepStrictEqual(issues.map((i) => i.path), [["rateLimiters", "limiters", "api", "window"]])
      }).pipe(Effect.scoped))
  })
})
