import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { AdaptiveLimit, Bulkhead, CommonErrors, ConfigError } from "../src/index.js"

/** Lets other fibers run until `done` holds (at most 10 000 yields, then dies). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    if (!done()) return yield* Effect.die("condition never held")
  })

/** Lets every fiber that can run do so. */
const drain = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

/**
 * A call through the bulkhead that, once admitted, records `id` in `started` and holds its place until `open`
 * (or fails with the error given to `fail`).
 */
const hold = <E = never>(bulkhead: Bulkhead.Bulkhead, id: string, started: Array<string>) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<string, E>()
    const fiber = yield* Effect.forkChild(
      bulkhead.execute(Effect.andThen(Effect.sync(() => started.push(id)), Deferred.await(gate)))
    )
    return {
      fiber,
      open: Deferred.succeed(gate, id),
      fail: (error: E) => Deferred.fail(gate, error),
      started: () => started.includes(id)
    }
  })

const stateNow = (bulkhead: Bulkhead.Bulkhead) => Effect.runSync(bulkhead.state)

/** The issues of invalid options, as `[path, message]` pairs. */
const issuesOf = (options: unknown) =>
  Effect.map(
    Effect.flip(Bulkhead.validate(options as Bulkhead.Options)),
    (error) => error.issues.map((i) => [i.path.join("."), i.message] as const)
  )

const figures = (e: Bulkhead.BulkheadFullError) => ({
  bulkhead: e.bulkhead,
  reason: e.reason,
  limit: e.limit,
  inFlight: e.inFlight,
  queued: e.queued,
  retryAfterMillis: e.retryAfterMillis
})

describe("Bulkhead", () => {
  describe("limit and queue", () => {
    it.effect("runs at most `limit` calls at once; with no queue the next is refused at once with its figures", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("search", { limit: 2 })
        const a = yield* hold(bulkhead, "a", started)
        const b = yield* hold(bulkhead, "b", started)
        yield* settle(() => started.length === 2)
        // refused at once: no clock time passes, no fiber needed
        const refused = yield* Effect.flip(bulkhead.execute(Effect.sync(() => started.push("c"))))
        assert.instanceOf(refused, Bulkhead.BulkheadFullError)
        assert.deepStrictEqual(figures(refused), {
          bulkhead: "search",
          reason: "full",
          limit: 2,
          inFlight: 2,
          queued: 0,
          retryAfterMillis: 1000
        })
        assert.strictEqual(Duration.toMillis(refused.retryAfter), 1000)
        assert.deepStrictEqual(started, ["a", "b"])
        const state = yield* bulkhead.state
        assert.deepStrictEqual(state, {
          name: "search",
          limit: 2,
          inFlight: 2,
          queued: 0,
          queue: 0,
          order: "fifo",
          admitted: 2,
          rejected: { full: 1, queue_timeout: 0, evicted: 0 }
        })
        // a place given back is free at once
        yield* a.open
        assert.strictEqual(yield* Fiber.join(a.fiber), "a")
        assert.strictEqual(yield* bulkhead.execute(Effect.succeed("d")), "d")
        yield* b.open
        yield* Fiber.join(b.fiber)
        const after = yield* bulkhead.state
        assert.deepStrictEqual([after.inFlight, after.queued, after.admitted], [0, 0, 3])
      }))

    it.effect("the defaults: a limit of 25, no queue, FIFO, a retryAfter of 1 second", () =>
      Effect.gen(function*() {
        const config = yield* Bulkhead.validate({})
        assert.deepStrictEqual({ ...config, drops: typeof config.drops }, {
          limit: 25,
          queue: 0,
          queueTimeoutMillis: undefined,
          order: "fifo",
          retryAfterMillis: 1000,
          drops: "function"
        })
        const bulkhead = yield* Bulkhead.make("defaults")
        const gate = yield* Deferred.make<void>()
        const fibers = yield* Effect.forEach(
          Array.from({ length: 25 }),
          () => Effect.forkChild(bulkhead.execute(Deferred.await(gate)))
        )
        yield* settle(() => stateNow(bulkhead).inFlight === 25)
        assert.strictEqual((yield* Effect.flip(bulkhead.execute(Effect.void))).reason, "full")
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.joinAll(fibers)
        assert.strictEqual((yield* bulkhead.state).inFlight, 0)
      }))

    it.effect("the retryAfter option sets the hint of every refusal", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("hint", { limit: 1, retryAfter: "250 millis" })
        const a = yield* hold(bulkhead, "a", started)
        yield* settle(() => started.length === 1)
        const refused = yield* Effect.flip(bulkhead.execute(Effect.void))
        assert.strictEqual(refused.retryAfterMillis, 250)
        assert.strictEqual(Duration.toMillis(refused.retryAfter), 250)
        // the error is classified as the module says: recoverable, code E0009
        assert.strictEqual(refused.code, "resilience.E0009")
        assert.strictEqual(refused.kind, "recoverable")
        yield* a.open
      }))

    it.effect("Bulkhead.execute is dual", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("dual", { limit: 1 })
        assert.strictEqual(yield* Effect.succeed(1).pipe(Bulkhead.execute(bulkhead)), 1)
        assert.strictEqual(yield* Bulkhead.execute(Effect.succeed(2), bulkhead), 2)
        assert.strictEqual((yield* bulkhead.state).admitted, 2)
      }))

    it.effect("a call's own failure and defect give the place back and pass through unchanged", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("failures", { limit: 1 })
        const error = new CommonErrors.NetworkError({ target: "x" })
        assert.strictEqual(yield* Effect.flip(bulkhead.execute(Effect.fail(error))), error)
        const exit = yield* Effect.exit(bulkhead.execute(Effect.die("boom")))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.admitted, state.rejected.full], [0, 2, 0])
      }))
  })

  describe("order", () => {
    it.effect("FIFO: waiters get places oldest first; a full queue refuses the newcomer (reason full)", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("fifo", { limit: 1, queue: 3 })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const waiters = []
        for (const id of ["w1", "w2", "w3"]) {
          waiters.push(yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push(id)))))
          yield* settle(() => stateNow(bulkhead).queued === waiters.length)
        }
        const refused = yield* Effect.flip(bulkhead.execute(Effect.sync(() => started.push("w4"))))
        assert.deepStrictEqual(figures(refused), {
          bulkhead: "fifo",
          reason: "full",
          limit: 1,
          inFlight: 1,
          queued: 3,
          retryAfterMillis: 1000
        })
        yield* holder.open
        yield* Fiber.joinAll(waiters)
        assert.deepStrictEqual(started, ["holder", "w1", "w2", "w3"])
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.queued, state.admitted, state.rejected.full], [0, 0, 4, 1])
      }))

    it.effect("FIFO: a newcomer never overtakes a waiter, even when it arrives as a place frees", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("fair", { limit: 1, queue: 2 })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const waiter = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("waiter"))))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        // the place goes to the waiter when the holder ends, before the waiter's fiber runs again: a call made in
        // that instant queues behind it instead of taking the place
        yield* holder.open
        yield* Fiber.join(holder.fiber)
        const state = stateNow(bulkhead)
        assert.deepStrictEqual([state.inFlight, state.queued], [1, 0])
        const newcomer = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("newcomer"))))
        yield* Fiber.joinAll([waiter, newcomer])
        assert.deepStrictEqual(started, ["holder", "waiter", "newcomer"])
      }))

    it.effect("LIFO: waiters get places newest first; a full queue evicts its oldest waiter (reason evicted)", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("lifo", { limit: 1, queue: 2, order: "lifo" })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const waiters: Array<Fiber.Fiber<number, Bulkhead.BulkheadFullError>> = []
        for (const id of ["w1", "w2", "w3", "w4"]) {
          waiters.push(yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push(id)))))
          yield* drain
        }
        // w3 evicted w1, w4 evicted w2: each fails at once, with the figures when it left
        const evicted1 = yield* Effect.flip(Fiber.join(waiters[0]!))
        const evicted2 = yield* Effect.flip(Fiber.join(waiters[1]!))
        assert.strictEqual(evicted1.reason, "evicted")
        assert.strictEqual(evicted2.reason, "evicted")
        assert.deepStrictEqual(figures(evicted2), {
          bulkhead: "lifo",
          reason: "evicted",
          limit: 1,
          inFlight: 1,
          queued: 2,
          retryAfterMillis: 1000
        })
        assert.strictEqual(stateNow(bulkhead).queued, 2)
        yield* holder.open
        yield* Fiber.join(waiters[2]!)
        yield* Fiber.join(waiters[3]!)
        assert.deepStrictEqual(started, ["holder", "w4", "w3"])
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.queued, state.admitted, state.order], [0, 0, 3, "lifo"])
      }))

    it.effect("LIFO: each eviction counts once in rejected.evicted", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("lifo-count", { limit: 1, queue: 1, order: "lifo" })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const first = yield* Effect.forkChild(bulkhead.execute(Effect.void))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        const second = yield* Effect.forkChild(bulkhead.execute(Effect.void))
        assert.strictEqual((yield* Effect.flip(Fiber.join(first))).reason, "evicted")
        // one call was evicted: one eviction
        assert.deepStrictEqual((yield* bulkhead.state).rejected, { full: 0, queue_timeout: 0, evicted: 1 })
        yield* holder.open
        yield* Fiber.join(second)
      }))

    it.effect("LIFO with no queue refuses at once with reason full (there is no waiter to evict)", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("lifo0", { limit: 1, queue: 0, order: "lifo" })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        assert.strictEqual((yield* Effect.flip(bulkhead.execute(Effect.void))).reason, "full")
        yield* holder.open
      }))
  })

  describe("queue timeout", () => {
    it.effect("a waiter gives up after queueTimeout (reason queue_timeout) and leaves the queue", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("timeout", { limit: 1, queue: 2, queueTimeout: "100 millis" })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const waiter = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("waiter"))))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        yield* TestClock.adjust("99 millis")
        assert.isUndefined(waiter.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        const refused = yield* Effect.flip(Fiber.join(waiter))
        assert.deepStrictEqual(figures(refused), {
          bulkhead: "timeout",
          reason: "queue_timeout",
          limit: 1,
          inFlight: 1,
          queued: 0,
          retryAfterMillis: 1000
        })
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.queued, state.rejected.queue_timeout], [0, 1])
        yield* holder.open
        yield* Fiber.join(holder.fiber)
        assert.deepStrictEqual(started, ["holder"])
        assert.strictEqual((yield* bulkhead.state).inFlight, 0)
        assert.strictEqual(yield* bulkhead.execute(Effect.succeed("next")), "next")
      }))

    it.effect("an infinite queue timeout waits until a place frees", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("forever", { limit: 1, queue: 1, queueTimeout: Duration.infinity })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const waiter = yield* Effect.forkChild(Effect.exit(bulkhead.execute(Effect.sync(() => started.push("w")))))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        yield* TestClock.adjust("1 day")
        assert.isUndefined(waiter.pollUnsafe(), "still waiting after a day")
        yield* holder.open
        assert.isTrue(Exit.isSuccess(yield* Fiber.join(waiter)))
        assert.deepStrictEqual(started, ["holder", "w"])
      }))

    it.effect("the queue timeout bounds the wait only: an admitted call runs as long as it takes", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("bounded", { limit: 1, queue: 1, queueTimeout: "100 millis" })
        const first = yield* Effect.forkChild(bulkhead.execute(Effect.as(Effect.sleep("50 millis"), "first")))
        yield* settle(() => stateNow(bulkhead).inFlight === 1)
        const second = yield* Effect.forkChild(bulkhead.execute(Effect.as(Effect.sleep("500 millis"), "second")))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        yield* TestClock.adjust("50 millis")
        assert.strictEqual(yield* Fiber.join(first), "first")
        yield* TestClock.adjust("499 millis")
        assert.isUndefined(second.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* Fiber.join(second), "second")
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.admitted, state.rejected.queue_timeout], [0, 2, 0])
      }))

    it.effect("a place freed at the instant a waiter's timeout passes is not lost either way", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("instant", { limit: 1, queue: 2, queueTimeout: "100 millis" })
        const first = yield* Effect.forkChild(bulkhead.execute(Effect.sleep("100 millis")))
        yield* settle(() => stateNow(bulkhead).inFlight === 1)
        const second = yield* Effect.forkChild(Effect.exit(bulkhead.execute(Effect.sleep("10 millis"))))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        yield* TestClock.adjust("100 millis")
        yield* TestClock.adjust("10 millis")
        const exit = yield* Fiber.join(second)
        yield* Fiber.join(first)
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.queued], [0, 0])
        assert.strictEqual(state.admitted + state.rejected.queue_timeout, 2)
        assert.strictEqual(Exit.isSuccess(exit) ? 1 : 0, state.admitted - 1)
        // and the bulkhead still admits
        assert.strictEqual(yield* bulkhead.execute(Effect.succeed("ok")), "ok")
      }))
  })

  describe("interruption", () => {
    it.effect("an interrupted waiter leaves the queue and never runs; its place is no one's", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("waiters", { limit: 1, queue: 2 })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const w1 = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("w1"))))
        const w2 = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("w2"))))
        yield* settle(() => stateNow(bulkhead).queued === 2)
        yield* Fiber.interrupt(w1)
        assert.strictEqual(stateNow(bulkhead).queued, 1)
        // the queue has room again
        const w3 = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("w3"))))
        yield* settle(() => stateNow(bulkhead).queued === 2)
        yield* holder.open
        yield* Fiber.joinAll([w2, w3])
        assert.deepStrictEqual(started, ["holder", "w2", "w3"])
        const state = yield* bulkhead.state
        assert.deepStrictEqual(
          [state.inFlight, state.queued, state.admitted, state.rejected],
          [0, 0, 3, { full: 0, queue_timeout: 0, evicted: 0 }]
        )
      }))

    it.effect("an interrupted waiter with a queue timeout leaves the queue too", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("timed", { limit: 1, queue: 1, queueTimeout: "1 second" })
        const holder = yield* hold(bulkhead, "holder", started)
        yield* settle(() => started.length === 1)
        const waiter = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("w"))))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        yield* TestClock.adjust("500 millis")
        yield* Fiber.interrupt(waiter)
        assert.strictEqual(stateNow(bulkhead).queued, 0)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(stateNow(bulkhead).rejected.queue_timeout, 0)
        yield* holder.open
        yield* Fiber.join(holder.fiber)
        assert.deepStrictEqual([stateNow(bulkhead).inFlight, started.length], [0, 1])
      }))

    it.effect("an interrupted call gives its place back, to the next waiter", () =>
      Effect.gen(function*() {
        const finalized: Array<string> = []
        const bulkhead = yield* Bulkhead.make("running", { limit: 1, queue: 1 })
        const running = yield* Effect.forkChild(
          bulkhead.execute(Effect.ensuring(Effect.never, Effect.sync(() => finalized.push("running"))))
        )
        yield* settle(() => stateNow(bulkhead).inFlight === 1)
        const waiter = yield* Effect.forkChild(bulkhead.execute(Effect.succeed("waiter")))
        yield* settle(() => stateNow(bulkhead).queued === 1)
        yield* Fiber.interrupt(running)
        assert.deepStrictEqual(finalized, ["running"])
        assert.strictEqual(yield* Fiber.join(waiter), "waiter")
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.queued, state.admitted], [0, 0, 2])
      }))

    it.effect("a place handed to a waiter interrupted in the same instant is passed on to the next", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("handover", { limit: 1, queue: 2 })
        let w1: Fiber.Fiber<number, Bulkhead.BulkheadFullError> | undefined
        let w2: Fiber.Fiber<number, Bulkhead.BulkheadFullError> | undefined
        let handedOver: Bulkhead.State | undefined
        yield* bulkhead.execute(Effect.gen(function*() {
          w1 = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("w1"))))
          w2 = yield* Effect.forkChild(bulkhead.execute(Effect.sync(() => started.push("w2"))))
          yield* settle(() => stateNow(bulkhead).queued === 2)
        })).pipe(
          // the place went to w1 as this call ended, before w1's fiber ran again: interrupt it now
          Effect.tap(() =>
            Effect.sync(() => {
              handedOver = stateNow(bulkhead)
              w1!.interruptUnsafe()
            })
          )
        )
        assert.deepStrictEqual([handedOver!.inFlight, handedOver!.queued], [1, 1])
        const exit1 = yield* Fiber.await(w1!)
        assert.isTrue(Exit.isFailure(exit1) && Cause.hasInterruptsOnly(exit1.cause))
        yield* Fiber.join(w2!)
        assert.deepStrictEqual(started, ["w2"])
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.queued, state.admitted], [0, 0, 2])
      }))

    it.effect("interrupting every waiter and every call leaves nothing behind", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("all", { limit: 3, queue: 10, queueTimeout: "1 minute" })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 13 }),
          () => Effect.forkChild(bulkhead.execute(Effect.never))
        )
        yield* settle(() => stateNow(bulkhead).queued === 10)
        assert.strictEqual(stateNow(bulkhead).inFlight, 3)
        yield* Fiber.interruptAll(fibers)
        const state = yield* bulkhead.state
        assert.deepStrictEqual([state.inFlight, state.queued], [0, 0])
        // the places are all free: three calls at once run
        const gate = yield* Deferred.make<void>()
        const again = yield* Effect.forEach(
          Array.from({ length: 3 }),
          () => Effect.forkChild(bulkhead.execute(Deferred.await(gate)))
        )
        yield* settle(() => stateNow(bulkhead).inFlight === 3)
        assert.strictEqual(stateNow(bulkhead).queued, 0)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.joinAll(again)
      }))
  })

  describe("validation", () => {
    it.effect("every invalid field is named, all at once", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({
          limit: 0,
          queue: -1,
          queueTimeout: "soon",
          order: "random",
          retryAfter: 0,
          drops: 5
        })
        assert.deepStrictEqual(issues.map(([path]) => path), [
          "limit",
          "queue",
          "queueTimeout",
          "order",
          "retryAfter",
          "drops"
        ])
        const message = (path: string) => issues.find(([p]) => p === path)?.[1] ?? ""
        assert.include(message("limit"), "Expected an integer of at least 1")
        assert.include(message("limit"), "got 0")
        assert.strictEqual(message("queue"), "Expected an integer of at least 0, got -1")
        assert.strictEqual(message("queueTimeout"), "Expected a positive duration, got \"soon\"")
        assert.strictEqual(message("retryAfter"), "Expected a positive duration, got 0")
        assert.include(message("drops"), "Expected a predicate or a list of error tags")
        assert.include(message("order"), "fifo")
      }))

    it.effect("non-integer counts, a zero queue timeout and drops that are not tags are refused", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({ limit: 2.5, queue: 1.5, queueTimeout: 0, drops: ["TimeoutError", 3] })
        assert.deepStrictEqual(issues.map(([path]) => path), ["limit", "queue", "queueTimeout", "drops"])
      }))

    it.effect("an unknown key is refused with the nearest option name", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({ limit: 2, queueTimout: "1 second" })
        assert.deepStrictEqual(issues, [["queueTimout", "Unknown key \"queueTimout\", did you mean \"queueTimeout\"?"]])
      }))

    it.effect("an adaptive limit's problems are named under limit", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({ limit: AdaptiveLimit.aimd({ initial: 20, max: 10, backofRatio: 0.5 } as never) })
        assert.deepStrictEqual(issues.map(([path]) => path).sort(), ["limit.backofRatio", "limit.initial"])
        assert.include(
          issues.find(([p]) => p === "limit.backofRatio")![1],
          "did you mean \"backoffRatio\"?"
        )
        const byHand = yield* issuesOf({ limit: { _tag: "Aimd", initial: 1, min: 1, max: 2, backoffRatio: 2 } })
        assert.includeMembers(byHand.map(([path]) => path), ["limit.backoffRatio", "limit.timeout"])
      }))

    it.effect("make fails with the same ConfigError and builds nothing", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Bulkhead.make("bad", { limit: -1, queue: 2 }))
        assert.isTrue(ConfigError.isConfigError(error))
        assert.deepStrictEqual(error.issues.map((i) => i.path), [["limit"]])
        assert.include(error.message, "Invalid options: limit:")
      }))
  })

  describe("adaptive limit", () => {
    const network = () => new CommonErrors.NetworkError({ target: "dependency" })
    const timeout = () => new CommonErrors.TimeoutError({ operation: "dependency", timeoutMillis: 100 })

    it.effect("starts at the limit's initial value and reports its algorithm", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("a", { limit: AdaptiveLimit.aimd({ initial: 3, max: 10 }) })
        const state = yield* bulkhead.state
        assert.strictEqual(state.limit, 3)
        assert.deepStrictEqual(state.adaptive, { algorithm: "Aimd" })
      }))

    it.effect("Gradient2 and Vegas report what they measure in the state", () =>
      Effect.gen(function*() {
        const call = (bulkhead: Bulkhead.Bulkhead) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.forkChild(bulkhead.execute(Effect.sleep("100 millis")))
            yield* TestClock.adjust("100 millis")
            yield* Fiber.join(fiber)
          })
        const gradient = yield* Bulkhead.make("g2", { limit: AdaptiveLimit.gradient2({ initial: 2, min: 1, max: 10 }) })
        yield* call(gradient)
        assert.deepStrictEqual((yield* gradient.state).adaptive, {
          algorithm: "Gradient2",
          minRttMillis: 100,
          gradient: 1
        })
        const vegas = yield* Bulkhead.make("vegas", { limit: AdaptiveLimit.vegas({ initial: 2, min: 1, max: 10 }) })
        yield* call(vegas)
        assert.deepStrictEqual((yield* vegas.state).adaptive, { algorithm: "Vegas", minRttMillis: 100 })
        assert.deepStrictEqual(
          Schema.decodeUnknownSync(Bulkhead.State)(yield* vegas.state),
          yield* vegas.state
        )
      }))

    it.effect("a larger limit admits waiters at once", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("grow", {
          limit: AdaptiveLimit.aimd({ initial: 2, min: 1, max: 10, backoffRatio: 0.5 }),
          queue: 10
        })
        const h1 = yield* hold(bulkhead, "h1", started)
        yield* settle(() => started.length === 1)
        const h2 = yield* hold(bulkhead, "h2", started)
        yield* settle(() => started.length === 2)
        const waiters = []
        for (const id of ["w1", "w2", "w3"]) {
          waiters.push(yield* hold(bulkhead, id, started))
          yield* settle(() => stateNow(bulkhead).queued === waiters.length)
        }
        // h1 was admitted with 1 in flight (1 × 2 >= 2): its success grows the limit to 3, and its release lets
        // two waiters in at once
        yield* h1.open
        yield* Fiber.join(h1.fiber)
        yield* settle(() => started.length === 4)
        yield* drain
        const state = stateNow(bulkhead)
        assert.deepStrictEqual([state.limit, state.inFlight, state.queued], [3, 3, 1])
        assert.deepStrictEqual(started, ["h1", "h2", "w1", "w2"])
        yield* h2.open
        for (const w of waiters) yield* w.open
        yield* Fiber.joinAll([h2.fiber, ...waiters.map((w) => w.fiber)])
        assert.deepStrictEqual([stateNow(bulkhead).inFlight, stateNow(bulkhead).queued], [0, 0])
      }))

    it.effect("a smaller limit lets the calls in flight finish and admits no one until in-flight < limit", () =>
      Effect.gen(function*() {
        const started: Array<string> = []
        const bulkhead = yield* Bulkhead.make("shrink", {
          limit: AdaptiveLimit.aimd({ initial: 8, min: 1, max: 10, backoffRatio: 0.5 }),
          queue: 5
        })
        const holders = []
        for (let i = 1; i <= 8; i++) {
          holders.push(yield* hold<CommonErrors.TimeoutError>(bulkhead, `h${i}`, started))
          yield* settle(() => started.length === i)
        }
        const waiter = yield* hold(bulkhead, "w", started)
        yield* settle(() => stateNow(bulkhead).queued === 1)
        // a drop: the limit halves to 4; the 7 calls left in flight go on, the waiter waits
        yield* holders[7]!.fail(timeout())
        yield* Effect.exit(Fiber.join(holders[7]!.fiber))
        yield* drain
        let state = stateNow(bulkhead)
        assert.deepStrictEqual([state.limit, state.inFlight, state.queued], [4, 7, 1])
        assert.isTrue(holders.slice(0, 7).every((h) => h.fiber.pollUnsafe() === undefined))
        // interruptions are no samples: the limit stays at 4 and the waiter gets a place only at 3 in flight
        for (let i = 6; i >= 4; i--) {
          yield* Fiber.interrupt(holders[i]!.fiber)
          yield* drain
          state = stateNow(bulkhead)
          assert.deepStrictEqual([state.limit, state.inFlight, state.queued], [4, i, 1])
          assert.isFalse(waiter.started())
        }
        yield* Fiber.interrupt(holders[3]!.fiber)
        yield* settle(() => waiter.started())
        state = stateNow(bulkhead)
        assert.deepStrictEqual([state.limit, state.inFlight, state.queued], [4, 4, 0])
        yield* Fiber.interruptAll([...holders.slice(0, 3).map((h) => h.fiber), waiter.fiber])
        assert.strictEqual(stateNow(bulkhead).inFlight, 0)
      }))

    it.effect("samples: a drop shrinks the limit, another typed failure does not, defects and interruptions are ignored", () =>
      Effect.gen(function*() {
        const make = (drops?: Bulkhead.Options["drops"]) =>
          Bulkhead.make("samples", {
            limit: AdaptiveLimit.aimd({ initial: 2, min: 1, max: 10, backoffRatio: 0.5 }),
            ...(drops === undefined ? {} : { drops })
          })
        const limitAfter = (bulkhead: Bulkhead.Bulkhead, call: Effect.Effect<unknown, unknown>) =>
          Effect.gen(function*() {
            yield* Effect.exit(bulkhead.execute(call))
            return (yield* bulkhead.state).limit
          })
        // one call in flight of a limit of 2 is "at least half used": a success or a failure that is no drop
        // grows the limit by one
        assert.strictEqual(yield* limitAfter(yield* make(), Effect.void), 3)
        assert.strictEqual(yield* limitAfter(yield* make(), Effect.fail(network())), 3)
        // a drop (TimeoutError by default) halves it
        assert.strictEqual(yield* limitAfter(yield* make(), Effect.fail(timeout())), 1)
        // the bulkhead's own refusal and a breaker's rejection count as drops by default
        const full = yield* Effect.flip(Effect.gen(function*() {
          const inner = yield* Bulkhead.make("inner", { limit: 1 })
          const gate = yield* Deferred.make<void>()
          yield* Effect.forkChild(inner.execute(Deferred.await(gate)))
          yield* settle(() => stateNow(inner).inFlight === 1)
          return yield* inner.execute(Effect.void)
        }))
        assert.strictEqual(yield* limitAfter(yield* make(), Effect.fail(full)), 1)
        // defects and interruptions say nothing
        assert.strictEqual(yield* limitAfter(yield* make(), Effect.die("bug")), 2)
        assert.strictEqual(yield* limitAfter(yield* make(), Effect.interrupt), 2)
        // drops as tags, and as a predicate
        assert.strictEqual(yield* limitAfter(yield* make(["NetworkError"]), Effect.fail(network())), 1)
        assert.strictEqual(yield* limitAfter(yield* make(["NetworkError"]), Effect.fail(timeout())), 3)
        assert.strictEqual(
          yield* limitAfter(yield* make((e) => e instanceof CommonErrors.NetworkError), Effect.fail(network())),
          1
        )
      }))

    it.effect("AIMD: a call slower than its timeout counts as a drop (latency measured on the Clock)", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("slow", {
          limit: AdaptiveLimit.aimd({ initial: 4, min: 1, max: 10, backoffRatio: 0.5, timeout: "2 seconds" })
        })
        const slow = yield* Effect.forkChild(bulkhead.execute(Effect.sleep("2001 millis")))
        yield* TestClock.adjust("2001 millis")
        yield* Fiber.join(slow)
        assert.strictEqual((yield* bulkhead.state).limit, 2)
        const fast = yield* Effect.forkChild(bulkhead.execute(Effect.sleep("2 seconds")))
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(fast)
        // not slower than the timeout: a success, with 1 of 2 in flight: the limit grows
        assert.strictEqual((yield* bulkhead.state).limit, 3)
      }))

    it.effect("a limit shrunk by drops under load never lets more in than it, and grows back with successes", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make("cycle", {
          limit: AdaptiveLimit.aimd({ initial: 4, min: 1, max: 6, backoffRatio: 0.5 }),
          queue: 50
        })
        let running = 0
        let peakOverLimit = 0
        const call = (fail: boolean) =>
          bulkhead.execute(Effect.gen(function*() {
            running++
            const state = yield* bulkhead.state
            // a call admitted now was admitted under the limit now (no call ended since its admission)
            peakOverLimit = Math.max(peakOverLimit, running - state.inFlight)
            yield* Effect.sleep("10 millis")
            if (fail) return yield* Effect.fail(timeout())
          }).pipe(Effect.ensuring(Effect.sync(() => running--))))
        // 10 drops then 30 successes, all queued at once
        const fibers = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i < 10),
          (fail) => Effect.forkChild(Effect.exit(call(fail)))
        )
        const limits: Array<number> = []
        while (fibers.some((f) => f.pollUnsafe() === undefined)) {
          yield* TestClock.adjust("10 millis")
          yield* drain
          const state = stateNow(bulkhead)
          limits.push(state.limit)
          assert.isAtMost(running, state.inFlight)
        }
        assert.strictEqual(peakOverLimit, 0)
        assert.strictEqual(Math.min(...limits), 1)
        assert.strictEqual(limits.at(-1), 6)
        const state = stateNow(bulkhead)
        assert.deepStrictEqual([state.inFlight, state.queued, state.admitted], [0, 0, 40])
      }))
  })
})
