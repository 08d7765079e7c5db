import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import { TestClock } from "effect/testing"
// the internal constructor first: its module and the public one import each other
import { makeBreaker } from "../../src/internal/breaker/breaker.js"
import * as State from "../../src/internal/breaker/state.js"
import * as Store from "../../src/internal/breaker/store.js"
import { CircuitBreaker, CommonErrors, TripRule } from "../../src/index.js"

const limits: State.Limits = { halfOpenProbes: 1, closeAfter: 1 }
const opening: State.Opening = { epoch: 1, openings: 1, millis: 5000 }

describe("breaker store (memory, on a TxRef)", () => {
  it.effect("reads the committed state without allocating, and commits with its own clock", () =>
    Effect.gen(function*() {
      const store = Store.makeMemory(limits)
      assert.strictEqual(store.current(), State.initial)
      assert.strictEqual(store.current(), store.current())
      yield* TestClock.adjust("2 seconds")
      const committed = yield* store.apply({ _tag: "Open", generation: 0, reason: "consecutive_failures", opening })
      assert.strictEqual(committed?.from, State.initial)
      assert.strictEqual(committed?.to, store.current())
      assert.strictEqual(committed?.reason, "consecutive_failures")
      assert.strictEqual(committed?.at, 2000)
      assert.include(store.current(), { status: "open", generation: 1, since: 2000, sinceMono: 2000, openUntil: 7000 })
    }))

  it.effect("is a compare-and-set on the generation: a command decided from an older state changes nothing", () =>
    Effect.gen(function*() {
      const store = Store.makeMemory(limits)
      const trip = { _tag: "Open", generation: 0, reason: "failure_rate", opening } as const
      assert.isDefined(yield* store.apply(trip))
      const after = store.current()
      assert.isUndefined(yield* store.apply(trip))
      assert.isUndefined(yield* store.apply({ _tag: "ClaimProbe", generation: 0 }))
      assert.strictEqual(store.current(), after)
      // manual states apply to whatever is committed
      assert.strictEqual((yield* store.apply({ _tag: "Force", status: "forced_open" }))?.reason, "isolated")
      assert.isUndefined(yield* store.apply({ _tag: "Force", status: "forced_open" }))
      assert.strictEqual((yield* store.apply({ _tag: "Reset" }))?.to.generation, 3)
    }))

  it.effect("each transition happens once however many fibers race for it", () =>
    Effect.gen(function*() {
      const store = Store.makeMemory({ halfOpenProbes: 3, closeAfter: 1 })
      const immediate = { ...opening, millis: 0 }
      yield* store.apply({ _tag: "Open", generation: 0, reason: "consecutive_failures", opening: immediate })
      const claims = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => Effect.andThen(Effect.yieldNow, store.apply({ _tag: "ClaimProbe", generation: 1 })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(claims.filter((c) => c !== undefined).length, 1)
      assert.include(store.current(), { status: "half_open", generation: 2, probes: 1 })
      const more = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => store.apply({ _tag: "ClaimProbe", generation: 2 }),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(more.filter((c) => c !== undefined).length, 2, "up to the probe limit")
      assert.strictEqual(store.current().probes, 3)
    }))
})

describe("a breaker over a store", () => {
  // a memory store whose state another replica can move on, as a shared store adopts what others committed
  const shared = () => {
    const local = Store.makeMemory(limits)
    let adopted: State.BreakerState | undefined
    let lost = false
    const store: Store.BreakerStore = {
      current: () => adopted ?? local.current(),
      apply: (command) => lost ? Effect.succeed(undefined) : local.apply(command)
    }
    return {
      store,
      adopt: (state: State.BreakerState) => (adopted = state),
      loseEveryRace: () => (lost = true)
    }
  }
  const config = Effect.runSync(CircuitBreaker.validate({ trip: TripRule.consecutive(2), openDuration: "5 seconds" }))
  const fail = Effect.fail(new CommonErrors.NetworkError({ target: "bank" }))

  it.effect("decides every call from the store's committed state, wherever it was committed", () =>
    Effect.gen(function*() {
      const { adopt, store } = shared()
      const published: Array<CircuitBreaker.Transition> = []
      const breaker = makeBreaker("bank", config, { publish: (t) => published.push(t) }, Stream.empty, () => store)
      yield* Effect.exit(breaker.execute(fail))
      // another replica opened it: calls are rejected here too, with the time it has left
      adopt({ ...State.initial, status: "open", generation: 7, openUntil: 3000, openings: 1, lastOpenMillis: 3000 })
      const exit = yield* Effect.exit(breaker.execute(Effect.succeed("ok")))
      const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
      const rejection = error?._tag === "Some" ? error.value as CircuitBreaker.BreakerOpenError : undefined
      assert.strictEqual(rejection?.retryAfterMillis, 3000)
      // and closed again there: a closed period of its own, with fresh trip counts (one failure is not two)
      adopt({ ...State.initial, status: "closed", generation: 9 })
      yield* Effect.exit(breaker.execute(fail))
      assert.strictEqual((yield* breaker.state).status, "closed")
      assert.deepStrictEqual((yield* breaker.state).calls, { success: 0, failure: 2, ignored: 0, rejected: 1, slow: 0 })
      assert.deepStrictEqual(published, [], "what another replica committed is not this breaker's to publish")
    }))

  it.effect("a transition lost to another replica changes nothing here, and the call that asked for it completes", () =>
    Effect.gen(function*() {
      const { loseEveryRace, store } = shared()
      const published: Array<CircuitBreaker.Transition> = []
      const breaker = makeBreaker("bank", config, { publish: (t) => published.push(t) }, Stream.empty, () => store)
      loseEveryRace()
      const exits = [yield* Effect.exit(breaker.execute(fail)), yield* Effect.exit(breaker.execute(fail))]
      assert.isTrue(exits.every((exit) => Exit.isFailure(exit) && Cause.hasFails(exit.cause)))
      assert.strictEqual((yield* breaker.state).status, "closed")
      assert.deepStrictEqual(published, [])
    }))
})
