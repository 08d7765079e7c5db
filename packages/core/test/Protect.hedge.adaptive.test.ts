import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Metric } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, Policy, protect } from "../src/index.js"

const { NetworkError } = CommonErrors

const Errors = ErrorLayer.layer({ logFormat: false, policies: [Policy.forFamily(NetworkError, Policy.noRetry())] })

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

describe("the adaptive hedge delay", () => {
  // The README's and the demo's own pattern: `lookup(sku).pipe(protect({ ... }))` inside the handler, so
  // `protect` runs once per request. The adaptive delay is "a percentile of the operation's measured latency"
  // (issue 17), but the hedge stage keeps its LatencyWindow per `protect` invocation (hedge.ts makeSite), so with
  // this pattern the window never holds more than one duration and the delay stays at maxDelay for ever; and
  // each call allocates a fresh ~15 KB window (6 slots x 464 Uint32 buckets + 464 Float64 totals).
  it.effect("a call site built per request still learns the operation's p95", () =>
    Effect.gen(function*() {
      let primary = 0
      let invocation = 0
      let starts: Array<number> = []
      const lookup = (_sku: string) =>
        Effect.suspend(() => {
          const millis = invocation++ === 0 ? primary : 1
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            starts.push(now)
            return Effect.sleep(`${millis} millis`)
          })
        }).pipe(protect({ operation: "inventory.lookup", hedge: { idempotent: true, delay: "p95" } }))
      const call = (millis: number) =>
        Effect.gen(function*() {
          primary = millis
          invocation = 0
          starts = []
          const fiber = yield* Effect.forkChild(lookup("sku-1"))
          yield* TestClock.adjust(`${millis} millis`)
          yield* Fiber.join(fiber)
          return starts.length > 1 ? starts[1]! - starts[0]! : undefined
        })
      // 100 calls of 10 ms: the p95 is 10 ms
      for (let i = 0; i < 100; i++) yield* call(10)
      const delay = yield* call(500)
      assert.isDefined(delay, "a 500 ms call (50 x the p95) is hedged")
      assert.isAtMost(delay!, 11, "at about the p95 (10 ms)")
    }).pipe(Effect.provide(Errors), isolated))
})
