// The figures of a shared breaker, through ErrorLayer's metrics: transitions by origin, the degraded gauge and
// the resyncs, on a real Redis.
import { NodeRedis } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { BreakerRegistry, ErrorLayer, RedisBreakerStore, TripRule } from "../src/index.js"
import { callTimes, dependency, eventually, fast, replica } from "./support/fleet.js"
import * as Server from "./support/redisServer.js"

describe("RedisBreakerStore metrics", () => {
  it.live("a remote opening is counted with its origin; the degraded gauge and the resyncs are exported", () =>
    Effect.gen(function*() {
      const url = yield* Server.sharedUrl
      const prefix = Server.uniquePrefix("metrics")
      const breakers: BreakerRegistry.Options = { default: { trip: TripRule.consecutive(2), openDuration: "5 seconds" } }
      const a = yield* replica({ url, prefix, id: "a", breakers })
      const dbA = yield* a.breaker("db")
      const Live = ErrorLayer.layer({ breakers }).pipe(Layer.provide(RedisBreakerStore.layerFrom(
        NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url })),
        { ...fast, prefix, replica: "b" }
      )))
      yield* Effect.gen(function*() {
        const dbB = yield* BreakerRegistry.breaker("db")
        yield* eventually(Effect.map(dbB.state, (s) => assert.strictEqual(s.shared?.mode, "shared")), 3000)
        let text = yield* PrometheusMetrics.format()
        assert.include(text, "resilience_breaker_shared_degraded{breaker=\"db\"} 0")
        assert.include(text, "resilience_breaker_transitions_total{breaker=\"db\",to=\"open\",origin=\"remote\"} 0")

        yield* callTimes(dbA, dependency().fail, 2)
        yield* eventually(Effect.map(dbB.state, (s) => assert.strictEqual(s.status, "open")), 500)
        yield* eventually(
          Effect.map(PrometheusMetrics.format(), (t) => assert.match(t, /resilience_breaker_shared_sync_total\{breaker="db",result="ok"\} [1-9]/)),
          2000
        )
        text = yield* PrometheusMetrics.format()
        // adopted once: by the message (remote), or by a resync that came first (sync) on a loaded machine
        const adopted = (origin: string) =>
          Number(new RegExp(`resilience_breaker_transitions_total\\{breaker="db",to="open",origin="${origin}"\\} (\\d+)`)
            .exec(text)?.[1] ?? NaN)
        assert.strictEqual(adopted("remote") + adopted("sync"), 1)
        assert.include(text, "resilience_breaker_transitions_total{breaker=\"db\",to=\"open\",origin=\"local\"} 0")
        assert.include(text, "resilience_breaker_state{breaker=\"db\",state=\"open\"} 1")
      }).pipe(Effect.provide(Live), Effect.provideService(Metric.MetricRegistry, new Map()))
    }).pipe(Effect.scoped), 15_000)
})
