import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Scheduler } from "effect"
import { Bulkhead } from "../src/index.js"

const drain = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

describe("review: bulkhead", () => {
  // A call whose fast path fails (the one place is taken) but whose fiber is preempted by the scheduler before it
  // queues: the holder releases meanwhile (no waiter to hand over to), then the call queues beside a free place
  // and nobody ever wakes it.
  it.effect("a waiter queued after the fast path failed, while a place is in fact free, is never woken", () =>
    Effect.gen(function*() {
      const hung: Array<number> = []
      for (let n = 3; n <= 64; n++) {
        const bulkhead = yield* Bulkhead.make("b", { limit: 1, queue: 10 })
        const gate = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(
          bulkhead.execute(Effect.andThen(Deferred.await(gate), Effect.yieldNow))
        )
        yield* drain
        const caller = yield* Effect.forkChild(
          Effect.gen(function*() {
            yield* Deferred.succeed(gate, undefined)
            return yield* bulkhead.execute(Effect.succeed("b"))
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, n))
        )
        yield* drain
        yield* Fiber.join(holder)
        yield* drain
        const state = yield* bulkhead.state
        if (caller.pollUnsafe() === undefined) {
          hung.push(n)
          assert.deepStrictEqual([state.inFlight, state.queued], [0, 1])
          // and the bulkhead is stuck: with nobody in flight, every later call queues behind it too
          const later = yield* Effect.forkChild(bulkhead.execute(Effect.succeed("later")))
          yield* drain
          assert.isUndefined(later.pollUnsafe())
          assert.deepStrictEqual([(yield* bulkhead.state).inFlight, (yield* bulkhead.state).queued], [0, 2])
          yield* Fiber.interrupt(later)
          yield* Fiber.interrupt(caller)
        }
      }
      assert.deepStrictEqual(hung, [], `callers left waiting beside a free place (MaxOpsBeforeYield = ${hung})`)
    }))

  // the same with the default scheduler budget (2048 ops): the caller's slice just happens to end there
  it.effect("the same with the default MaxOpsBeforeYield", () =>
    Effect.gen(function*() {
      const hung: Array<number> = []
      for (let k = 2000; k <= 2060; k++) {
        const bulkhead = yield* Bulkhead.make("b", { limit: 1, queue: 10 })
        const gate = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(
          bulkhead.execute(Effect.andThen(Deferred.await(gate), Effect.yieldNow))
        )
        yield* drain
        const caller = yield* Effect.forkChild(
          Effect.gen(function*() {
            yield* Deferred.succeed(gate, undefined)
            for (let i = 0; i < k; i++) yield* Effect.void
            return yield* bulkhead.execute(Effect.succeed("b"))
          })
        )
        yield* drain
        yield* Fiber.join(holder)
        yield* drain
        if (caller.pollUnsafe() === undefined) {
          hung.push(k)
          yield* Fiber.interrupt(caller)
        }
      }
      assert.deepStrictEqual(hung, [], `callers left waiting beside a free place (padding ${hung})`)
    }))
})
