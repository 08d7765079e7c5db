import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, Policy, protect } from "../src/index.js"

const { UnavailableError } = CommonErrors

describe("pushback", () => {
  // Pushback.ts: "A hint of Infinity (what fromHeaders reads from a negative gRPC pushback) means do not retry".
  // policyRun.ts compares `hint > toMillis(maxRetryAfter)`: with an unbounded maxRetryAfter (Policy.make accepts
  // Duration.infinity), Infinity > Infinity is false and the retry sleeps Duration.millis(Infinity): for ever.
  it.effect("a hint of Infinity never waits, even when maxRetryAfter is unbounded", () =>
    Effect.gen(function*() {
      let calls = 0
      const fiber = yield* Effect.forkChild(Effect.exit(
        Effect.suspend(() => {
          calls++
          return Effect.fail(new UnavailableError({ service: "s", retryAfterMillis: Infinity }))
        }).pipe(protect({ operation: "p1" }))
      ))
      yield* TestClock.adjust(Duration.days(365))
      const polled = fiber.pollUnsafe()
      if (polled === undefined) yield* Fiber.interrupt(fiber)
      const exit = polled !== undefined && Exit.isSuccess(polled) ? polled.value : undefined
      assert.isDefined(exit, "the call ended (it is still sleeping a hint of Infinity)")
      assert.isTrue(Exit.isFailure(exit!) && Cause.hasFails(exit!.cause))
      assert.strictEqual(calls, 1)
    }).pipe(Effect.provide(ErrorLayer.layer({
      logFormat: false,
      policies: [
        Policy.forFamily(UnavailableError, Policy.make({ schedule: Schedule.recurs(2), maxRetryAfter: Duration.infinity }))
      ]
    }))))
})
