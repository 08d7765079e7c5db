import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { RateLimiter } from "../src/index.js"
import { drain, pad } from "./utils.js"


// A fiber may yield to the scheduler between any two steps: the caller is padded so that its slice ends at each
// point in turn, and interrupted at that yield.
describe("RateLimiter: preemption between steps", () => {
  // `acquire` reserves tokens synchronously (`take`) and only then, a step later, installs the give-back
  // (`onInterrupt` around the sleep). A caller interrupted while it yields to the scheduler between the two keeps
  // its reservation for good: the next caller waits for tokens nobody will use.
  it.effect("a waiter interrupted at any point of its reservation leaves no tokens reserved", () =>
    Effect.gen(function*() {
      const leaked: Array<number> = []
      for (let k = 990; k <= 1050; k++) {
        const limiter = yield* RateLimiter.make("r", { limit: 1, window: "1 second", wait: "10 seconds" })
        yield* limiter.acquire("a") // the one token is taken
        let caller: Fiber.Fiber<unknown, unknown> | undefined
        let go = false
        // interrupts the caller at the caller's first yield to the scheduler once it started
        const interrupter: Effect.Effect<void> = Effect.suspend(() =>
          go ? Fiber.interrupt(caller!) : Effect.andThen(Effect.yieldNow, interrupter)
        )
        const watcher = yield* Effect.forkChild(interrupter)
        yield* Effect.yieldNow
        caller = yield* Effect.forkChild(
          Effect.sync(() => (go = true)).pipe(Effect.andThen(pad(k)), Effect.andThen(limiter.acquire("a")))
        )
        yield* Fiber.join(watcher)
        yield* drain
        // no one else waits: the next caller should be served when the bucket refills, after 1 second
        const next = yield* Effect.forkChild(limiter.acquire("a"))
        yield* drain
        yield* TestClock.adjust("1 second")
        yield* drain
        if (next.pollUnsafe() === undefined) {
          leaked.push(k)
          yield* TestClock.adjust("1 second")
          const permit = yield* Fiber.join(next)
          assert.strictEqual(permit.waitedMillis, 2000)
        }
      }
      assert.deepStrictEqual(leaked, [], `reservations leaked (padding ${leaked})`)
    }), 60_000)
})
