import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import type { Event, Observer } from "../../src/internal/observation.js"
import { both, CurrentObserver, noObserver, observe } from "../../src/internal/observation.js"

const recording = (name: string, log: Array<string>, calls?: boolean): Observer => ({
  active: true,
  ...(calls === undefined ? {} : { calls }),
  emit: (event) => log.push(`${name}:${event._tag}`)
})

const call: Event = { _tag: "Call", operation: "items.save", outcome: "succeeded" }
const transition: Event = {
  _tag: "Transition",
  transition: { breaker: "b", from: "closed", to: "open", reason: "consecutive_failures", at: 0, generation: 1, openings: 1, origin: "local" }
}

describe("observation seam", () => {
  it("no observer is inactive, wants no calls, and is dropped when combined", () => {
    const log: Array<string> = []
    const one = recording("a", log)
    assert.isFalse(noObserver.active)
    assert.isFalse(noObserver.calls)
    assert.strictEqual(both(noObserver, one), one)
    assert.strictEqual(both(one, noObserver), one)
    assert.strictEqual(both(noObserver, noObserver), noObserver)
  })

  it("both emits to each, in order", () => {
    const log: Array<string> = []
    const combined = both(recording("a", log), recording("b", log))
    combined.emit(call)
    combined.emit(transition)
    assert.deepStrictEqual(log, ["a:Call", "b:Call", "a:Transition", "b:Transition"])
    assert.isTrue(combined.calls)
  })

  it("a side with calls: false is handed every event but Call, on either side", () => {
    const log: Array<string> = []
    const first = both(recording("tracker", log, false), recording("metrics", log))
    const second = both(recording("metrics", log), recording("tracker", log, false))
    for (const observer of [first, second]) {
      observer.emit(call)
      observer.emit(transition)
    }
    assert.deepStrictEqual(log, [
      "metrics:Call",
      "tracker:Transition",
      "metrics:Transition",
      "metrics:Call",
      "metrics:Transition",
      "tracker:Transition"
    ])
    assert.isTrue(first.calls)
    assert.isFalse(both(recording("x", log, false), recording("y", log, false)).calls)
  })

  it("observe adds a consumer to the observer already provided", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const layer = observe(Effect.succeed(recording("inner", log))).pipe(
        Layer.provideMerge(observe(Effect.succeed(recording("outer", log))))
      )
      const context = yield* Layer.build(layer)
      Context.get(context, CurrentObserver).emit(call)
      assert.deepStrictEqual(log, ["outer:Call", "inner:Call"])
      // without any consumer, the default is the inactive one
      assert.strictEqual(yield* CurrentObserver, noObserver)
    }).pipe(Effect.scoped, Effect.runPromise))
})
