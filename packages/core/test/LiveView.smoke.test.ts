import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { BreakerRegistry, CommonErrors, ErrorLayer, LiveView, protect } from "../src/index.js"

it.effect("smoke: hello, frames with rates, transitions", () =>
  Effect.gen(function*() {
    const live = yield* LiveView.LiveView
    const fiber = yield* live.messages.pipe(Stream.take(6), Stream.runCollect, Effect.forkChild)
    yield* Effect.yieldNow
    for (let i = 0; i < 10; i++) yield* Effect.void.pipe(protect({ operation: "a" }))
    yield* Effect.fail(new CommonErrors.NetworkError({ target: "x" })).pipe(protect({ operation: "b", breaker: "x" }), Effect.ignore, Effect.forkChild)
    yield* TestClock.adjust(500)
    const breaker = yield* BreakerRegistry.breaker("x")
    yield* breaker.isolate
    yield* TestClock.adjust(10)
    yield* TestClock.adjust(2000)
    const messages = yield* Fiber.join(fiber)
    console.log(JSON.stringify(messages, null, 1).slice(0, 3000))
    assert.strictEqual(messages[0]!._tag, "Hello")
  }).pipe(Effect.provide(ErrorLayer.layer({ logFormat: false }))))
