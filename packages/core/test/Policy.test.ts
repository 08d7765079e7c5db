import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Pull, Schedule } from "effect"
import { Policy } from "../src/index.js"

/** Steps a schedule until it is done and returns its delays in milliseconds. */
const delaysOf = (schedule: Schedule.Schedule<unknown>, limit = 1000) =>
  Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    const delays: Array<number> = []
    let now = 0
    while (delays.length < limit) {
      const next = yield* Pull.catchDone(Effect.map(step(now, undefined), ([, d]) => d), () => Effect.succeed(undefined))
      if (next === undefined) break
      delays.push(Duration.toMillis(next))
      now += Duration.toMillis(next)
    }
    return delays
  })

describe("Policy.fromConfig", () => {
  it.effect("builds exponential backoff for maxAttempts - 1 retries, capped at maxDelay", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.fromConfig({ maxAttempts: 6, baseDelay: 100, maxDelay: "500 millis", timeout: "2 seconds" })
      assert.deepStrictEqual(yield* delaysOf(policy.schedule), [100, 200, 400, 500, 500])
      assert.strictEqual(Duration.toMillis(policy.timeout!), 2000)
      assert.strictEqual(policy.logLevel, "Warn")
      const three = yield* Policy.fromConfig({ baseDelay: "1 second", factor: 3, logLevel: "Error" })
      assert.deepStrictEqual(yield* delaysOf(three.schedule), [1000, 3000]) // default maxAttempts: 3
      assert.strictEqual(three.logLevel, "Error")
      assert.deepStrictEqual(yield* delaysOf((yield* Policy.fromConfig({ maxAttempts: 1 })).schedule), [])
    }))

  it.effect("jitter stays inside its bounds, and the cap still holds", () =>
    Effect.gen(function*() {
      const flat = yield* Policy.fromConfig({ maxAttempts: 401, baseDelay: 1000, factor: 1, jitter: 0.25 })
      const delays = yield* delaysOf(flat.schedule)
      assert.strictEqual(delays.length, 400)
      for (const d of delays) assert.isTrue(d >= 750 && d <= 1250, `delay ${d} outside [750, 1250]`)
      assert.isTrue(new Set(delays.map(Math.round)).size > 50, "delays should vary")
      assert.isTrue(Math.min(...delays) < 800 && Math.max(...delays) > 1200, "the whole range should be used")
      const capped = yield* Policy.fromConfig({ maxAttempts: 201, baseDelay: 1000, factor: 1, jitter: 0.5, maxDelay: 1100 })
      for (const d of yield* delaysOf(capped.schedule)) assert.isTrue(d >= 500 && d <= 1100, `delay ${d}`)
    }))

  it.effect("invalid input fails with every field named, and nothing is built", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Policy.fromConfig({
        maxAttempts: 2.5,
        baseDelay: -1,
        factor: 0.5,
        timeout: "Infinity",
        logLevel: "Loud",
        retries: 3
      }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")).sort(), [
        "baseDelay",
        "factor",
        "logLevel",
        "maxAttempts",
        "retries",
        "timeout"
      ])
      // rooted at the config itself: PolicyService puts them under the policy's own path
      assert.match(error.message, /^Invalid options: /)
      assert.include(error.message, "maxAttempts: Expected an integer")
    }))

  it.effect("maxDelay below baseDelay is rejected on the maxDelay field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Policy.fromConfig({ baseDelay: "1 second", maxDelay: "10 millis" }))
      assert.deepStrictEqual(error.issues.map((i) => [i.path.join("."), i.message]), [
        ["maxDelay", 'Expected at least baseDelay ("1 second")']
      ])
    }))

  it.effect("a non-object config is rejected", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Policy.fromConfig("fast"))
      assert.strictEqual(error.issues.length, 1)
      assert.deepStrictEqual(error.issues[0]!.path, [])
    }))
})

describe("Policy.make", () => {
  it("defaults the log level to Warn and converts the timeout", () => {
    const policy = Policy.make({ schedule: Schedule.recurs(2), timeout: "3 seconds" })
    assert.strictEqual(policy.logLevel, "Warn")
    assert.strictEqual(Duration.toMillis(policy.timeout!), 3000)
    assert.isTrue(Policy.isPolicy(policy))
    assert.isFalse(Policy.isPolicy({ maxAttempts: 1 }))
  })
})
