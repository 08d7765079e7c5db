import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import * as OpenDuration from "../../src/internal/breaker/openDuration.js"

describe("breaker open durations", () => {
  it.effect("a fixed duration lasts the same for every opening", () =>
    Effect.gen(function*() {
      const durations = OpenDuration.make(Duration.seconds(3))
      assert.deepStrictEqual([
        yield* durations.millis(1, 1, 0),
        yield* durations.millis(1, 7, 0),
        yield* durations.millis(9, 1, 0)
      ], [3000, 3000, 3000])
    }))

  it.effect("a schedule is stepped once per opening of a run, remembered, and afresh for each run", () =>
    Effect.gen(function*() {
      let steps = 0
      const schedule = Schedule.exponential("1 second").pipe(
        Schedule.tap(() => Effect.sync(() => steps++))
      ) as Schedule.Schedule<unknown, number>
      const durations = OpenDuration.make(schedule)
      assert.strictEqual(yield* durations.millis(1, 3, 0), 4000, "the third opening steps the schedule three times")
      assert.strictEqual(steps, 3)
      assert.deepStrictEqual([yield* durations.millis(1, 1, 0), yield* durations.millis(1, 2, 0)], [1000, 2000])
      assert.strictEqual(steps, 3, "asked again, the durations are remembered")
      assert.strictEqual(yield* durations.millis(2, 1, 0), 1000, "a new run starts from the first duration")
      assert.strictEqual(steps, 4)
    }))

  it.effect("when the schedule ends, its last duration is kept", () =>
    Effect.gen(function*() {
      const durations = OpenDuration.make(
        Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 2 })) as Schedule.Schedule<unknown, number>
      )
      assert.deepStrictEqual([
        yield* durations.millis(1, 1, 0),
        yield* durations.millis(1, 2, 0),
        yield* durations.millis(1, 3, 0),
        yield* durations.millis(1, 4, 0)
      ], [1000, 2000, 2000, 2000])
    }))

  it.effect("the first duration of a schedule, or none", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* OpenDuration.firstMillis(Schedule.exponential("750 millis")), 750)
      assert.isUndefined(yield* OpenDuration.firstMillis(Schedule.recurs(0) as Schedule.Schedule<unknown, number>))
    }))
})
