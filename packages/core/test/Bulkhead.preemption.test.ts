import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { AdaptiveLimit, Bulkhead, CommonErrors } from "../src/index.js"
import { drain, pad } from "./utils.js"


// A fiber may yield to the scheduler between any two steps (after 2048 operations by default): these tests pad
// the caller with no-op steps so that its slice ends at each point in turn, and act (release a place) at that
// yield. The property tests cannot reach these gaps.
describe("Bulkhead: preemption between steps", () => {
  // The holder spins (yieldNow) until the caller has started, so it ends, and releases, at the caller's first
  // scheduler yield. When that yield falls between the caller's failed fast path (`tryAcquire`) and its
  // `enqueue` (two separate steps of the fiber), the release finds nobody queued, and the caller then queues
  // beside a free place: nobody ever wakes it, and since a queued waiter blocks the fast path, every later call
  // queues behind it. Default scheduler settings; no queueTimeout (the default): stuck for good.
  it.effect("a caller preempted between its failed fast path and its enqueue is given the place freed meanwhile", () =>
    Effect.gen(function*() {
      const hung: Array<number> = []
      for (let k = 990; k <= 1050; k++) {
        const bulkhead = yield* Bulkhead.make("b", { limit: 1, queue: 10 })
        let go = false
        const spin: Effect.Effect<void> = Effect.suspend(() => go ? Effect.void : Effect.andThen(Effect.yieldNow, spin))
        const holder = yield* Effect.forkChild(bulkhead.execute(spin))
        yield* Effect.yieldNow
        const caller = yield* Effect.forkChild(
          Effect.sync(() => (go = true)).pipe(Effect.andThen(pad(k)), Effect.andThen(bulkhead.execute(Effect.succeed("b"))))
        )
        yield* Fiber.join(holder)
        yield* drain
        if (caller.pollUnsafe() === undefined) {
          hung.push(k)
          const state = yield* bulkhead.state
          assert.deepStrictEqual([state.inFlight, state.queued], [0, 1])
          // a later call finds the place free but a waiter queued: it queues too, and waits for ever
          const later = yield* Effect.forkChild(bulkhead.execute(Effect.succeed("later")))
          yield* drain
          assert.isUndefined(later.pollUnsafe())
          const after = yield* bulkhead.state
          assert.deepStrictEqual([after.inFlight, after.queued], [0, 2])
          yield* Fiber.interrupt(later)
          yield* Fiber.interrupt(caller)
        }
      }
      assert.deepStrictEqual(hung, [], `callers left queued beside a free place (padding ${hung})`)
    }), 60_000)
})

describe("Bulkhead: an adaptive limit's exit handler", () => {
  // The place is given back in the same exit handler that samples the call for the adaptive limit; a `drops`
  // predicate that throws skips the release (the handler dies before it): the place is gone for good.
  it.effect("a throwing drops predicate does not leak the call's place", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make("b", {
        limit: AdaptiveLimit.aimd({ initial: 1, min: 1, max: 1 }),
        drops: () => {
          throw new Error("bad predicate")
        }
      })
      const exit = yield* Effect.exit(bulkhead.execute(Effect.fail(new CommonErrors.NetworkError({ target: "x" }))))
      assert.isTrue(Exit.isFailure(exit))
      const state = yield* bulkhead.state
      assert.strictEqual(state.inFlight, 0, "the failed call still holds its place")
    }))
})
