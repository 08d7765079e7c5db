import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Queue, Redacted, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorFamily, ErrorTracker } from "../src/index.js"
import { CurrentObserver, type Failure } from "../src/internal/observation.js"
import { internalsOf } from "../src/internal/tracker/store.js"
import { captureLogs, type Line, repeat } from "./utils.js"

const { NetworkError, StorageError, ValidationError } = CommonErrors

class Corrupted extends ErrorFamily.TaggedError<Corrupted>()("Corrupted", { table: Schema.String }, {
  code: "test.E0101",
  kind: "unrecoverable",
  severity: "critical"
}) {}

const storage = () => new StorageError({ operation: "items.insert", detail: "pg: password=hunter2" })
const network = () => new NetworkError({ target: "bank" })
const validation = () => new ValidationError({ issues: [] })

const Tracker = ErrorTracker.ErrorTracker

/** A failure as the strategies emit it. */
const failure = (error: unknown, fields: Partial<Omit<Failure, "_tag" | "error">> = {}): Failure => ({
  _tag: "Failure",
  error,
  timestamp: 0,
  ...fields
})

/** Lets other fibers run until `done` holds (at most 10 000 yields, then fails). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    if (!done()) return yield* Effect.die("condition never held")
  })

describe("ErrorTracker", () => {
  it.effect("counts stay exact and history stays bounded when 100 000 errors arrive from 1 000 fibers", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const errors = [storage, network, validation] as const
      let sequence = 0 // numbers the records in the order they are made, across fibers
      yield* Effect.forEach(
        repeat(1000, (fiber) => fiber),
        (fiber) =>
          Effect.forEach(
            repeat(100, (i) => i),
            (i) => Effect.suspend(() => tracker.record(errors[(fiber + i) % 3]!(), { attempt: ++sequence })),
            { discard: true }
          ),
        { concurrency: "unbounded", discard: true }
      )
      const summary = yield* tracker.summary
      assert.strictEqual(summary.total, 100_000)
      const byTag = Object.fromEntries(summary.byTag.map((t) => [t.tag, t.count]))
      // fiber + i runs over 0..1098; each residue mod 3 is hit a known number of times
      const [s, n, v] = [0, 1, 2].map((r) => {
        let count = 0
        for (let f = 0; f < 1000; f++) for (let i = 0; i < 100; i++) if ((f + i) % 3 === r) count++
        return count
      }) as [number, number, number]
      assert.strictEqual(s + n + v, 100_000)
      assert.deepStrictEqual(byTag, { StorageError: s, NetworkError: n, ValidationError: v })
      assert.deepStrictEqual(summary.bySeverity, { low: v, medium: n, high: s, critical: 0 })
      assert.deepStrictEqual(summary.history, { size: 1000, capacity: 1000 })
      // the history holds the last 1000 made, in order, however many the queue shed on the way
      assert.deepStrictEqual((yield* tracker.history).map((e) => e.attempt), repeat(1000, (i) => 99_001 + i))
      assert.isAtMost(summary.dropped, 99_000)
    }).pipe(Effect.provide(ErrorTracker.layer())), 30_000) // about 3 s alone; a loaded 2-core machine took over 5

  it.effect("a full queue sheds its oldest events from history and subscribers only, and says so", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const seen: Array<number> = []
      yield* tracker.subscribe((event) => {
        seen.push(event.attempt!)
      })
      // one synchronous burst through the seam: the fiber cannot run in between, so the 16-slot queue overflows
      const observer = yield* CurrentObserver
      yield* Effect.sync(() => {
        for (let i = 0; i < 1000; i++) observer.emit(failure(network(), { attempt: i }))
      })
      const summary = yield* tracker.summary
      assert.strictEqual(summary.total, 1000)
      assert.strictEqual(summary.byTag[0]?.count, 1000)
      assert.strictEqual(summary.dropped, 1000 - 16)
      // the most recent 16 went through; the history keeps them, the subscriber gets them
      const history = yield* tracker.history
      assert.deepStrictEqual(history.map((e) => e.attempt), repeat(16, (i) => 984 + i))
      assert.deepStrictEqual(summary.history, { size: 16, capacity: 100 })
      yield* settle(() => seen.length === 16)
      assert.deepStrictEqual(seen, repeat(16, (i) => 984 + i))
    }).pipe(Effect.scoped, Effect.provide(ErrorTracker.layer({ queueCapacity: 16, historySize: 100 }))))

  it.effect("the history keeps the most recent events, oldest first", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      for (let i = 1; i <= 25; i++) yield* tracker.record(network(), { attempt: i })
      const history = yield* tracker.history
      assert.deepStrictEqual(history.map((e) => e.attempt), repeat(10, (i) => i + 16))
      assert.strictEqual((yield* tracker.summary).total, 25)
    }).pipe(Effect.provide(ErrorTracker.layer({ historySize: 10 }))))

  it.effect("rates move as virtual time passes and fall back to zero after the window", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const rates = Effect.map(tracker.summary, (s) => s.rates)
      for (let i = 0; i < 30; i++) yield* tracker.record(storage())
      let r = yield* rates
      assert.strictEqual(r.windowSeconds, 300)
      assert.strictEqual(r.perMinute, 6) // 30 over 5 minutes
      assert.strictEqual(r.lastMinute, 30)
      assert.deepStrictEqual(r.bySeverity, { low: 0, medium: 0, high: 6, critical: 0 })
      assert.deepStrictEqual(r.byTag, [{ tag: "StorageError", code: "resilience.E0004", perMinute: 6 }])

      yield* TestClock.adjust("90 seconds")
      for (let i = 0; i < 10; i++) yield* tracker.record(network())
      r = yield* rates
      assert.strictEqual(r.perMinute, 8)
      assert.strictEqual(r.lastMinute, 10) // the first 30 are more than a minute old
      assert.deepStrictEqual(r.bySeverity, { low: 0, medium: 2, high: 6, critical: 0 })

      yield* TestClock.adjust("4 minutes") // t = 5m30s: the first 30 left the window, the next 10 are in it
      r = yield* rates
      assert.strictEqual(r.perMinute, 2)
      assert.strictEqual(r.lastMinute, 0)
      assert.deepStrictEqual(r.byTag, [{ tag: "NetworkError", code: "resilience.E0005", perMinute: 2 }])

      yield* TestClock.adjust("2 minutes")
      r = yield* rates
      assert.strictEqual(r.perMinute, 0)
      assert.deepStrictEqual(r.bySeverity, { low: 0, medium: 0, high: 0, critical: 0 })
      assert.deepStrictEqual(r.byTag, [])
      assert.strictEqual((yield* tracker.summary).total, 40) // totals never fall
    }).pipe(Effect.provide(ErrorTracker.layer())))

  it.effect("events carry the classification, public message and exportable annotations, never internal detail", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      yield* tracker.record(storage(), { operation: "items.save", attempt: 2, recovery: "failed" }).pipe(
        Effect.annotateLogs({ requestId: "r-1", token: Redacted.make("s3cret"), user: { id: 7 } })
      )
      const [event] = yield* tracker.history
      assert.deepStrictEqual(event, {
        timestamp: 0,
        tag: "StorageError",
        code: "resilience.E0004",
        kind: "recoverable",
        severity: "high",
        message: "A storage operation failed. Please try again later.",
        operation: "items.save",
        attempt: 2,
        annotations: { requestId: "r-1", token: "<redacted>", user: "{\"id\":7}" },
        recovery: "failed",
        source: "manual"
      })
      const json = Schema.encodeSync(Schema.fromJsonString(ErrorTracker.ErrorEvent))(event!)
      assert.notInclude(json, "hunter2")
      assert.notInclude(json, "s3cret")
      assert.deepStrictEqual((yield* tracker.summary).recovery, {
        attempted: 1,
        pending: 0,
        succeeded: 0,
        failed: 1,
        unobserved: 0
      })
    }).pipe(Effect.provide(ErrorTracker.layer())))

  it.effect("subscribers get their filtered events; a throwing and a never-returning one stop nothing", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const tracker = yield* Tracker
      const received = yield* Queue.unbounded<string>()
      let thrown = 0
      yield* tracker.subscribe(() => {
        thrown++
        throw new Error("subscriber bug")
      }, { name: "thrower" })
      yield* tracker.subscribe(() => Effect.never, { name: "hanger", timeout: "1 second" })
      yield* tracker.subscribe((event) => Queue.offer(received, event.tag), { name: "pager", minSeverity: "high" })
      const streamed = yield* tracker.events({ tags: ["NetworkError"] }).pipe(
        Stream.take(3),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.yieldNow

      const sent = [storage(), network(), new Corrupted({ table: "t" }), validation(), network(), network()]
      for (const error of sent) yield* tracker.record(error)
      // the pager gets the high and critical ones, in order, although the others throw or hang
      const paged = yield* Effect.forEach(repeat(2, () => 0), () => Queue.take(received))
      assert.deepStrictEqual(paged, ["StorageError", "Corrupted"])
      assert.deepStrictEqual((yield* Fiber.join(streamed)).map((e) => e.tag), repeat(3, () => "NetworkError"))

      // the hanging callback times out per event (1 second each); tracking goes on meanwhile
      for (let i = 0; i < 100; i++) yield* tracker.record(validation())
      yield* settle(() => thrown === 106)
      for (let second = 0; second < 10; second++) yield* TestClock.adjust("1 second")
      const summary = yield* tracker.summary
      assert.strictEqual(summary.total, 106)
      assert.strictEqual(summary.subscribers.active, 3)
      // thrower: all 106; hanger: one per second of virtual time, the rest still waiting in its buffer
      assert.strictEqual(summary.subscribers.failed, 106 + 10)
      assert.isTrue(lines.some((l) => l.level === "ERROR" && l.annotations.subscriber === "thrower"))
      assert.isTrue(lines.some((l) => l.level === "ERROR" && l.annotations.subscriber === "hanger"))
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(ErrorTracker.layer(), captureLogs(lines))))
  })

  it.effect("a slow subscriber drops its own oldest events and counts them", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      yield* tracker.subscribe(() => Effect.sleep("1 hour"), { buffer: 4, timeout: "2 hours" })
      for (let i = 0; i < 20; i++) yield* tracker.record(network())
      yield* Effect.yieldNow
      const summary = yield* tracker.summary
      assert.strictEqual(summary.total, 20)
      // the 20 reach the subscriber together: four fit in its buffer, the 16 oldest are dropped
      assert.strictEqual(summary.subscribers.dropped, 16)
    }).pipe(Effect.scoped, Effect.provide(ErrorTracker.layer())))

  it.effect("closing the layer's scope stops the fiber; recording afterwards neither throws nor blocks", () =>
    Effect.gen(function*() {
      const tracker = yield* Effect.scoped(ErrorTracker.make())
      const exit = yield* Fiber.await(tracker.fiber)
      assert.isTrue(Exit.hasInterrupts(exit))
      internalsOf(tracker)!.observer.emit(failure(network()))
      yield* tracker.record(network())
      assert.strictEqual((yield* tracker.summary).total, 2)
    }))

  it.effect("the summary round-trips through its Schema to JSON and back", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      yield* tracker.record(storage(), { recovery: "succeeded" })
      yield* tracker.record(new Corrupted({ table: "t" }))
      const summary = yield* tracker.summary
      const json = yield* Schema.encodeEffect(ErrorTracker.SummaryJson)(summary)
      assert.deepStrictEqual(yield* Schema.decodeEffect(ErrorTracker.SummaryJson)(json), summary)
      assert.deepStrictEqual(JSON.parse(json).byTag.map((t: { tag: string }) => t.tag), ["Corrupted", "StorageError"])
    }).pipe(Effect.provide(ErrorTracker.layer())))

  it.effect("invalid options fail with every problem named and start nothing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(ErrorTracker.make({
        historySize: 0,
        window: "soon",
        buckets: 1.5,
        // @ts-expect-error: misspelt field
        histroySize: 10
      })))
      assert.strictEqual(error._tag, "ConfigError")
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")).sort(), [
        "buckets",
        "historySize",
        "histroySize",
        "window"
      ])
      assert.include(error.message, "window: Expected a positive duration")
    }))

  it.effect("closing the scope takes in what is still queued, ends streams and subscribers, and loses nothing", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const tracker = yield* ErrorTracker.make().pipe(Scope.provide(scope))
      const streamed = yield* tracker.events().pipe(Stream.runCollect, Effect.forkChild)
      let calls = 0
      yield* tracker.subscribe(() => {
        calls++
      }).pipe(Scope.provide(yield* Scope.make()))
      yield* Effect.yieldNow
      // queued, and the fiber has not run: closing now must not lose them
      const { observer } = internalsOf(tracker)!
      yield* Effect.sync(() => {
        for (let i = 0; i < 10; i++) observer.emit(failure(network(), { attempt: i }))
      })
      yield* Scope.close(scope, Exit.void)
      const summary = yield* tracker.summary
      assert.strictEqual(summary.total, 10)
      assert.strictEqual(summary.dropped, 0)
      assert.strictEqual(summary.history.size, 10)
      assert.strictEqual(summary.subscribers.active, 0)
      // the stream ends with what it was given, the callback got the same
      assert.strictEqual((yield* Fiber.join(streamed)).length, 10)
      yield* settle(() => calls === 10)
    }))

  it.effect("a callback that interrupts itself counts as a failure and its subscriber goes on", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      let calls = 0
      yield* tracker.subscribe(() => {
        calls++
        return Effect.interrupt
      }, { name: "quitter" })
      for (let i = 0; i < 5; i++) yield* tracker.record(network())
      yield* settle(() => calls === 5)
      yield* settle(() => calls === 5) // and no more
      assert.strictEqual((yield* tracker.summary).subscribers.failed, 5)
    }).pipe(Effect.scoped, Effect.provide(ErrorTracker.layer())))

  it.effect("subscribe rejects a buffer or timeout that is not positive", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const error = yield* Effect.flip(tracker.subscribe(() => {}, { buffer: 0, timeout: "never" as "1 second" }))
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["buffer", "timeout"])
      assert.strictEqual((yield* tracker.summary).subscribers.active, 0)
    }).pipe(Effect.scoped, Effect.provide(ErrorTracker.layer())))

  it.effect("lastMinute covers the last minute whatever the window's bucket size", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker // one hour in 30 buckets: two minutes each
      yield* TestClock.adjust("10 minutes")
      yield* tracker.record(network())
      yield* TestClock.adjust("50 seconds")
      yield* tracker.record(network())
      assert.strictEqual((yield* tracker.summary).rates.lastMinute, 2)
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual((yield* tracker.summary).rates.lastMinute, 1)
      yield* TestClock.adjust("50 seconds")
      assert.strictEqual((yield* tracker.summary).rates.lastMinute, 0)
      assert.strictEqual((yield* tracker.summary).rates.perMinute, 2 / 60)
    }).pipe(Effect.provide(ErrorTracker.layer({ window: "1 hour" }))))

  it.effect("a pending failure counts at once; resolving it moves the recovery count and updates the history", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const observer = yield* CurrentObserver
      const early = failure(storage(), { recovery: "pending" })
      const late = failure(storage(), { recovery: "pending" })
      const resolve = (f: Failure, outcome: "succeeded" | "failed") =>
        observer.emit({ _tag: "Resolved", failure: f, outcome })
      observer.emit(early)
      resolve(early, "failed") // before the tracker took it in
      observer.emit(late)
      let summary = yield* tracker.summary
      assert.deepStrictEqual(summary.recovery, { attempted: 2, pending: 1, succeeded: 0, failed: 1, unobserved: 0 })
      assert.deepStrictEqual((yield* tracker.history).map((e) => e.recovery), ["failed", "pending"])
      resolve(late, "succeeded")
      resolve(late, "failed") // a second outcome is ignored
      summary = yield* tracker.summary
      assert.deepStrictEqual(summary.recovery, { attempted: 2, pending: 0, succeeded: 1, failed: 1, unobserved: 0 })
      assert.deepStrictEqual((yield* tracker.history).map((e) => e.recovery), ["failed", "succeeded"])
    }).pipe(Effect.provide(ErrorTracker.layer())))

  it.effect("resolving a failure whose event has left the history changes no newer event", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const observer = yield* CurrentObserver
      const old = failure(storage(), { recovery: "pending", attempt: 1 })
      observer.emit(old)
      yield* tracker.summary // taken in: its event is in the history
      observer.emit(failure(storage(), { attempt: 2 }))
      observer.emit(failure(storage(), { attempt: 3 })) // overwrites the old event's place
      yield* tracker.summary
      observer.emit({ _tag: "Resolved", failure: old, outcome: "succeeded" })
      const summary = yield* tracker.summary
      assert.deepStrictEqual(summary.recovery, { attempted: 1, pending: 0, succeeded: 1, failed: 0, unobserved: 0 })
      assert.deepStrictEqual(
        (yield* tracker.history).map((e) => [e.attempt, e.recovery]),
        [[2, "none"], [3, "none"]]
      )
    }).pipe(Effect.provide(ErrorTracker.layer({ historySize: 2 }))))

  it.effect("the record accessor records through the context's observers, and without them does nothing", () =>
    Effect.gen(function*() {
      // no tracker layer: nothing to record into, and nothing fails
      yield* ErrorTracker.record(network())
      yield* Effect.gen(function*() {
        yield* TestClock.adjust("5 seconds")
        yield* ErrorTracker.record(storage(), { operation: "items.save", attempt: 2, recovery: "none" }).pipe(
          Effect.annotateLogs({ requestId: "r-1" })
        )
        const [event] = yield* ErrorTracker.ErrorTracker.use((tracker) => tracker.history)
        assert.deepStrictEqual(
          [event?.timestamp, event?.tag, event?.operation, event?.attempt, event?.source, event?.annotations],
          [5_000, "StorageError", "items.save", 2, "manual", { requestId: "r-1" }]
        )
        assert.strictEqual((yield* ErrorTracker.summary).total, 1)
      }).pipe(Effect.provide(ErrorTracker.layer()))
      // a tracker service provided by hand, with no observer, is not reached by the accessor
      yield* Effect.gen(function*() {
        const tracker = yield* ErrorTracker.make()
        yield* ErrorTracker.record(network()).pipe(Effect.provideService(ErrorTracker.ErrorTracker, tracker))
        assert.strictEqual((yield* tracker.summary).total, 0)
      }).pipe(Effect.scoped)
    }))

  it.effect("the tracker counts effect's TimeoutError as the common TimeoutError, in one entry", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      yield* tracker.record(new CommonErrors.TimeoutError({ operation: "x", timeoutMillis: 100 }))
      yield* tracker.record(new Cause.TimeoutError())
      const summary = yield* tracker.summary
      assert.deepStrictEqual(summary.byTag.map((t) => [t.tag, t.code, t.kind, t.severity, t.count]), [
        ["TimeoutError", "resilience.E0006", "recoverable", "medium", 2]
      ])
    }).pipe(Effect.provide(ErrorTracker.layer())))

  it.effect("breaker state changes emitted to the seam are in the summary", () =>
    Effect.gen(function*() {
      const observer = yield* CurrentObserver
      observer.emit({
        _tag: "Transition",
        transition: {
          breaker: "db",
          from: "closed",
          to: "forced_open",
          reason: "isolated",
          at: 0,
          generation: 1,
          openings: 0,
          origin: "local"
        }
      })
      const { breakers } = yield* ErrorTracker.summary
      assert.strictEqual(breakers.transitions, 1)
      assert.deepStrictEqual(breakers.recent.map((t) => `${t.breaker}:${t.to}`), ["db:forced_open"])
    }).pipe(Effect.provide(ErrorTracker.layer())))

  it.effect("subscribers select by kind and by a failure ending its run; gaveUp is in the JSON only when true", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const observer = yield* CurrentObserver
      const paged: Array<string> = []
      yield* ErrorTracker.subscribe((event) => {
        paged.push(`${event.tag} #${event.attempt}`)
      }, { name: "pager", kinds: ["unrecoverable"], gaveUp: true })
      const corrupted = () => new Corrupted({ table: "t" })
      observer.emit(failure(corrupted(), { attempt: 1, source: "protect" })) // retried: not paged
      observer.emit(failure(corrupted(), { attempt: 2, source: "protect", gaveUp: true }))
      observer.emit(failure(storage(), { attempt: 3, source: "protect", gaveUp: true })) // recoverable
      yield* tracker.record(corrupted(), { attempt: 4 }) // recorded by hand: never a give-up
      yield* settle(() => paged.length === 1)
      yield* settle(() => paged.length === 1) // and no more
      assert.deepStrictEqual(paged, ["Corrupted #2"])

      const history = yield* tracker.history
      const encode = Schema.encodeSync(Schema.fromJsonString(ErrorTracker.ErrorEvent))
      assert.deepStrictEqual(history.map((e) => e.gaveUp), [undefined, true, true, undefined])
      assert.notInclude(encode(history[0]!), "gaveUp")
      assert.include(encode(history[1]!), "\"gaveUp\":true")
    }).pipe(Effect.scoped, Effect.provide(ErrorTracker.layer())))

  it.effect("subscribe refuses unknown keys and values that are not a kind or a severity", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ErrorTracker.subscribe(() => {}, {
        kinds: ["fatal" as "unrecoverable"],
        minSeverity: "urgent" as "high",
        // @ts-expect-error: misspelt field
        gaveup: true
      }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")).sort(), ["gaveup", "kinds.0", "minSeverity"])
      assert.include(error.message, "Unknown key \"gaveup\", did you mean \"gaveUp\"?")
      assert.strictEqual((yield* ErrorTracker.summary).subscribers.active, 0)
    }).pipe(Effect.scoped, Effect.provide(ErrorTracker.layer())))

  it.effect("an error recorded by a strategy is not counted again by the reporter, even while still queued", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker
      const observer = yield* CurrentObserver
      const error = storage()
      observer.emit(failure(error, { source: "protect" })) // queued: the tracker's fiber has not run
      yield* Effect.fail(error).pipe(Effect.withErrorReporting, Effect.ignore)
      yield* Effect.fail(network()).pipe(Effect.withErrorReporting, Effect.ignore)
      assert.deepStrictEqual((yield* tracker.history).map((e) => `${e.source} ${e.tag}`), [
        "protect StorageError",
        "reporter NetworkError"
      ])
    }).pipe(Effect.provide(ErrorTracker.layer())))
})
