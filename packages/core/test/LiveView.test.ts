// The live view's behaviour, on the TestClock: what a frame holds against known traffic, when frames are made
// and sent, breaker transitions and alerts as they happen, slow clients, the client limit, closing, the options,
// the fleet's sum, and many clients coming and going at random.
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  Chaos,
  CommonErrors,
  ConfigError,
  ErrorFamily,
  ErrorLayer,
  LiveView,
  Policy,
  protect,
  ResilienceMetrics,
  TripRule
} from "../src/index.js"
import { drain, prng } from "./utils.js"

const { NetworkError, StorageError, ValidationError } = CommonErrors

// recoverable, but critical: every attempt of it is an alert, the retried ones too
class Meltdown extends ErrorFamily.TaggedError<Meltdown>()("Meltdown", { core: Schema.String }, {
  code: "test.E0111",
  kind: "recoverable",
  severity: "critical",
  publicMessage: "The reactor is melting."
}) {}

const Live = (live?: LiveView.Options) =>
  ErrorLayer.layer({
    logFormat: false,
    errors: [Meltdown],
    policies: [
      Policy.forFamily(NetworkError, Policy.noRetry()),
      Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "10 millis", factor: 1 }),
      Policy.forFamily(Meltdown, { maxAttempts: 2, baseDelay: "10 millis", factor: 1 })
    ],
    breakers: {
      breakers: {
        x: { trip: TripRule.consecutive(5), openDuration: "5 seconds" },
        flaky: { trip: TripRule.consecutive(2), openDuration: "1 second" }
      }
    },
    live
  })

type Message = LiveView.Message
type FrameMessage = Extract<Message, { readonly _tag: "Frame" }>
type HelloMessage = Extract<Message, { readonly _tag: "Hello" }>

/** A client that reads every message as it comes, into `seen`; interrupt `fiber` to disconnect it. */
const watch = (live: LiveView.LiveView) =>
  Effect.gen(function*() {
    const seen: Array<Message> = []
    const fiber = yield* live.messages.pipe(
      Stream.runForEach((m) => Effect.sync(() => void seen.push(m))),
      Effect.forkChild
    )
    yield* drain
    return { seen, fiber }
  })

const framesOf = (seen: ReadonlyArray<Message>) => seen.filter((m): m is FrameMessage => m._tag === "Frame")
const tagsOf = (seen: ReadonlyArray<Message>) => seen.map((m) => m._tag)
const hello = (seen: ReadonlyArray<Message>): HelloMessage => {
  const first = seen[0]
  assert.strictEqual(first?._tag, "Hello")
  return first as HelloMessage
}
const local = (view: LiveView.View) => view.frames[0]!
const op = (frame: LiveView.Frame, name: string) => {
  const found = frame.operations.find((o) => o.name === name)
  assert.isDefined(found, `operation ${name} in the frame`)
  return found!
}

const succeed = (operation: string, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Effect.void.pipe(protect({ operation })), { discard: true })
const failNetwork = (operation: string, n: number, breaker?: string) =>
  Effect.forEach(
    Array.from({ length: n }),
    () =>
      Effect.fail(new NetworkError({ target: "bank" })).pipe(
        protect(breaker === undefined ? { operation } : { operation, breaker }),
        Effect.ignore
      ),
    { discard: true }
  )

const zeroPerSecond = { succeeded: 0, succeeded_after_retry: 0, failed: 0, failed_after_retry: 0, rejected: 0 }

describe("LiveView frames", () => {
  it.effect("rates, error rates, breakers and error totals match the traffic exactly", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      // at t = 0, after the client connected (its Hello is the first sample of the window)
      yield* succeed("a", 10)
      yield* Effect.forEach(Array.from({ length: 3 }), () => Effect.void.pipe(protect({ operation: "b", breaker: "x" })))
      yield* failNetwork("b", 5, "x") // the fifth consecutive failure opens "x" for 5 s
      yield* drain
      yield* TestClock.adjust(500)
      yield* drain

      const [first] = framesOf(client.seen)
      assert.isDefined(first)
      const frame = local(first!.view)
      assert.strictEqual(frame.at, 500)
      assert.strictEqual(frame.replica, "local")
      assert.strictEqual(frame.windowMillis, 10_000)
      assert.strictEqual(frame.truncated, 0)
      // 10 calls in the 0.5 s since the first sample: 20 per second
      const a = op(frame, "a")
      assert.strictEqual(a.rate, 20)
      assert.deepStrictEqual(a.perSecond, { ...zeroPerSecond, succeeded: 20 })
      assert.strictEqual(a.errorRate, 0)
      assert.strictEqual(a.latency?.count, 10)
      // 3 successes and 5 failures in 0.5 s: 16 per second, 10 of them failures
      const b = op(frame, "b")
      assert.strictEqual(b.rate, 16)
      assert.deepStrictEqual(b.perSecond, { ...zeroPerSecond, succeeded: 6, failed: 10 })
      assert.strictEqual(b.errorRate, 0.625)
      // busiest first
      assert.deepStrictEqual(frame.operations.map((o) => o.name), ["a", "b"])
      // the breaker opened at t = 0 for 5 s (the configured ones are there from the start, sorted by name)
      assert.deepStrictEqual(frame.breakers.map((x) => [x.name, x.status, x.remainingMillis, x.openings]), [
        ["flaky", "closed", undefined, 0],
        ["x", "open", 4500, 1]
      ])
      const x = frame.breakers[1]!
      assert.deepStrictEqual(x.calls, { success: 3, failure: 5, ignored: 0, rejected: 0, slow: 0 })
      assert.isUndefined(x.shared)
      assert.strictEqual(frame.errors.total, 5)
      assert.deepStrictEqual(frame.errors.bySeverity, { low: 0, medium: 5, high: 0, critical: 0 })
      assert.strictEqual(frame.errors.recent.length, 5)
      assert.isTrue(frame.errors.recent.every((e) => e.tag === "NetworkError" && e.operation === "b" && e.gaveUp))
      assert.isUndefined(first!.view.fleet)

      // one more interval: the same calls over 1 s; the breaker's time left runs down
      yield* TestClock.adjust(500)
      yield* drain
      const second = local(framesOf(client.seen)[1]!.view)
      assert.strictEqual(second.at, 1000)
      assert.strictEqual(op(second, "a").rate, 10)
      assert.strictEqual(op(second, "b").rate, 8)
      assert.strictEqual(op(second, "b").errorRate, 0.625)
      assert.strictEqual(second.breakers[1]!.remainingMillis, 4000)

      // at 10 s the window still starts at the first sample (0): 10 calls over 10 s
      yield* TestClock.adjust(9000)
      yield* drain
      const at10 = local(framesOf(client.seen).at(-1)!.view)
      assert.strictEqual(at10.at, 10_000)
      assert.strictEqual(op(at10, "a").rate, 1)
      assert.strictEqual(op(at10, "b").perSecond.failed, 0.5)
      // the open duration ran out at 5 s: still open until a call probes it, with no time left
      assert.deepStrictEqual([at10.breakers[1]!.status, at10.breakers[1]!.remainingMillis], ["open", 0])
      // half a second later the calls at t = 0 are out of the window
      yield* TestClock.adjust(500)
      yield* drain
      const at105 = local(framesOf(client.seen).at(-1)!.view)
      assert.strictEqual(at105.at, 10_500)
      assert.strictEqual(op(at105, "a").rate, 0)
      assert.deepStrictEqual(op(at105, "b").perSecond, zeroPerSecond)
      assert.strictEqual(op(at105, "b").errorRate, 0)
      // the totals stay
      assert.strictEqual(at105.errors.total, 5)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live())))

  it.effect("maxOperations keeps the busiest operations and counts the others in truncated", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      yield* succeed("quiet", 1)
      yield* succeed("busy", 4)
      yield* succeed("middle", 2)
      yield* TestClock.adjust(500)
      yield* drain
      const frame = local(framesOf(client.seen)[0]!.view)
      assert.deepStrictEqual(frame.operations.map((o) => [o.name, o.rate]), [["busy", 8], ["middle", 4]])
      assert.strictEqual(frame.truncated, 1)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live({ maxOperations: 2 }))))

  it.effect("bulkheads and rate limiters: their levels and refusals per second; refused calls count as rejected", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      const gate = yield* Deferred.make<void>()
      const held = yield* Effect.forkChild(Deferred.await(gate).pipe(protect({ operation: "q", bulkhead: "pool" })))
      yield* drain
      // the one place is taken: 3 calls refused
      for (let i = 0; i < 3; i++) {
        yield* Effect.void.pipe(protect({ operation: "q", bulkhead: "pool" }), Effect.ignore)
      }
      // 2 granted in the minute, then 2 refused
      for (let i = 0; i < 4; i++) {
        yield* Effect.void.pipe(protect({ operation: "r", rateLimit: "api" }), Effect.ignore)
      }
      yield* TestClock.adjust(500)
      yield* drain
      const frame = local(framesOf(client.seen)[0]!.view)
      assert.deepStrictEqual(frame.bulkheads.map((b) => [b.name, b.limit, b.inFlight, b.queued, b.admitted, b.rejected]), [
        ["pool", 1, 1, 0, 1, 3]
      ])
      assert.strictEqual(frame.bulkheads[0]!.rejectedPerSecond, 6)
      assert.deepStrictEqual(frame.limiters.map((l) => [l.name, l.limit, l.windowMillis, l.mode, l.granted, l.rejected]), [
        ["api", 2, 60_000, "local", 2, 2]
      ])
      assert.strictEqual(frame.limiters[0]!.rejectedPerSecond, 4)
      // the held call has not ended: only the refusals count for q
      assert.deepStrictEqual(op(frame, "q").perSecond, { ...zeroPerSecond, rejected: 6 })
      assert.strictEqual(op(frame, "q").errorRate, 1)
      assert.deepStrictEqual(op(frame, "r").perSecond, { ...zeroPerSecond, succeeded: 4, rejected: 4 })
      assert.strictEqual(op(frame, "r").errorRate, 0.5)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(held)
      yield* TestClock.adjust(500)
      yield* drain
      const next = local(framesOf(client.seen)[1]!.view)
      assert.strictEqual(next.bulkheads[0]!.inFlight, 0)
      assert.strictEqual(op(next, "q").perSecond.succeeded, 1)
      assert.strictEqual(next.bulkheads[0]!.rejectedPerSecond, 3)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(ErrorLayer.layer({
      logFormat: false,
      bulkheads: { bulkheads: { pool: { limit: 1 } } },
      rateLimiters: { limiters: { api: { limit: 2, window: "1 minute" } } }
    }))))

  it.effect("the view accessor gives this replica's frame alone, without a fleet sum", () =>
    Effect.gen(function*() {
      yield* succeed("a", 3)
      const view = yield* LiveView.view
      assert.strictEqual(view.replica, "local")
      assert.strictEqual(view.frames.length, 1)
      assert.isUndefined(view.fleet)
      assert.deepStrictEqual(view.frames[0]!.operations.map((o) => o.name), ["a"])
      assert.strictEqual((yield* LiveView.LiveView).replica, "local")
    }).pipe(Effect.provide(Live())))

  it.effect("chaos: an operation's injections in the window, by kind, and their rate; an operation chaos interrupts at every call too", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      // "pay": attempts 2, 4, 6, 8, 10 fail (rule 1), attempt 5 is late (rule 2, which counts every attempt)
      for (let i = 0; i < 10; i++) yield* Effect.void.pipe(protect({ operation: "pay" }), Effect.ignore)
      // "cut": every call interrupted, so no call is counted (an interruption is no outcome)
      for (let i = 0; i < 3; i++) yield* Effect.exit(Effect.void.pipe(protect({ operation: "cut" })))
      yield* succeed("calm", 2)
      yield* drain
      yield* TestClock.adjust(500)
      yield* drain
      const frame = local(framesOf(client.seen)[0]!.view)
      const pay = op(frame, "pay")
      assert.deepStrictEqual(pay.perSecond, { ...zeroPerSecond, succeeded: 10, failed: 10 })
      assert.deepStrictEqual(pay.chaos, { rate: 12, injected: { fail: 5, die: 0, latency: 1, interrupt: 0 } })
      assert.deepStrictEqual(op(frame, "cut"), {
        name: "cut",
        rate: 0,
        perSecond: zeroPerSecond,
        errorRate: 0,
        chaos: { rate: 6, injected: { fail: 0, die: 0, latency: 0, interrupt: 3 } }
      })
      assert.isUndefined(op(frame, "calm").chaos)
      // the frame's Schema takes it (a fleet decodes the other replicas' frames)
      assert.deepStrictEqual(Schema.decodeUnknownSync(LiveView.Frame)(frame), frame)
      // the snapshot keeps them since the start
      const chaos = (yield* ResilienceMetrics.snapshot).chaos
      assert.deepStrictEqual(chaos.map((c) => [c.operation, c.fail, c.latency, c.interrupt]), [["cut", 0, 0, 3], ["pay", 5, 1, 0]])

      // once the injections are out of the window, the rehearsal is over for the view
      yield* TestClock.adjust(10_000)
      yield* drain
      const later = local(framesOf(client.seen).at(-1)!.view)
      assert.isUndefined(op(later, "pay").chaos)
      assert.isUndefined(later.operations.find((o) => o.name === "cut"))
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Layer.merge(
      Live(),
      Chaos.layer({
        rules: [
          { operations: ["pay"], fault: Chaos.fail(new NetworkError({ target: "bank" })), everyNth: 2 },
          { operations: ["pay"], fault: Chaos.latency(0), everyNth: 5 },
          { operations: ["cut"], fault: Chaos.interrupt }
        ]
      })
    ))))

  // after the view stops watching and starts again, the earlier watch's samples must not stretch the window: the
  // first frames' rates would be averaged from a sample taken long before it (here 59.5 s ago)
  it.effect("after a pause, calls older than the window are not in the rates", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const first = yield* watch(live)
      yield* TestClock.adjust(1000)
      yield* Fiber.interrupt(first.fiber)
      yield* drain
      assert.strictEqual((yield* live.stats).clients, 0)
      // 100 calls at t = 2 s, then nobody watches for a minute
      yield* TestClock.adjust(1000)
      yield* succeed("a", 100)
      yield* TestClock.adjust(58_000)
      const second = yield* watch(live)
      yield* TestClock.adjust(500)
      yield* drain
      const frame = local(framesOf(second.seen)[0]!.view)
      assert.strictEqual(frame.at, 60_500)
      // no call in the last 10 s
      assert.strictEqual(op(frame, "a").rate, 0)
    }).pipe(Effect.provide(Live())))
})

describe("LiveView delivery", () => {
  it.effect("Hello first, then a frame every interval, only while a client is connected", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      yield* succeed("a", 10)
      // nobody watches for 5 s: no frame is made, so no history is kept
      yield* TestClock.adjust(5000)
      const c1 = yield* watch(live)
      const h1 = hello(c1.seen)
      assert.strictEqual(h1.v, 1)
      assert.strictEqual(h1.replica, "local")
      assert.strictEqual(h1.intervalMillis, 500)
      assert.strictEqual(h1.windowMillis, 10_000)
      assert.strictEqual(h1.historyStepMillis, 1000)
      assert.deepStrictEqual(h1.history, [])
      assert.strictEqual(h1.view.at, 5000)
      assert.deepStrictEqual(h1.view.frames.map((f) => f.replica), ["local"])
      // the first sample of the window: no rate yet
      assert.strictEqual(op(local(h1.view), "a").rate, 0)

      yield* TestClock.adjust(499)
      yield* drain
      assert.deepStrictEqual(tagsOf(c1.seen), ["Hello"])
      yield* TestClock.adjust(1)
      yield* drain
      assert.deepStrictEqual(tagsOf(c1.seen), ["Hello", "Frame"])
      yield* TestClock.adjust(1000) // 6500
      yield* succeed("a", 5)
      yield* TestClock.adjust(1500) // 8000
      yield* drain
      assert.deepStrictEqual(framesOf(c1.seen).map((f) => f.view.at), [5500, 6000, 6500, 7000, 7500, 8000])
      assert.isTrue(c1.seen.slice(1).every((m) => m._tag === "Frame"))

      // the history is one point per second since the first client connected: 0, then the 5 calls, then 0
      const c2 = yield* watch(live)
      assert.deepStrictEqual(hello(c2.seen).history, [{ name: "a", rates: [0, 5, 0] }])
      yield* TestClock.adjust(500)
      yield* drain
      // both get the same frame
      assert.deepStrictEqual(framesOf(c2.seen).map((f) => f.view.at), [8500])
      assert.deepStrictEqual(framesOf(c1.seen).at(-1), framesOf(c2.seen)[0])
      assert.deepStrictEqual((yield* live.stats).clients, 2)

      yield* Fiber.interrupt(c1.fiber)
      yield* Fiber.interrupt(c2.fiber)
      yield* drain
      assert.deepStrictEqual(yield* live.stats, { clients: 0, maxClients: 32, dropped: 0 })
      const before = [c1.seen.length, c2.seen.length]
      // nobody watches again: no frames; the history starts again with the next client
      yield* succeed("a", 7)
      yield* TestClock.adjust(10_000)
      yield* drain
      assert.deepStrictEqual([c1.seen.length, c2.seen.length], before)
      const c3 = yield* watch(live)
      assert.deepStrictEqual(hello(c3.seen).history, [])
      assert.strictEqual(hello(c3.seen).view.at, 18_500)
      yield* TestClock.adjust(1000)
      yield* drain
      assert.deepStrictEqual(framesOf(c3.seen).map((f) => f.view.at), [19_000, 19_500])
      yield* Fiber.interrupt(c3.fiber)
    }).pipe(Effect.provide(Live())))

  it.effect("breaker transitions arrive in order, as they happen, before the next frame", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      const flaky = yield* BreakerRegistry.breaker("flaky")
      const through = <A, E>(effect: Effect.Effect<A, E>) => Effect.exit(flaky.execute(effect))
      yield* TestClock.adjust(100)
      yield* through(Effect.fail("down"))
      yield* through(Effect.fail("down")) // trips: open for 1 s
      yield* drain
      assert.deepStrictEqual(tagsOf(client.seen), ["Hello", "Transition"])
      yield* TestClock.adjust(400) // frame at 500
      yield* drain
      const open = local(framesOf(client.seen)[0]!.view).breakers.find((b) => b.name === "flaky")!
      assert.strictEqual(open.status, "open")
      assert.strictEqual(open.remainingMillis, 600)
      assert.strictEqual(open.openings, 1)

      yield* TestClock.adjust(700) // 1200: the open duration ran out at 1100
      yield* drain
      const state = yield* flaky.state
      if (state.status === "open") {
        // half-open is taken on the next call: the probe
        yield* through(Effect.void)
      } else {
        assert.strictEqual(state.status, "half_open")
        yield* through(Effect.void)
      }
      yield* drain
      assert.strictEqual((yield* flaky.state).status, "closed")
      const transitions = client.seen.filter((m) => m._tag === "Transition")
      assert.deepStrictEqual(
        transitions.map((t) => [t.replica, t.transition.breaker, t.transition.from, t.transition.to]),
        [
          ["local", "flaky", "closed", "open"],
          ["local", "flaky", "open", "half_open"],
          ["local", "flaky", "half_open", "closed"]
        ]
      )
      // each transition came as it happened: the open one between the Hello and the frame at 500, the others
      // after the frame at 1000 and before the next (at 1500)
      assert.deepStrictEqual(tagsOf(client.seen), [
        "Hello",
        "Transition",
        "Frame",
        "Frame",
        "Transition",
        "Transition"
      ])
      yield* TestClock.adjust(300)
      yield* drain
      assert.strictEqual(client.seen.at(-1)?._tag, "Frame")
      const closed = local(framesOf(client.seen).at(-1)!.view).breakers.find((b) => b.name === "flaky")!
      assert.strictEqual(closed.status, "closed")
      assert.isUndefined(closed.remainingMillis)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live())))

  it.effect("alerts: failures that gave up (not business ones) and critical errors; at most 10 per interval", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      const alerts = () => client.seen.filter((m) => m._tag === "Alert")
      // a business error ends its run, but is an answer, not an incident
      yield* Effect.fail(new ValidationError({ issues: [] })).pipe(protect({ operation: "v" }), Effect.ignore)
      // a storage error retried twice: only the third, which gives up, is an alert
      const storage = yield* Effect.fail(new StorageError({ operation: "db", detail: "reset" })).pipe(
        protect({ operation: "s" }),
        Effect.ignore,
        Effect.forkChild
      )
      yield* TestClock.adjust(50)
      yield* Fiber.join(storage)
      yield* drain
      assert.deepStrictEqual(
        alerts().map((m) => [m.error.tag, m.error.operation, m.error.gaveUp, m.error.at]),
        [["StorageError", "s", true, 20]]
      )
      // a critical error is an alert at every attempt, the one that will be retried too
      const melt = yield* Effect.fail(new Meltdown({ core: "3" })).pipe(
        protect({ operation: "m" }),
        Effect.ignore,
        Effect.forkChild
      )
      yield* TestClock.adjust(50)
      yield* Fiber.join(melt)
      yield* drain
      const first = alerts()
      assert.deepStrictEqual(first.map((m) => [m.error.tag, m.error.gaveUp]), [
        ["StorageError", true],
        ["Meltdown", undefined],
        ["Meltdown", true]
      ])
      const alert = first[1]!
      assert.strictEqual(alert.replica, "local")
      assert.deepStrictEqual(alert.error, {
        at: 50,
        tag: "Meltdown",
        code: "test.E0111",
        severity: "critical",
        message: "The reactor is melting.",
        operation: "m"
      })
      // none of them waited for a frame
      assert.deepStrictEqual(tagsOf(client.seen), ["Hello", "Alert", "Alert", "Alert"])

      // the frame at 500 starts a new interval: of 15 failures, 10 alerts
      yield* TestClock.adjust(400)
      yield* drain
      yield* failNetwork("n", 15)
      yield* drain
      assert.strictEqual(alerts().length, 3 + 10)
      assert.isTrue(alerts().slice(3).every((m) => m.error.tag === "NetworkError" && m.error.gaveUp === true))
      // the others are in the totals, and in the recent events
      yield* TestClock.adjust(500)
      yield* drain
      const frame = local(framesOf(client.seen).at(-1)!.view)
      assert.strictEqual(frame.at, 1000)
      // 1 validation, 3 storage, 2 meltdown, 15 network
      assert.strictEqual(frame.errors.total, 21)
      assert.deepStrictEqual(frame.errors.bySeverity, { low: 1, medium: 15, high: 3, critical: 2 })
      assert.strictEqual(frame.errors.recent.length, 20)
      assert.strictEqual(frame.errors.recent[0]!.tag, "NetworkError")
      // newest first
      assert.isTrue(frame.errors.recent.every((e, i, all) => i === 0 || all[i - 1]!.at >= e.at))
      // and the next interval has 10 again: 3 more failures, 3 more alerts
      yield* failNetwork("n", 3)
      yield* drain
      assert.strictEqual(alerts().length, 16)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live())))

  it.effect("errors made while nobody watched are in the first Hello's recent events, and are no alerts", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      yield* TestClock.adjust(100)
      yield* failNetwork("early", 2)
      yield* TestClock.adjust(100)
      const client = yield* watch(live)
      const frame = local(hello(client.seen).view)
      assert.deepStrictEqual(frame.errors.recent.map((e) => [e.at, e.tag, e.operation, e.gaveUp]), [
        [100, "NetworkError", "early", true],
        [100, "NetworkError", "early", true]
      ])
      assert.strictEqual(frame.errors.total, 2)
      yield* TestClock.adjust(500)
      yield* drain
      assert.deepStrictEqual(tagsOf(client.seen), ["Hello", "Frame"])
      assert.strictEqual(local(framesOf(client.seen)[0]!.view).errors.recent.length, 2)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live())))

  it.effect("a slow client is told exactly how many messages it lost; a fast client on the same view loses none", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const fast = yield* watch(live)
      // the slow client reads its Hello, then stops reading until the gate opens
      const gate = yield* Deferred.make<void>()
      const slow: Array<Message> = []
      const slowFiber = yield* live.messages.pipe(
        Stream.runForEach((m) =>
          Effect.andThen(Effect.sync(() => void slow.push(m)), m._tag === "Hello" ? Deferred.await(gate) : Effect.void)
        ),
        Effect.forkChild
      )
      yield* drain
      assert.deepStrictEqual(tagsOf(slow), ["Hello"])
      // 10 frames; the slow client's buffer holds 4
      yield* TestClock.adjust(5000)
      yield* drain
      assert.deepStrictEqual(yield* live.stats, { clients: 2, maxClients: 32, dropped: 6 })
      assert.deepStrictEqual(
        framesOf(fast.seen).map((f) => f.view.at),
        [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000]
      )
      assert.isFalse(fast.seen.some((m) => m._tag === "Dropped"))
      assert.deepStrictEqual(tagsOf(slow), ["Hello"])

      yield* Deferred.succeed(gate, undefined)
      yield* drain
      assert.deepStrictEqual(slow[1], { _tag: "Dropped", count: 6 })
      assert.strictEqual(framesOf(slow).at(-1)!.view.at, 5000)
      // caught up: no more Dropped
      yield* TestClock.adjust(1000)
      yield* drain
      assert.strictEqual(slow.filter((m) => m._tag === "Dropped").length, 1)
      assert.deepStrictEqual(framesOf(slow).slice(-2).map((f) => f.view.at), [5500, 6000])
      assert.deepStrictEqual(framesOf(fast.seen).slice(-2).map((f) => f.view.at), [5500, 6000])
      assert.isFalse(fast.seen.some((m) => m._tag === "Dropped"))
      assert.strictEqual((yield* live.stats).dropped, 6)
      yield* Fiber.interrupt(slowFiber)
      yield* Fiber.interrupt(fast.fiber)
    }).pipe(Effect.provide(Live({ buffer: 4 }))))

  // a client's buffer holds its `buffer` newest messages: told it lost 6, it then gets the 4 newest only (an
  // unbounded queue that only counted drops would hand it all 10, and grow without bound for a client that never reads)
  it.effect("a slow client keeps only its `buffer` newest messages", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const gate = yield* Deferred.make<void>()
      const slow: Array<Message> = []
      yield* live.messages.pipe(
        Stream.runForEach((m) =>
          Effect.andThen(Effect.sync(() => void slow.push(m)), m._tag === "Hello" ? Deferred.await(gate) : Effect.void)
        ),
        Effect.forkChild
      )
      yield* drain
      yield* TestClock.adjust(5000)
      yield* drain
      yield* Deferred.succeed(gate, undefined)
      yield* drain
      assert.deepStrictEqual(tagsOf(slow), ["Hello", "Dropped", "Frame", "Frame", "Frame", "Frame"])
      assert.deepStrictEqual(framesOf(slow).map((f) => f.view.at), [3500, 4000, 4500, 5000])
    }).pipe(Effect.provide(Live({ buffer: 4 }))))

  it.effect("one client more than maxClients is refused with LiveViewError; one may connect once another left", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const c1 = yield* watch(live)
      const c2 = yield* watch(live)
      assert.deepStrictEqual(yield* live.stats, { clients: 2, maxClients: 2, dropped: 0 })
      const refused = yield* Effect.flip(Stream.runHead(live.messages))
      assert.instanceOf(refused, LiveView.LiveViewError)
      assert.strictEqual(refused._tag, "LiveViewError")
      assert.strictEqual(refused.reason, "clients")
      assert.strictEqual(refused.limit, 2)
      assert.strictEqual(refused.code, "resilience.E0011")
      assert.strictEqual(refused.kind, "recoverable")
      assert.strictEqual((yield* live.stats).clients, 2)

      yield* Fiber.interrupt(c1.fiber)
      yield* drain
      assert.strictEqual((yield* live.stats).clients, 1)
      const c3 = yield* watch(live)
      assert.deepStrictEqual(tagsOf(c3.seen), ["Hello"])
      assert.strictEqual((yield* live.stats).clients, 2)
      const again = yield* Effect.flip(Stream.runHead(live.messages))
      assert.strictEqual(again.reason, "clients")
      // the clients still connected still get their frames; the one that left gets nothing more
      const c1Count = c1.seen.length
      yield* TestClock.adjust(500)
      yield* drain
      assert.strictEqual(framesOf(c2.seen).length, 1)
      assert.strictEqual(framesOf(c3.seen).length, 1)
      assert.strictEqual(c1.seen.length, c1Count)
      // a client that takes what it needs and ends leaves too
      yield* Fiber.interrupt(c3.fiber)
      yield* drain
      const head = yield* Stream.runHead(live.messages)
      assert.strictEqual(head._tag === "Some" ? head.value._tag : undefined, "Hello")
      assert.strictEqual((yield* live.stats).clients, 1)
      yield* Fiber.interrupt(c2.fiber)
      yield* drain
      assert.strictEqual((yield* live.stats).clients, 0)
    }).pipe(Effect.provide(Live({ maxClients: 2 }))))

  it.effect("closing the layer ends every client's stream", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Live(), scope)
      const live = Context.get(context, LiveView.LiveView)
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Stream.runCollect(live.messages)))
      yield* drain
      assert.strictEqual((yield* live.stats).clients, 3)
      yield* TestClock.adjust(1000)
      yield* drain
      yield* Scope.close(scope, Exit.void)
      yield* drain
      for (const fiber of fibers) {
        const exit = fiber.pollUnsafe()
        assert.isDefined(exit, "the client's stream ended")
        assert.isTrue(exit !== undefined && Exit.isSuccess(exit))
        const messages = exit !== undefined && Exit.isSuccess(exit) ? exit.value : []
        assert.deepStrictEqual(tagsOf(messages), ["Hello", "Frame", "Frame"])
      }
      assert.strictEqual((yield* live.stats).clients, 0)
      // a client after the close gets an empty stream at once, and nothing more is made
      const after = yield* Effect.forkChild(Stream.runCollect(live.messages))
      yield* drain
      const exit = after.pollUnsafe()
      assert.isTrue(exit !== undefined && Exit.isSuccess(exit) && exit.value.length === 0)
      yield* TestClock.adjust(2000)
      assert.strictEqual((yield* live.stats).clients, 0)
    }))
})

describe("LiveView options", () => {
  const issuesOf = (error: ConfigError.ConfigError) => error.issues.map((i) => [i.path.join("."), i.message] as const)
  const pathsOf = (error: ConfigError.ConfigError) => error.issues.map((i) => i.path.join(".")).sort()

  it.effect("invalid options give a ConfigError naming each field; valid ones pass", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(LiveView.validate({ intervall: 500 } as LiveView.Options))
      assert.instanceOf(unknown, ConfigError.ConfigError)
      const [[path, message]] = issuesOf(unknown) as [[string, string]]
      assert.strictEqual(path, "intervall")
      assert.include(message, "interval")

      const many = yield* Effect.flip(LiveView.validate({
        interval: -1,
        window: "soon",
        maxClients: 0,
        buffer: 2.5,
        maxOperations: 0,
        fleet: "yes",
        stale: "0 millis"
      } as unknown as LiveView.Options))
      assert.deepStrictEqual(pathsOf(many), [
        "buffer",
        "fleet",
        "interval",
        "maxClients",
        "maxOperations",
        "stale",
        "window"
      ])
      for (
        const bad of [
          { interval: 0 },
          { interval: Number.POSITIVE_INFINITY },
          { interval: "Infinity" },
          { window: -5 },
          { maxClients: -1 },
          { maxClients: 1.5 },
          { buffer: 0 },
          { stale: "-1 seconds" }
        ]
      ) {
        const error = yield* Effect.flip(LiveView.validate(bad as LiveView.Options))
        assert.deepStrictEqual(pathsOf(error), Object.keys(bad), JSON.stringify(bad))
      }

      yield* LiveView.validate()
      yield* LiveView.validate({})
      yield* LiveView.validate({
        interval: "250 millis",
        window: 5000,
        maxClients: 1,
        buffer: 1,
        maxOperations: 1,
        fleet: false,
        stale: "1 second"
      })
    }))

  it.effect("ErrorLayer fails with the live section's issues under [\"live\", ...]", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        ErrorLayer.layer({ logFormat: false, live: { maxClients: 0, interval: "soon", buffr: 1 } as LiveView.Options })
      )))
      assert.strictEqual(error._tag, "ConfigError")
      const config = error as ConfigError.ConfigError
      assert.deepStrictEqual(
        config.issues.map((i) => i.path.join(".")).sort(),
        ["live.buffr", "live.interval", "live.maxClients"]
      )
    }))

  it.effect("valid options are applied: the interval, the window, the client limit", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const client = yield* watch(live)
      const h = hello(client.seen)
      assert.strictEqual(h.intervalMillis, 250)
      assert.strictEqual(h.windowMillis, 2000)
      assert.strictEqual(local(h.view).windowMillis, 2000)
      assert.strictEqual((yield* live.stats).maxClients, 3)
      yield* succeed("a", 4)
      yield* TestClock.adjust(1000)
      yield* drain
      assert.deepStrictEqual(framesOf(client.seen).map((f) => f.view.at), [250, 500, 750, 1000])
      assert.strictEqual(op(local(framesOf(client.seen).at(-1)!.view), "a").rate, 4)
      // at 2 s the window starts at 0; at 2.25 s the calls at 0 are out of it
      yield* TestClock.adjust(1000)
      yield* drain
      assert.strictEqual(op(local(framesOf(client.seen).at(-1)!.view), "a").rate, 2)
      yield* TestClock.adjust(250)
      yield* drain
      assert.strictEqual(op(local(framesOf(client.seen).at(-1)!.view), "a").rate, 0)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live({ interval: "250 millis", window: "2 seconds", maxClients: 3 }))))
})

// ---------------------------------------------------------------------------------------------------------------
// sum

const frameOf = (replica: string, patch: Partial<LiveView.Frame>): LiveView.Frame => ({
  replica,
  at: 1000,
  windowMillis: 10_000,
  truncated: 0,
  operations: [],
  breakers: [],
  bulkheads: [],
  limiters: [],
  budgets: [],
  errors: { total: 0, bySeverity: { low: 0, medium: 0, high: 0, critical: 0 }, recent: [] },
  ...patch
})

const calls = { success: 1, failure: 2, ignored: 3, rejected: 4, slow: 5 }

describe("LiveView.sum", () => {
  it("adds the replicas' figures, recomputes error rates, takes the slowest latency and the worst breaker", () => {
    const a = frameOf("a", {
      at: 1000,
      truncated: 2,
      operations: [
        {
          name: "pay",
          rate: 10,
          perSecond: { succeeded: 6, succeeded_after_retry: 1, failed: 2, failed_after_retry: 1, rejected: 0 },
          errorRate: 0.3,
          latency: { count: 100, p50: 10, p90: 50, p99: 90, max: 200 },
          hedges: { started: 4, won: 1, lost: 3, suppressed: 0 }
        },
        { name: "only-a", rate: 1, perSecond: { ...zeroPerSecond, failed: 1 }, errorRate: 1 }
      ],
      breakers: [
        { name: "db", status: "closed", openings: 1, calls, shared: "shared" },
        { name: "mail", status: "half_open", remainingMillis: 100, openings: 2, calls }
      ],
      bulkheads: [{
        name: "pool",
        limit: 10,
        inFlight: 3,
        queued: 1,
        queue: 5,
        admitted: 100,
        rejected: 4,
        rejectedPerSecond: 0.5
      }],
      limiters: [
        {
          name: "api",
          algorithm: "token_bucket",
          limit: 100,
          windowMillis: 1000,
          mode: "local",
          granted: 10,
          rejected: 1,
          rejectedPerSecond: 0.1
        },
        {
          name: "global",
          algorithm: "fixed_window",
          limit: 50,
          windowMillis: 1000,
          mode: "shared",
          granted: 5,
          rejected: 2,
          rejectedPerSecond: 0.2
        }
      ],
      budgets: [{ name: "default", kind: "ratio", available: 3, granted: 7, refused: 1, refusedPerSecond: 0.25 }],
      errors: {
        total: 5,
        bySeverity: { low: 1, medium: 2, high: 1, critical: 1 },
        recent: [
          { at: 900, tag: "NetworkError", code: "resilience.E0005", severity: "medium", message: "m" },
          { at: 100, tag: "StorageError", code: "resilience.E0004", severity: "high", message: "m" }
        ]
      }
    })
    const b = frameOf("b", {
      at: 1200,
      truncated: 1,
      operations: [{
        name: "pay",
        rate: 30,
        perSecond: { succeeded: 20, succeeded_after_retry: 0, failed: 0, failed_after_retry: 0, rejected: 10 },
        errorRate: 1 / 3,
        latency: { count: 50, p50: 20, p90: 40, p99: 95, max: 150 },
        suppressed: { budget: 2, pushback: 1 }
      }],
      breakers: [
        { name: "db", status: "open", remainingMillis: 3000, openings: 3, calls, shared: "degraded" },
        { name: "mail", status: "closed", openings: 0, calls }
      ],
      bulkheads: [{
        name: "pool",
        limit: 10,
        inFlight: 1,
        queued: 0,
        queue: 5,
        admitted: 50,
        rejected: 1,
        rejectedPerSecond: 0.25
      }],
      limiters: [
        {
          name: "api",
          algorithm: "token_bucket",
          limit: 100,
          windowMillis: 1000,
          mode: "local",
          granted: 20,
          rejected: 3,
          rejectedPerSecond: 0.3
        },
        {
          name: "global",
          algorithm: "fixed_window",
          limit: 50,
          windowMillis: 1000,
          mode: "degraded",
          granted: 1,
          rejected: 0,
          rejectedPerSecond: 0
        }
      ],
      budgets: [{ name: "default", kind: "ratio", available: 2, granted: 1, refused: 3, refusedPerSecond: 0.5 }],
      errors: {
        total: 2,
        bySeverity: { low: 0, medium: 1, high: 0, critical: 1 },
        recent: [{ at: 500, tag: "Meltdown", code: "test.E0111", severity: "critical", message: "m", replica: "z" }]
      }
    })
    const fleet = LiveView.sum([a, b])
    assert.strictEqual(fleet.replica, "fleet")
    assert.strictEqual(fleet.at, 1200)
    assert.strictEqual(fleet.windowMillis, 10_000)
    assert.strictEqual(fleet.truncated, 2)
    assert.deepStrictEqual(fleet.operations, [
      {
        name: "pay",
        rate: 40,
        perSecond: { succeeded: 26, succeeded_after_retry: 1, failed: 2, failed_after_retry: 1, rejected: 10 },
        // (2 + 1 + 10) / 40, not an average of 0.3 and 1/3
        errorRate: 13 / 40,
        latency: { count: 150, p50: 20, p90: 50, p99: 95, max: 200 },
        hedges: { started: 4, won: 1, lost: 3, suppressed: 0 },
        suppressed: { budget: 2, pushback: 1 }
      },
      { name: "only-a", rate: 1, perSecond: { ...zeroPerSecond, failed: 1 }, errorRate: 1 }
    ])
    const doubled = { success: 2, failure: 4, ignored: 6, rejected: 8, slow: 10 }
    assert.deepStrictEqual(fleet.breakers, [
      { name: "db", status: "open", remainingMillis: 3000, openings: 3, calls: doubled, shared: "degraded" },
      { name: "mail", status: "half_open", remainingMillis: 100, openings: 2, calls: doubled }
    ])
    assert.deepStrictEqual(fleet.bulkheads, [{
      name: "pool",
      limit: 20,
      inFlight: 4,
      queued: 1,
      queue: 10,
      admitted: 150,
      rejected: 5,
      rejectedPerSecond: 0.75
    }])
    assert.deepStrictEqual(fleet.limiters, [
      {
        name: "api",
        algorithm: "token_bucket",
        limit: 200, // two local limiters: two limits
        windowMillis: 1000,
        mode: "local",
        granted: 30,
        rejected: 4,
        rejectedPerSecond: 0.4
      },
      {
        name: "global",
        algorithm: "fixed_window",
        limit: 50, // one limit for the fleet
        windowMillis: 1000,
        mode: "degraded",
        granted: 6,
        rejected: 2,
        rejectedPerSecond: 0.2
      }
    ])
    assert.deepStrictEqual(fleet.budgets, [
      { name: "default", kind: "ratio", available: 5, granted: 8, refused: 4, refusedPerSecond: 0.75 }
    ])
    assert.strictEqual(fleet.errors.total, 7)
    assert.deepStrictEqual(fleet.errors.bySeverity, { low: 1, medium: 3, high: 1, critical: 2 })
    assert.deepStrictEqual(fleet.errors.recent.map((e) => [e.at, e.tag, e.replica]), [
      [900, "NetworkError", "a"],
      [500, "Meltdown", "z"],
      [100, "StorageError", "a"]
    ])
    // the inputs are left alone
    assert.strictEqual(a.operations[0]!.rate, 10)
    assert.isUndefined(a.errors.recent[0]!.replica)
  })

  it("chaos: the replicas' injections and rates added, per kind; a replica without any leaves the other's as it is", () => {
    const calm = { ...zeroPerSecond, succeeded: 1 }
    const opOf = (name: string, chaos?: LiveView.OperationFrame["chaos"]): LiveView.OperationFrame => ({
      name,
      rate: 1,
      perSecond: calm,
      errorRate: 0,
      ...(chaos !== undefined ? { chaos } : {})
    })
    const fleet = LiveView.sum([
      frameOf("a", {
        operations: [
          opOf("pay", { rate: 1, injected: { fail: 8, die: 0, latency: 2, interrupt: 0 } }),
          opOf("read", { rate: 0.5, injected: { fail: 0, die: 0, latency: 5, interrupt: 0 } })
        ]
      }),
      frameOf("b", {
        operations: [opOf("pay", { rate: 0.25, injected: { fail: 1, die: 1, latency: 0, interrupt: 0.5 } }), opOf("read")]
      })
    ])
    assert.deepStrictEqual(fleet.operations.map((o) => [o.name, o.chaos]), [
      ["pay", { rate: 1.25, injected: { fail: 9, die: 1, latency: 2, interrupt: 0.5 } }],
      ["read", { rate: 0.5, injected: { fail: 0, die: 0, latency: 5, interrupt: 0 } }]
    ])
  })

  it("three replicas: rates add up, the busiest operation first, at most 20 recent errors, newest first", () => {
    const opOf = (name: string, succeeded: number, failed: number): LiveView.OperationFrame => ({
      name,
      rate: succeeded + failed,
      perSecond: { ...zeroPerSecond, succeeded, failed },
      errorRate: succeeded + failed === 0 ? 0 : failed / (succeeded + failed)
    })
    const recent = (replica: number) =>
      Array.from({ length: 10 }, (_, i) => ({
        at: 1000 - (i * 3 + replica),
        tag: "NetworkError",
        code: "resilience.E0005",
        severity: "medium" as const,
        message: "m"
      }))
    const errors = (replica: number) => ({
      total: 10,
      bySeverity: { low: 0, medium: 10, high: 0, critical: 0 },
      recent: recent(replica)
    })
    const frames = [
      frameOf("r1", { operations: [opOf("x", 1, 1), opOf("y", 5, 0)], errors: errors(0) }),
      frameOf("r2", { operations: [opOf("x", 2, 2)], errors: errors(1) }),
      frameOf("r3", { operations: [opOf("x", 3, 0), opOf("z", 0, 0)], errors: errors(2) })
    ]
    const fleet = LiveView.sum(frames)
    assert.deepStrictEqual(fleet.operations.map((o) => [o.name, o.rate, o.errorRate]), [
      ["x", 9, 3 / 9],
      ["y", 5, 0],
      ["z", 0, 0]
    ])
    assert.strictEqual(fleet.errors.total, 30)
    assert.strictEqual(fleet.errors.recent.length, 20)
    assert.deepStrictEqual(
      fleet.errors.recent.map((e) => e.at),
      Array.from({ length: 20 }, (_, i) => 1000 - i)
    )
    assert.deepStrictEqual(
      fleet.errors.recent.slice(0, 3).map((e) => e.replica),
      ["r1", "r2", "r3"]
    )
    // the fleet's sum of one frame is that frame, as replica "fleet"
    const one = LiveView.sum([frames[1]!])
    assert.deepStrictEqual(
      { ...one, replica: "r2", errors: { ...one.errors, recent: frames[1]!.errors.recent } },
      frames[1]
    )
    const none = LiveView.sum([])
    assert.deepStrictEqual([none.replica, none.at, none.windowMillis, none.operations.length], ["fleet", 0, 0, 0])
  })
})

// ---------------------------------------------------------------------------------------------------------------
// many clients coming and going

describe("LiveView clients at random", () => {
  const maxClients = 8
  for (const seed of [1, 7, 42]) {
    it.effect(`50 clients subscribe and are interrupted at random points (seed ${seed})`, () =>
      Effect.gen(function*() {
        const live = yield* LiveView.LiveView
        const random = prng(seed)
        const int = (n: number) => Math.floor(random() * n)
        const steps = 60 // of 100 ms
        const plans = Array.from({ length: 50 }, () => {
          const start = int(steps - 5)
          return { start, end: start + 1 + int(20) }
        })
        interface Running {
          readonly seen: Array<Message>
          readonly fiber: Fiber.Fiber<void, LiveView.LiveViewError>
          readonly start: number
        }
        const running = new Map<number, Running>()
        const finished: Array<Running> = []
        let refused = 0
        let accepted = 0
        for (let step = 0; step <= steps + 25; step++) {
          // ends first (some in the middle of an interval, some right at a frame)
          for (const [i, r] of running) {
            if (plans[i]!.end === step) {
              yield* Fiber.interrupt(r.fiber)
              running.delete(i)
              finished.push(r)
            }
          }
          for (let i = 0; i < plans.length; i++) {
            if (plans[i]!.start !== step) continue
            const connected = (yield* live.stats).clients
            const seen: Array<Message> = []
            const fiber = yield* live.messages.pipe(
              Stream.runForEach((m) => Effect.sync(() => void seen.push(m))),
              Effect.forkChild
            )
            yield* Effect.yieldNow
            yield* Effect.yieldNow
            const exit = fiber.pollUnsafe()
            if (connected >= maxClients) {
              // refused at once, with the limit
              assert.isDefined(exit, `client ${i} refused at once`)
              assert.isTrue(exit !== undefined && Exit.isFailure(exit))
              refused++
            } else {
              assert.isUndefined(exit, `client ${i} connected`)
              assert.strictEqual(seen[0]?._tag, "Hello")
              running.set(i, { seen, fiber, start: step })
              accepted++
            }
          }
          assert.strictEqual((yield* live.stats).clients, running.size, `clients at step ${step}`)
          // traffic, some of it failing
          yield* succeed("a", 1 + int(3))
          if (random() < 0.3) yield* failNetwork("b", 1)
          yield* TestClock.adjust(100)
          yield* Effect.yieldNow
        }
        yield* drain
        assert.strictEqual(running.size, 0)
        assert.strictEqual((yield* live.stats).clients, 0)
        assert.strictEqual(accepted + refused, 50)
        assert.isAbove(accepted, 0)
        // every client: Hello first, then frames in order, one interval apart (the view keeps its own cadence
        // while anyone watches), never a Dropped (they all read at once)
        for (const r of finished) {
          assert.strictEqual(r.seen[0]!._tag, "Hello")
          const ats = framesOf(r.seen).map((f) => f.view.at)
          for (let k = 1; k < ats.length; k++) assert.strictEqual(ats[k]! - ats[k - 1]!, 500)
          assert.isFalse(r.seen.some((m) => m._tag === "Dropped"))
          assert.isTrue(r.seen.every((m) => m._tag === "Hello" || m._tag === "Frame" || m._tag === "Alert"))
        }
        assert.strictEqual((yield* live.stats).dropped, 0)
        // and a new client still works
        const last = yield* watch(live)
        assert.strictEqual(hello(last.seen).view.frames[0]!.replica, "local")
        yield* succeed("a", 5)
        yield* TestClock.adjust(500)
        yield* drain
        const frames = framesOf(last.seen)
        assert.deepStrictEqual(frames.map((f) => f.view.at), [hello(last.seen).view.at + 500])
        assert.isAbove(op(local(frames[0]!.view), "a").perSecond.succeeded, 0)
        assert.strictEqual((yield* live.stats).clients, 1)
        yield* Fiber.interrupt(last.fiber)
        yield* drain
        assert.strictEqual((yield* live.stats).clients, 0)
      }).pipe(Effect.provide(Live({ maxClients }))))
  }
})

describe("reading the view without watching it", () => {
  it.effect("LiveView.view leaves the rates alone and shows the latest errors even when nobody watches", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      // errors with no client connected: the view reads them from the tracker
      yield* failNetwork("b", 2)
      yield* drain
      const before = local(yield* live.view)
      assert.deepStrictEqual(before.errors.recent.map((e) => [e.tag, e.operation]), [["NetworkError", "b"], ["NetworkError", "b"]])
      // a client, traffic, and many reads of the view between two frames: the frames' rates are the traffic's
      const client = yield* watch(live)
      yield* TestClock.adjust(500)
      yield* succeed("a", 10)
      for (let i = 0; i < 50; i++) {
        yield* live.view
        yield* TestClock.adjust(1)
      }
      yield* TestClock.adjust(450)
      const frames = framesOf(client.seen)
      // 10 calls since the first sample, taken at the Hello 1 s before: 10/s
      assert.strictEqual(op(local(frames.at(-1)!.view), "a").rate, 10)
      yield* Fiber.interrupt(client.fiber)
    }).pipe(Effect.provide(Live())))

  it.effect("with an interval over two seconds, the sparklines still keep their history", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const first = yield* watch(live)
      for (let i = 0; i < 4; i++) {
        yield* succeed("a", 3)
        yield* TestClock.adjust(3000)
      }
      yield* Fiber.interrupt(first.fiber)
      const second = yield* watch(live)
      const history = hello(second.seen).history
      assert.strictEqual(history.length, 1)
      assert.deepStrictEqual(history[0]!.rates, [1, 1, 1, 1])
      yield* Fiber.interrupt(second.fiber)
    }).pipe(Effect.provide(Live({ interval: "3 seconds", stale: "10 seconds" }))))
})

describe("a client that never reads", () => {
  it.effect("is ended once four buffers' worth were dropped, and its place is freed", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const scope = yield* Scope.make()
      const pull = yield* Stream.toPull(live.messages).pipe(Scope.provide(scope))
      assert.deepStrictEqual((yield* pull).map((m) => m._tag), ["Hello"])
      assert.strictEqual((yield* live.stats).clients, 1)
      // buffer 2: 8 messages dropped (frames at 100 ms) and it is gone; the 7 before the last did not end it
      yield* TestClock.adjust(900)
      assert.strictEqual((yield* live.stats).clients, 1)
      yield* TestClock.adjust(100)
      assert.strictEqual((yield* live.stats).clients, 0)
      // what it holds is still read, then its stream ends
      const tags: Array<string> = []
      yield* Effect.forever(Effect.map(pull, (batch) => tags.push(...batch.map((m) => m._tag)))).pipe(
        Effect.catchCause(() => Effect.void)
      )
      assert.deepStrictEqual(tags, ["Dropped", "Frame", "Frame"])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(Live({ interval: "100 millis", buffer: 2, stale: "1 second" }))))
})

describe("durations against each other", () => {
  it.effect("an interval under 50 ms, a window under the interval, a stale under two intervals are refused, each named", () =>
    Effect.gen(function*() {
      const paths = (options: LiveView.Options) =>
        Effect.map(Effect.flip(LiveView.validate(options)), (error) => error.issues.map((i) => i.path.join(".")))
      assert.deepStrictEqual(yield* paths({ interval: "10 millis" }), ["interval"])
      assert.deepStrictEqual(yield* paths({ interval: "2 seconds", window: "1 second", stale: "3 seconds" }), [
        "window",
        "stale"
      ])
      yield* LiveView.validate({ interval: "50 millis", window: "50 millis", stale: "100 millis" })
    }))
})
