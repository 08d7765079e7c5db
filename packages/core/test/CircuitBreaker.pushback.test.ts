import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { TestClock } from "effect/testing"
import { BreakerRegistry, CommonErrors, ErrorLayer, Policy, protect, TripRule } from "../src/index.js"

const { NetworkError } = CommonErrors

const Errors = ErrorLayer.layer({
  logFormat: false,
  policies: [Policy.forFamily(NetworkError, Policy.noRetry())],
  breakers: {
    breakers: {
      outer: { trip: TripRule.consecutive(1), openDuration: "1 second" },
      inner: { trip: TripRule.consecutive(1), openDuration: "60 seconds" }
    }
  }
})

describe("pushback and breaker refusals", () => {
  // Pushback: "the breaker's open duration honours [a server's retry-after]". A BreakerOpenError is a local
  // refusal, not the dependency's pushback, but it carries retryAfterMillis and the default `counts` counts it:
  // an outer breaker tripped by an inner breaker's rejection now stays open for the inner's remaining time
  // (here 60 s instead of its own 1 s; up to 5 minutes), although the outer may guard more than the inner's
  // dependency. BulkheadFullError and RateLimitedError are excluded from `counts`, so they do not do this.
  it.effect("an inner breaker's rejection does not lengthen the outer breaker's own opening", () =>
    Effect.gen(function*() {
      const inner = Effect.fail(new NetworkError({ target: "db" })).pipe(protect({ operation: "db", breaker: "inner" }))
      const outerCall = <R>(self: Effect.Effect<unknown, unknown, R>) => self.pipe(protect({ operation: "api", breaker: "outer" }))
      // the inner breaker opens for 60 s on its first failure; the outer is tripped by that failure too
      yield* Effect.exit(outerCall(inner))
      yield* TestClock.adjust("1 second")
      // the outer's probe: the inner rejects (BreakerOpenError, retryAfterMillis 59 000): the outer reopens
      yield* Effect.exit(outerCall(inner))
      const outer = yield* BreakerRegistry.breaker("outer")
      const state = yield* outer.state
      assert.strictEqual(state.status, "open")
      assert.strictEqual(state.retryAfterMillis, 1_000, "the outer's own 1 s")
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(outerCall(Effect.void))), "the outer probes after 1 s")
    }).pipe(Effect.provide(Errors)))
})
