import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Duration, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLayer, ErrorTracker, Policy, PolicyService, retry } from "../src/index.js"
import { advanceUntilDone } from "../src/testing.js"
import { repeat, scripted } from "./utils.js"

const { NetworkError, StorageError, ValidationError } = CommonErrors
const storage = () => new StorageError({ operation: "items.insert" })

// runs `effect` to its end in test time, returns its exit
const settle = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.exit(advanceUntilDone(effect))

// the same script under `retry` and under `Effect.retry`: exits and call times must be the same
const compare = <E>(script: () => ReadonlyArray<E>, schedule: Schedule.Schedule<unknown, E>) =>
  Effect.gen(function*() {
    const ours = scripted(script())
    const stock = scripted(script())
    const oursExit = yield* settle(ours.effect.pipe(retry(schedule)))
    const stockExit = yield* settle(stock.effect.pipe(Effect.retry(schedule)))
    assert.deepStrictEqual(oursExit, stockExit)
    // the test clock moves on between the two runs: compare times relative to each run's first call
    const relative = (times: ReadonlyArray<number>) => times.map((t) => t - times[0]!)
    assert.deepStrictEqual(relative(ours.times), relative(stock.times))
    return { exit: oursExit, times: relative(ours.times) }
  })

describe("retry", () => {
  it.effect("behaves as Effect.retry: recovery, exhaustion, delays, elapsed-time limits", () =>
    Effect.gen(function*() {
      const exponential = Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 3 }))
      const recovered = yield* compare(() => repeat(2, storage), exponential)
      assert.deepStrictEqual(recovered.exit, Exit.succeed(3))
      assert.deepStrictEqual(recovered.times, [0, 100, 300])

      const exhausted = yield* compare(() => repeat(10, storage), exponential)
      assert.isTrue(Exit.isFailure(exhausted.exit))
      assert.deepStrictEqual(exhausted.times, [0, 100, 300, 700])

      // the schedule's elapsed time starts at the first failure, as it does with Effect.retry
      const during = Schedule.spaced("300 millis").pipe(Schedule.while(({ elapsed }) => elapsed < 1000))
      const limited = yield* compare(() => repeat(10, storage), during)
      assert.deepStrictEqual(limited.times, [0, 300, 600, 900, 1200])

      // the schedule sees each error: stop on a validation error
      const typed = Schedule.recurs(5).pipe(
        Schedule.while(({ input }: { input: { readonly _tag: string } }) => input._tag !== "ValidationError")
      )
      const stopped = yield* compare(
        () => [storage(), new ValidationError({ issues: [{ path: ["name"], message: "empty" }] }), storage()],
        typed
      )
      assert.isTrue(Exit.isFailure(stopped.exit) && Cause.squash(stopped.exit.cause) instanceof ValidationError)
      assert.deepStrictEqual(stopped.times, [0, 0])
    }))

  it.effect("the success path never builds the schedule", () =>
    Effect.gen(function*() {
      let built = 0
      const counting = Schedule.fromStep(Effect.sync(() => {
        built++
        return (_now: number, _input: unknown) => Effect.succeed([0, Duration.zero] as [number, Duration.Duration])
      }))
      const ok = scripted<CommonErrors.StorageError>([])
      for (let i = 0; i < 3; i++) assert.strictEqual(yield* ok.effect.pipe(retry(counting)), i + 1)
      assert.strictEqual(built, 0)
      // the first failure builds it, once per failing run
      const failing = scripted([storage()])
      assert.strictEqual(yield* failing.effect.pipe(retry(counting)), 2)
      assert.strictEqual(built, 1)
    }))

  it.effect("a defect is not retried, and typed errors alongside it become defects, as with Effect.retry", () =>
    Effect.gen(function*() {
      const cause = Cause.combine(Cause.fail(storage()), Cause.die("boom"))
      let calls = 0
      const effect = Effect.suspend(() => {
        calls++
        return Effect.failCause(cause)
      })
      const ours = yield* Effect.exit(effect.pipe(retry(Schedule.recurs(3))))
      assert.strictEqual(calls, 1)
      const stock = yield* Effect.exit(effect.pipe(Effect.retry(Schedule.recurs(3))))
      assert.strictEqual(calls, 2)
      assert.deepStrictEqual(ours, stock)
      assert.isTrue(Exit.isFailure(ours) && !Cause.hasFails(ours.cause) && Cause.hasDies(ours.cause))
    }))

  it.effect("an interruption alone passes through unchanged and is not retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const effect = Effect.suspend(() => {
        calls++
        return Effect.failCause(Cause.interrupt(1))
      })
      const exit = yield* Effect.exit(effect.pipe(retry(Schedule.recurs(3))))
      assert.strictEqual(calls, 1)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
    }))

  it.effect("interrupting during a backoff stops the retries", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(10, storage))
      const fiber = yield* Effect.forkChild(op.effect.pipe(retry(Schedule.spaced("1 second"))))
      yield* TestClock.adjust("2500 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(op.times, [0, 1000, 2000])
    }))

  it.effect("concurrent failing runs of one retried effect keep their own schedules", () =>
    Effect.gen(function*() {
      const calls = new Map<string, number>()
      const effect = Effect.gen(function*() {
        const name = yield* Name
        const n = (calls.get(name) ?? 0) + 1
        calls.set(name, n)
        return n < 3 ? yield* Effect.fail(storage()) : n
      })
      const retried = effect.pipe(retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 2 }))))
      const a = yield* Effect.forkChild(Effect.provideService(retried, Name, "a"))
      const b = yield* Effect.forkChild(Effect.provideService(retried, Name, "b"))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(a), 3)
      assert.strictEqual(yield* Fiber.join(b), 3)
    }))

  it.effect("takes a Policy: its schedule decides", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(5, storage))
      const exit = yield* settle(op.effect.pipe(retry(Policy.make({ schedule: Schedule.recurs(2) }))))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(op.calls(), 3)
    }))

  it.effect("with PolicyService.retry, each error follows its policy and is recorded in the tracker", () =>
    Effect.gen(function*() {
      const op = scripted([storage(), new NetworkError({ target: "bank" }), storage()])
      const exit = yield* settle(op.effect.pipe(retry(PolicyService.retry)))
      assert.deepStrictEqual(exit, Exit.succeed(4))
      assert.deepStrictEqual(op.times, [0, 100, 100 + 1000, 1100 + 200])
      const summary = yield* ErrorTracker.summary
      assert.strictEqual(summary.total, 3)
    }).pipe(Effect.provide(ErrorLayer.layer({
      logFormat: false,
      policies: [
        Policy.forFamily(StorageError, { maxAttempts: 5, baseDelay: "100 millis" }),
        Policy.forFamily(NetworkError, { maxAttempts: 3, baseDelay: "1 second" })
      ]
    }))))
})

class Name extends Context.Service<Name, string>()("test/Name") {}
