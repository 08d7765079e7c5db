import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { Bulkhead } from "../src/index.js"

describe("probe", () => {
  it.effect("evicted count", () =>
    Effect.gen(function*() {
      const b = yield* Bulkhead.make("p", { limit: 1, queue: 1, order: "lifo" })
      const a = yield* Effect.forkChild(b.execute(Effect.never))
      yield* Effect.yieldNow
      const w1 = yield* Effect.forkChild(b.execute(Effect.succeed(1)))
      yield* Effect.yieldNow
      const w2 = yield* Effect.forkChild(b.execute(Effect.succeed(2)))
      yield* Effect.yieldNow
      const e = yield* Effect.flip(Fiber.join(w1))
      console.log(e, yield* b.state)
      yield* Fiber.interrupt(a)
      console.log(yield* Fiber.join(w2), yield* b.state)
    }))
})
