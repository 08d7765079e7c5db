import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, Policy, PolicyService, protect } from "../src/index.js"
import { formatDelay } from "../src/internal/logLines.js"
import { captureLogs, type Line, repeat, scripted } from "./utils.js"

const { StorageError } = CommonErrors

describe("the delay of a retry log line", () => {
  it("is rounded: milliseconds under a second, tenths of a second under a minute, then whole seconds", () => {
    const cases: ReadonlyArray<[Duration.Duration, string]> = [
      [Duration.zero, "0ms"],
      [Duration.nanos(400_000n), "<1ms"],
      [Duration.nanos(11_088_069n), "11ms"], // a jittered 10ms, as it used to print: "11ms 88069ns"
      [Duration.nanos(11_500_000n), "12ms"],
      [Duration.millis(100), "100ms"],
      [Duration.millis(999.4), "999ms"],
      [Duration.millis(999.6), "1s"],
      [Duration.millis(1000), "1s"],
      [Duration.millis(1234.5), "1.2s"],
      [Duration.millis(1250), "1.3s"],
      [Duration.millis(59_940), "59.9s"],
      [Duration.millis(59_960), "1m"],
      [Duration.millis(90_500), "1m 31s"],
      [Duration.hours(2), "2h"],
      [Duration.infinity, "Infinity"]
    ]
    for (const [input, expected] of cases) {
      assert.strictEqual(formatDelay(input), expected, Duration.format(input))
    }
  })

  it.effect("protect logs a jittered delay in whole milliseconds, never in nanoseconds", () => {
    const lines: Array<Line> = []
    const Errors = ErrorLayer.layer({
      logFormat: false,
      policies: [Policy.forFamily(StorageError, { maxAttempts: 4, baseDelay: "10 millis", jitter: 0.5 })]
    })
    const run = <A, E>(effect: Effect.Effect<A, E, PolicyService.PolicyService>) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.result(effect))
        yield* TestClock.adjust("1 minute")
        return yield* Fiber.join(fiber)
      })
    return Effect.gen(function*() {
      yield* run(scripted(repeat(3, () => new StorageError({ operation: "items.insert" }))).effect.pipe(
        protect({ operation: "items.save" })
      ))
      const retries = lines.filter((l) => String(l.message).includes("retrying in"))
      assert.strictEqual(retries.length, 3)
      for (const line of retries) {
        const message = String(line.message)
        assert.match(message, /^items\.save failed on attempt \d, retrying in \d+ms$/)
        const millis = line.annotations.retryInMillis as number
        assert.strictEqual(message.split("retrying in ")[1], `${Math.round(millis)}ms`)
      }
    }).pipe(Effect.provide(Errors), Effect.provide(captureLogs(lines)))
  })
})
