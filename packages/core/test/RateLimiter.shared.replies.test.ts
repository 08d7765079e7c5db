import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { RateLimiter } from "../src/index.js"
import { makeLimiter } from "../src/internal/rateLimit/limiter.js"
import * as Shared from "../src/internal/rateLimit/shared.js"
import { pad } from "./utils.js"

// a fleet whose Redis answers every lease script with `reply` (counting the calls)
const fakeFleet = (reply: (args: ReadonlyArray<unknown>) => unknown) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const calls = { count: 0 }
    const redis = {
      eval: (_script: unknown) => (...args: ReadonlyArray<unknown>) =>
        Effect.sync(() => {
          calls.count++
          return reply(args)
        })
    }
    const fleet: Shared.Fleet = {
      replica: "r1",
      prefix: "p:",
      episode: () => 1,
      call: (f) => f(redis as never) as never,
      fork: (effect) => Effect.runForkWith(context)(effect)
    }
    return { fleet, calls }
  })

describe("shared limiter: what Redis answers", () => {
  // A lease reply of the wrong shape (here an empty array) makes the outcome NaN: `decide` neither grants
  // (NaN > 0 is false) nor refuses (now + NaN - started > wait is false), sleeps NaN (= 0 ms) and asks Redis
  // again, for ever, even with `wait: 0`.
  it.effect("a lease reply of the wrong shape is no answer: the call decides locally, once", () =>
    Effect.gen(function*() {
      const { calls, fleet } = yield* fakeFleet(() => [])
      const config = yield* RateLimiter.validate({ limit: 10, window: "1 second" })
      const limiter = makeLimiter("api", config, Shared.make(fleet, "api", config))
      const fiber = yield* Effect.forkChild(limiter.acquire("k"))
      for (let i = 0; i < 200; i++) yield* Effect.yieldNow
      yield* TestClock.adjust(0)
      for (let i = 0; i < 200; i++) yield* Effect.yieldNow
      const done = fiber.pollUnsafe() !== undefined
      if (!done) yield* Fiber.interrupt(fiber)
      assert.isTrue(done, `the call never ended; Redis was asked ${calls.count} times`)
      // decided locally, on its share (a replica of one: the whole limit), after one question to Redis
      const permit = yield* Fiber.join(fiber)
      assert.strictEqual(permit.limit, 10)
      assert.strictEqual(calls.count, 1)
    }))
})


describe("shared limiter: a joiner interrupted at a scheduler yield", () => {
  // `join` adds the caller's permits to `entry.waiting` synchronously, inside `take`, and installs the
  // `ensuring` that takes them off a few steps later: a caller interrupted at a scheduler yield in between leaves
  // them counted for good, and every later lease of the key asks for them on top (`want = permits + waiting`).
  it.effect("takes its permits out of the waiting count: later leases are not inflated", () =>
    Effect.gen(function*() {
      const inflated: Array<number> = []
      for (let k = 990; k <= 1050; k++) {
        const wants: Array<number> = []
        let hold: Deferred.Deferred<void> | undefined = yield* Deferred.make<void>()
        const context = yield* Effect.context<never>()
        const redis = {
          eval: (_script: unknown) => (_state: unknown, _replicas: unknown, request: { want: number }) =>
            Effect.suspend(() => {
              wants.push(request.want)
              const reply = [1, 0, 60_000, 99, 1000, 1, 0, 0]
              if (hold === undefined) return Effect.succeed(reply)
              return Effect.as(Deferred.await(hold), reply)
            })
        }
        const fleet: Shared.Fleet = {
          replica: "r1",
          prefix: "p:",
          episode: () => 1,
          call: (f) => f(redis as never) as never,
          fork: (effect) => Effect.runForkWith(context)(effect)
        }
        const config = yield* RateLimiter.validate({ limit: 100, window: "1 minute" })
        const limiter = makeLimiter("api", config, Shared.make(fleet, "api", config))
        const first = yield* Effect.forkChild(limiter.acquire("k")) // starts the lease, which hangs
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow
        let caller: Fiber.Fiber<unknown, unknown> | undefined
        let go = false
        const interrupter: Effect.Effect<void> = Effect.suspend(() =>
          go ? Fiber.interrupt(caller!) : Effect.andThen(Effect.yieldNow, interrupter)
        )
        const watcher = yield* Effect.forkChild(interrupter)
        yield* Effect.yieldNow
        caller = yield* Effect.forkChild(
          Effect.sync(() => (go = true)).pipe(Effect.andThen(pad(k)), Effect.andThen(limiter.acquire("k")))
        )
        yield* Fiber.join(watcher)
        const h = hold
        hold = undefined
        yield* Deferred.succeed(h, undefined)
        yield* Fiber.join(first)
        // the lease served `first` and nothing is left: the next call leases again, asking for 1 (nobody waits)
        yield* limiter.acquire("k")
        if (wants[1] !== 1) inflated.push(k)
      }
      assert.deepStrictEqual(inflated, [], `later leases inflated (padding ${inflated})`)
    }), 60_000)
})
