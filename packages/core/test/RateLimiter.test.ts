import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ConfigError, RateLimiter } from "../src/index.js"
import * as Algorithms from "../src/internal/rateLimit/algorithms.js"
import { KeyStates } from "../src/internal/rateLimit/limiter.js"
import { prng } from "./utils.js"

/** Moves the test clock to `millis` since the epoch. */
const at = (millis: number) => TestClock.setTime(millis)

/** Takes `n` permits one at a time, each of which must be granted. */
const takeAll = (limiter: RateLimiter.RateLimiter, n: number, key?: string) =>
  Effect.forEach(Array.from({ length: n }), () => limiter.acquire(key), { discard: true })

/** The refusal of an acquire that must be refused. */
const refused = (limiter: RateLimiter.RateLimiter, key?: string, permits?: number) =>
  Effect.flip(limiter.acquire(key, permits))

const issuesOf = (options: unknown) =>
  Effect.map(
    Effect.flip(RateLimiter.validate(options as RateLimiter.Options)),
    (error) => error.issues.map((i) => [i.path.join("."), i.message] as const)
  )

describe("RateLimiter", () => {
  describe("token bucket", () => {
    it.effect("allows a burst of `limit`, then refuses with the time until the next token", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("api", { limit: 10, window: "1 second" })
        yield* takeAll(limiter, 10)
        const error = yield* refused(limiter)
        assert.instanceOf(error, RateLimiter.RateLimitedError)
        assert.deepStrictEqual(
          {
            limiter: error.limiter,
            key: error.key,
            limit: error.limit,
            windowMillis: error.windowMillis,
            retryAfterMillis: error.retryAfterMillis
          },
          { limiter: "api", key: "", limit: 10, windowMillis: 1000, retryAfterMillis: 100 }
        )
        assert.strictEqual(Duration.toMillis(error.retryAfter), 100)
        assert.strictEqual(error.code, "resilience.E0010")
        assert.strictEqual(error.kind, "recoverable")
        const state = yield* limiter.state
        assert.deepStrictEqual(state, {
          name: "api",
          algorithm: "token-bucket",
          limit: 10,
          windowMillis: 1000,
          mode: "local",
          keys: 1,
          granted: 10,
          rejected: 1,
          waited: 0
        })
      }))

    it.effect("refills continuously at limit per window: one token per 100 ms, exact retryAfter values", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("refill", { limit: 10, window: "1 second" })
        yield* takeAll(limiter, 10)
        yield* at(30)
        // 0.3 of a token: 70 ms to go
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 70)
        yield* at(99)
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 1)
        yield* at(100)
        yield* limiter.acquire()
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 100)
        // a quiet spell refills at most to the limit
        yield* at(60_000)
        yield* takeAll(limiter, 10)
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 100)
        // several permits at once: the time until all of them are there
        yield* at(60_250)
        assert.strictEqual((yield* refused(limiter, "", 5)).retryAfterMillis, 250)
        const permit = yield* limiter.acquire("", 2)
        // half a token left: 9.5 tokens, 950 ms, until the bucket is full
        assert.deepStrictEqual(permit, { limit: 10, remaining: 0, resetAfterMillis: 950, waitedMillis: 0 })
      }))

    it.effect("a refill read in small steps adds up to whole tokens (reading the state does not change a decision)", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("steps", { limit: 10, window: "1 second" })
        yield* takeAll(limiter, 10)
        // read what is left every 10 ms: each read refills a tenth of a token
        for (let t = 10; t <= 100; t += 10) {
          yield* at(t)
          yield* limiter.remaining()
        }
        // 100 ms after the burst one token is back, as it is without the reads
        const permit = yield* Effect.exit(limiter.acquire())
        assert.isTrue(Exit.isSuccess(permit), "a token 100 ms after the burst")
      }))

    it.effect("a refill taken in small steps by calls adds up to whole tokens", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("steps2", { limit: 10, window: "1 second" })
        yield* takeAll(limiter, 10)
        // refused calls every 10 ms refill the bucket a tenth at a time
        for (let t = 10; t < 100; t += 10) {
          yield* at(t)
          assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 100 - t)
        }
        yield* at(100)
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(limiter.acquire())), "a token 100 ms after the burst")
      }))

    it.effect("more permits than the limit at once are always refused, retryAfter one window", () =>
      Effect.gen(function*() {
        const outcomes: Array<string> = []
        for (const algorithm of ["token-bucket", "sliding-window", "fixed-window"] as const) {
          for (const wait of ["0 millis", "1 minute"] as const) {
            const limiter = yield* RateLimiter.make("big", { algorithm, limit: 5, window: "1 second", wait })
            // refused at once, even with a wait allowed (it could never be granted), and nothing was taken
            const fiber = yield* Effect.forkChild(refused(limiter, "", 6))
            yield* Effect.yieldNow
            const exit = fiber.pollUnsafe()
            yield* Fiber.interrupt(fiber)
            const left = (yield* limiter.remaining()).remaining
            outcomes.push(
              `${algorithm}, wait ${wait}: ${
                exit === undefined ? "still waiting" : Exit.isSuccess(exit) ? `refused, ${exit.value.retryAfterMillis} ms` : "?"
              }, ${left} left`
            )
          }
        }
        assert.deepStrictEqual(outcomes, [
          "token-bucket, wait 0 millis: refused, 1000 ms, 5 left",
          "token-bucket, wait 1 minute: refused, 1000 ms, 5 left",
          "sliding-window, wait 0 millis: refused, 1000 ms, 5 left",
          "sliding-window, wait 1 minute: refused, 1000 ms, 5 left",
          "fixed-window, wait 0 millis: refused, 1000 ms, 5 left",
          "fixed-window, wait 1 minute: refused, 1000 ms, 5 left"
        ])
      }))

    it.effect("a negative number of permits never adds tokens beyond the limit", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("negative", { limit: 10, window: "1 second" })
        yield* Effect.exit(limiter.acquire("", -5))
        assert.isAtMost((yield* limiter.remaining()).remaining, 10)
        yield* Effect.exit(takeAll(limiter, 10))
        assert.isTrue(Exit.isFailure(yield* Effect.exit(limiter.acquire())), "the 11th permit of a limit of 10")
      }))
  })

  describe("waiting", () => {
    it.effect("token bucket: waiting calls reserve their tokens and are served in the order they asked", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("wait", { limit: 2, window: "1 second", wait: "1 second" })
        yield* takeAll(limiter, 2)
        const served: Array<string> = []
        const c = yield* Effect.forkChild(Effect.tap(limiter.acquire(), () => Effect.sync(() => served.push("c"))))
        const d = yield* Effect.forkChild(Effect.tap(limiter.acquire(), () => Effect.sync(() => served.push("d"))))
        yield* Effect.yieldNow
        // a third would wait 1.5 seconds: more than `wait`, refused at once with that time
        const e = yield* refused(limiter)
        assert.strictEqual(e.retryAfterMillis, 1500)
        yield* TestClock.adjust("499 millis")
        assert.deepStrictEqual(served, [])
        yield* TestClock.adjust("1 millis")
        const permitC = yield* Fiber.join(c)
        assert.deepStrictEqual(served, ["c"])
        assert.strictEqual(permitC.waitedMillis, 500)
        yield* TestClock.adjust("500 millis")
        const permitD = yield* Fiber.join(d)
        assert.deepStrictEqual(served, ["c", "d"])
        assert.strictEqual(permitD.waitedMillis, 1000)
        const state = yield* limiter.state
        assert.deepStrictEqual([state.granted, state.rejected, state.waited], [4, 1, 2])
      }))

    it.effect("token bucket: the last waiter to reserve gives its tokens back when interrupted; one ahead in line does not", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("giveback", { limit: 2, window: "1 second", wait: "1 second" })
        yield* takeAll(limiter, 2)
        const c = yield* Effect.forkChild(limiter.acquire()) // reserved for t = 500
        const d = yield* Effect.forkChild(limiter.acquire()) // reserved for t = 1000
        yield* Effect.yieldNow
        yield* TestClock.adjust("100 millis")
        // d reserved after c: c's token stays spent (d's turn was timed with it taken; handing it back behind d
        // would let a newcomer start alongside d)
        yield* Fiber.interrupt(c)
        // at t = 100 the bucket is at -2 + 0.2: a new call would wait 1400 ms, more than `wait`
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 1400)
        // d is the last to reserve: its token comes back, so a new call takes its turn at t = 1000
        yield* Fiber.interrupt(d)
        const e = yield* Effect.forkChild(limiter.acquire())
        yield* Effect.yieldNow
        yield* TestClock.adjust("900 millis")
        assert.strictEqual((yield* Fiber.join(e)).waitedMillis, 900)
        const state = yield* limiter.state
        assert.deepStrictEqual([state.granted, state.rejected], [3, 1])
      }))

    it.effect("token bucket: a token given back by a waiter ahead in line never makes a burst over the limit", () =>
      Effect.gen(function*() {
        // one token per 400 ms, a bucket of one
        const limiter = yield* RateLimiter.make("burst", { limit: 1, window: "400 millis", wait: "1 second" })
        const grants: Array<number> = []
        const take = Effect.andThen(
          limiter.acquire(),
          Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => grants.push(t)))
        )
        yield* take // t = 0
        const b = yield* Effect.forkChild(take) // reserved for t = 400
        const c = yield* Effect.forkChild(take) // reserved for t = 800
        yield* Effect.yieldNow
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(b) // gives its token (due at 400) back
        const d = yield* Effect.forkChild(take)
        yield* Effect.yieldNow
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(c)
        // b reserved before c, so its token is not handed back: d would wait 1100 ms, past `wait`, and is refused
        const refusedD = yield* Effect.flip(Fiber.join(d))
        assert.strictEqual(refusedD.retryAfterMillis, 1100)
        // a bucket of one lets the calls through at least 400 ms apart
        grants.sort((x, y) => x - y)
        const gaps = grants.slice(1).map((t, i) => t - grants[i]!)
        assert.isTrue(gaps.every((gap) => gap >= 400), `grants at ${grants.join(", ")} ms`)
      }))

    it.effect("token bucket: execute waits for its permit before running the effect", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("exec", { limit: 1, window: "1 second", wait: "1 second" })
        const ran: Array<number> = []
        const call = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => ran.push(now)))
        yield* limiter.execute(call)
        const second = yield* Effect.forkChild(limiter.execute(call))
        yield* Effect.yieldNow
        assert.deepStrictEqual(ran, [0])
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(second)
        assert.deepStrictEqual(ran, [0, 1000])
        // and one refused does not run it
        const limited = yield* RateLimiter.make("exec0", { limit: 1, window: "1 second" })
        yield* limited.execute(call)
        const error = yield* Effect.flip(limited.execute(call))
        assert.strictEqual(error._tag, "RateLimitedError")
        assert.deepStrictEqual(ran, [0, 1000, 1000])
      }))

    it.effect("fixed window: a waiting call tries again when the window ends", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("fw-wait", {
          algorithm: "fixed-window",
          limit: 1,
          window: "1 second",
          wait: "2 seconds"
        })
        yield* limiter.acquire()
        const b = yield* Effect.forkChild(limiter.acquire())
        yield* Effect.yieldNow
        yield* TestClock.adjust("999 millis")
        assert.isUndefined(b.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* Fiber.join(b)).waitedMillis, 1000)
        // a wait longer than allowed is refused at once
        const short = yield* RateLimiter.make("fw-short", {
          algorithm: "fixed-window",
          limit: 1,
          window: "1 second",
          wait: "500 millis"
        })
        yield* short.acquire()
        assert.strictEqual((yield* refused(short)).retryAfterMillis, 1000)
        assert.strictEqual(yield* Clock.currentTimeMillis, 1000)
      }))

    it.effect("fixed window: a call that waits twice is one call that waited", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("fw-twice", {
          algorithm: "fixed-window",
          limit: 1,
          window: "1 second",
          wait: "2 seconds"
        })
        yield* limiter.acquire()
        const b = yield* Effect.forkChild(limiter.acquire())
        const c = yield* Effect.forkChild(limiter.acquire())
        yield* Effect.yieldNow
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(b)
        yield* Fiber.join(c)
        const state = yield* limiter.state
        // two calls waited (one of them through two windows)
        assert.deepStrictEqual([state.granted, state.rejected, state.waited], [3, 0, 2])
      }))

    it.effect("sliding window: a waiting call tries again when the estimate leaves room", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("sw-wait", {
          algorithm: "sliding-window",
          limit: 10,
          window: "1 second",
          wait: "1 second"
        })
        yield* at(500)
        yield* takeAll(limiter, 10)
        // at t = 500 the window [0, 1000) is full: the estimate leaves room for one at t = 1100
        // (10 × (1 − 100/1000) = 9)
        const b = yield* Effect.forkChild(limiter.acquire())
        yield* Effect.yieldNow
        yield* TestClock.adjust("599 millis")
        assert.isUndefined(b.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* Fiber.join(b)).waitedMillis, 600)
      }))
  })

  describe("sliding window", () => {
    const make = (limit = 10) =>
      RateLimiter.make("sliding", { algorithm: "sliding-window", limit, window: "1 second" })

    it.effect("the two-window estimate: the previous window weighted by the part still inside the sliding window", () =>
      Effect.gen(function*() {
        const limiter = yield* make()
        yield* takeAll(limiter, 10) // all in the window [0, 1000)
        const left = (t: number) => Effect.andThen(at(t), Effect.map(limiter.remaining(), (r) => r.remaining))
        assert.strictEqual(yield* left(999), 0)
        assert.strictEqual(yield* left(1000), 0) // weight 1: 10 used
        assert.strictEqual(yield* left(1250), 2) // 10 × 0.75 = 7.5 used
        assert.strictEqual(yield* left(1500), 5) // 10 × 0.5
        assert.strictEqual(yield* left(1999), 9) // 10 × 0.001 = 0.01 used
        assert.strictEqual(yield* left(2000), 10) // [1000, 2000) had none
      }))

    it.effect("refusals at the window's edges say exactly when the estimate leaves room", () =>
      Effect.gen(function*() {
        const limiter = yield* make()
        yield* at(200)
        yield* takeAll(limiter, 4)
        yield* at(700)
        yield* takeAll(limiter, 6)
        // t = 800: the window holds 10; next window, 10 × (1 − t/1000) + 1 <= 10 from t = 100 in it: 300 ms
        yield* at(800)
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 300)
        yield* at(1099)
        // 10 × 0.901 = 9.01 used
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 1)
        yield* at(1100)
        yield* limiter.acquire() // 1 + 10 × 0.9 = 10
        // now 1 + 10 × (0.9 − t/1000) + 1 <= 10 from 100 ms later
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 100)
        yield* at(1200)
        yield* limiter.acquire() // 2 + 8
        yield* at(1500)
        assert.deepStrictEqual(yield* limiter.remaining(), {
          remaining: 3, // 2 + 10 × 0.5 = 7 used
          // the current window's permits count until the end of the next window
          resetAfterMillis: 1500
        })
      }))

    it.effect("retryAfter for several permits is exact", () =>
      Effect.gen(function*() {
        const limiter = yield* make()
        yield* takeAll(limiter, 10)
        yield* at(1250)
        // 7.5 used: room for 3 once 10 × (1 − t/1000) <= 7, at t = 1300
        assert.strictEqual((yield* refused(limiter, "", 3)).retryAfterMillis, 50)
        yield* at(1300)
        yield* limiter.acquire("", 3)
      }))

    it.effect("a window with nothing before it counts only its own calls; a skipped window forgets", () =>
      Effect.gen(function*() {
        const limiter = yield* make(3)
        yield* at(100)
        yield* takeAll(limiter, 3)
        // in the first window: from the next window, 3 × (1 − t/1000) + 1 <= 3 from t = 1000/3: 900 + 334
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 1234)
        yield* at(3500) // [1000, 2000) and [2000, 3000) had none: the old count no longer weighs
        yield* takeAll(limiter, 3)
        assert.deepStrictEqual((yield* limiter.remaining()).remaining, 0)
      }))
  })

  describe("fixed window", () => {
    it.effect("counts per calendar window (multiples of the window since the epoch) and refuses until its end", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("fixed", { algorithm: "fixed-window", limit: 3, window: "1 minute" })
        yield* at(90_000) // the window [60 000, 120 000)
        const first = yield* limiter.acquire()
        assert.deepStrictEqual(first, { limit: 3, remaining: 2, resetAfterMillis: 30_000, waitedMillis: 0 })
        yield* takeAll(limiter, 2)
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 30_000)
        yield* at(119_999)
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 1)
        yield* at(120_000)
        assert.deepStrictEqual(yield* limiter.remaining(), { remaining: 3, resetAfterMillis: 0 })
        yield* takeAll(limiter, 3)
        assert.strictEqual((yield* refused(limiter)).retryAfterMillis, 60_000)
      }))

    it.effect("twice the limit can pass around a window's edge (the documented cost)", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("edge", { algorithm: "fixed-window", limit: 3, window: "1 second" })
        yield* at(999)
        yield* takeAll(limiter, 3)
        yield* at(1000)
        yield* takeAll(limiter, 3)
        assert.strictEqual((yield* limiter.state).granted, 6)
      }))
  })

  describe("keys", () => {
    it.effect("each key has its own limit", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("tenants", { limit: 1, window: "1 second" })
        yield* limiter.acquire("a")
        yield* limiter.acquire("b")
        const error = yield* refused(limiter, "a")
        assert.strictEqual(error.key, "a")
        assert.strictEqual((yield* refused(limiter, "b")).key, "b")
        yield* limiter.acquire("c")
        assert.strictEqual((yield* limiter.state).keys, 3)
        // execute's key too
        assert.strictEqual((yield* Effect.flip(limiter.execute(Effect.void, "c"))).key, "c")
        yield* limiter.execute(Effect.void, "d")
      }))

    it.effect("at the key bound, the keys whose state is that of a fresh one are forgotten first", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("bounded", { limit: 1, window: "1 second", keys: 3 })
        yield* limiter.acquire("a")
        yield* at(600)
        yield* limiter.acquire("b")
        yield* limiter.acquire("c")
        yield* at(1000)
        // "a" is full again (idle), "b" and "c" are not: a new key forgets "a" alone
        yield* limiter.acquire("d")
        assert.strictEqual((yield* limiter.state).keys, 3)
        assert.strictEqual((yield* refused(limiter, "b")).retryAfterMillis, 600)
        assert.strictEqual((yield* refused(limiter, "c")).retryAfterMillis, 600)
        assert.strictEqual((yield* refused(limiter, "d")).retryAfterMillis, 1000)
      }))

    it.effect("at the key bound with no idle key, the oldest are forgotten and start afresh", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("oldest", { limit: 1, window: "1 second", keys: 3 })
        yield* limiter.acquire("a")
        yield* limiter.acquire("b")
        yield* limiter.acquire("c")
        yield* limiter.acquire("d") // forgets "a"
        assert.strictEqual((yield* limiter.state).keys, 3)
        yield* refused(limiter, "c")
        yield* refused(limiter, "d")
      }))

    it.effect("reading what is left for a key never makes the limiter forget another key", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("reads", { limit: 1, window: "1 second", keys: 2 })
        yield* limiter.acquire("a")
        yield* limiter.acquire("b")
        // a read of a key never used: a full limit, and nothing taken
        assert.deepStrictEqual(yield* limiter.remaining("x"), { remaining: 1, resetAfterMillis: 0 })
        // "a" and "b" are still limited
        yield* refused(limiter, "a")
        yield* refused(limiter, "b")
      }))
  })

  describe("permits", () => {
    it.effect("a permit says what is left and when the key is back to its full limit", () =>
      Effect.gen(function*() {
        const bucket = yield* RateLimiter.make("p1", { limit: 10, window: "1 second" })
        assert.deepStrictEqual(yield* bucket.acquire(), {
          limit: 10,
          remaining: 9,
          resetAfterMillis: 100,
          waitedMillis: 0
        })
        assert.deepStrictEqual(yield* bucket.acquire("", 3), {
          limit: 10,
          remaining: 6,
          resetAfterMillis: 400,
          waitedMillis: 0
        })
        assert.deepStrictEqual(yield* bucket.remaining("unused"), { remaining: 10, resetAfterMillis: 0 })

        yield* at(250)
        const fixed = yield* RateLimiter.make("p2", { algorithm: "fixed-window", limit: 3, window: "1 second" })
        assert.deepStrictEqual(yield* fixed.acquire(), {
          limit: 3,
          remaining: 2,
          resetAfterMillis: 750,
          waitedMillis: 0
        })
        const sliding = yield* RateLimiter.make("p3", { algorithm: "sliding-window", limit: 3, window: "1 second" })
        assert.deepStrictEqual(yield* sliding.acquire(), {
          limit: 3,
          remaining: 2,
          resetAfterMillis: 1750,
          waitedMillis: 0
        })
      }))
  })

  describe("execute", () => {
    it.effect("is dual, with an optional key", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make("dual", { limit: 1, window: "1 second" })
        assert.strictEqual(yield* Effect.succeed(1).pipe(RateLimiter.execute(limiter, "a")), 1)
        assert.strictEqual(yield* RateLimiter.execute(Effect.succeed(2), limiter, "b"), 2)
        assert.strictEqual(yield* Effect.succeed(3).pipe(RateLimiter.execute(limiter)), 3)
        const error = yield* Effect.flip(RateLimiter.execute(Effect.succeed(4), limiter, "a"))
        assert.strictEqual(error.key, "a")
      }))
  })

  describe("under concurrency (property-style, seeded)", () => {
    // Random arrivals over 10 seconds, some allowed to wait, some interrupted while they wait. Whatever the mix,
    // the permits granted never exceed the algorithm's bound.
    const run = (seed: number, algorithm: "token-bucket" | "fixed-window" | "sliding-window") =>
      Effect.gen(function*() {
        const random = prng(seed)
        const limit = 1 + Math.floor(random() * 5)
        const windowMillis = 100 * (1 + Math.floor(random() * 10))
        const wait = random() < 0.5 ? 0 : 10 * Math.floor(random() * 100)
        const limiter = yield* RateLimiter.make("property", { algorithm, limit, window: windowMillis, wait })
        const grants: Array<number> = []
        let refusals = 0
        const fibers = yield* Effect.forEach(Array.from({ length: 300 }), () => {
          const arrival = 10 * Math.floor(random() * 1000)
          const interruptAfter = random() < 0.2 ? 10 * Math.floor(random() * 50) : undefined
          return Effect.gen(function*() {
            const call = yield* Effect.forkChild(Effect.gen(function*() {
              yield* Effect.sleep(arrival)
              const exit = yield* Effect.exit(limiter.acquire("k"))
              if (Exit.isSuccess(exit)) grants.push(yield* Clock.currentTimeMillis)
              else refusals++
            }))
            if (interruptAfter !== undefined) {
              yield* Effect.forkChild(Effect.andThen(Effect.sleep(arrival + interruptAfter), Fiber.interrupt(call)))
            }
            return call
          })
        })
        for (let t = 0; t <= 12_000; t += 10) yield* TestClock.adjust(10)
        yield* Fiber.awaitAll(fibers)
        grants.sort((a, b) => a - b)
        const violations: Array<string> = []
        if (algorithm === "token-bucket") {
          // in any span [a, b]: at most limit + (b − a) × limit / window; a reserved call starts on the first
          // whole millisecond after its token is there (up to 1 ms late), so a span is measured 1 ms longer
          for (let i = 0; i < grants.length; i++) {
            for (let j = i; j < grants.length; j++) {
              const bound = limit + ((grants[j]! - grants[i]! + 1) * limit) / windowMillis
              if (j - i + 1 > bound + 1e-9) violations.push(`${j - i + 1} grants in [${grants[i]}, ${grants[j]}]`)
            }
          }
        } else {
          // in any calendar window: at most limit
          const perWindow = new Map<number, number>()
          for (const t of grants) perWindow.set(t - (t % windowMillis), (perWindow.get(t - (t % windowMillis)) ?? 0) + 1)
          for (const [start, n] of perWindow) if (n > limit) violations.push(`${n} grants in the window at ${start}`)
        }
        assert.deepStrictEqual(violations.slice(0, 5), [], `seed ${seed}, limit ${limit}, window ${windowMillis}`)
        const state = yield* limiter.state
        assert.strictEqual(state.granted, grants.length)
        assert.isAtMost(state.rejected, refusals)
        assert.isAbove(grants.length, 0)
      })
    for (const algorithm of ["token-bucket", "fixed-window", "sliding-window"] as const) {
      for (let seed = 100; seed < 110; seed++) {
        it.effect(`${algorithm}, seed ${seed}: the permits granted stay within the bound`, () => run(seed, algorithm))
      }
    }
  })

  describe("validation", () => {
    it.effect("every invalid field is named, all at once", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({
          algorithm: "leaky-bucket",
          limit: 0,
          window: "0 millis",
          wait: -1,
          keys: 1.5,
          share: "some"
        })
        assert.deepStrictEqual(issues.map(([path]) => path), ["algorithm", "limit", "window", "wait", "keys", "share"])
        const message = (path: string) => issues.find(([p]) => p === path)?.[1] ?? ""
        assert.strictEqual(message("limit"), "Expected an integer of at least 1, got 0")
        assert.include(message("window"), "Expected a finite duration of at least 1 millisecond")
        assert.strictEqual(message("wait"), "Expected a finite, non-negative duration, got -1")
        assert.strictEqual(message("keys"), "Expected an integer of at least 1, got 1.5")
        assert.include(message("share"), "Expected \"any\", \"off\" or { replicas?, lease? }")
        assert.include(message("algorithm"), "token-bucket")
      }))

    it.effect("limit and window are required", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({})
        assert.deepStrictEqual(issues.map(([path]) => path), ["limit", "window"])
      }))

    it.effect("an infinite window or wait is refused", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({ limit: 1, window: Duration.infinity, wait: "Infinity" })
        assert.deepStrictEqual(issues.map(([path]) => path), ["window", "wait"])
      }))

    it.effect("unknown keys, here and in share, are refused with the nearest name", () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({ limit: 1, window: "1 second", windw: "1 second", share: { replicas: 0, leese: 2 } })
        const byPath = Object.fromEntries(issues)
        assert.deepStrictEqual(Object.keys(byPath).sort(), ["share.leese", "share.replicas", "windw"])
        assert.strictEqual(byPath["windw"], "Unknown key \"windw\", did you mean \"window\"?")
        assert.strictEqual(byPath["share.replicas"], "Expected an integer of at least 1, got 0")
        assert.strictEqual(byPath["share.leese"], "Unknown key \"leese\", did you mean \"lease\"?")
      }))

    it.effect("the defaults: token bucket, no wait, 10 000 keys, shared with any store", () =>
      Effect.gen(function*() {
        const config = yield* RateLimiter.validate({ limit: 5, window: "2 seconds" })
        assert.deepStrictEqual(config, {
          algorithm: "token-bucket",
          limit: 5,
          windowMillis: 2000,
          waitMillis: 0,
          keys: 10_000,
          share: { _tag: "any" }
        })
      }))

    it.effect("make fails with the ConfigError", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(RateLimiter.make("bad", { limit: -1, window: "1 second" }))
        assert.isTrue(ConfigError.isConfigError(error))
        assert.deepStrictEqual(error.issues.map((i) => i.path), [["limit"]])
      }))
  })
})

describe("the key bound's sweep", () => {
  it("frees a tenth of the bound at a time, so a steady churn of keys does not sweep on every new key", () => {
    // a key is idle again 100 ms after its take: about one key turns idle per new key
    const rules: Algorithms.Rules = { algorithm: "token-bucket", limit: 1, windowMillis: 100 }
    const states = new KeyStates(rules, 100)
    let sweeps = 0
    let last = 0
    // one new key per millisecond, each taken once
    for (let i = 0; i < 5_000; i++) {
      const before = states.size
      Algorithms.take(rules, states.get(`k${i}`, i), 1, i, 0)
      if (states.size <= before) {
        sweeps++
        // each sweep leaves room for at least a tenth of the bound
        assert.isAtMost(states.size, 91, `after the sweep at key ${i}`)
        if (last > 0) assert.isAtLeast(i - last, 10, `sweeps at keys ${last} and ${i}`)
        last = i
      }
    }
    assert.isAtMost(sweeps, 5_000 / 10)
  })
})

