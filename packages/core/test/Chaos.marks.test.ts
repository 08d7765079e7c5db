// Chaos: an injected error says so wherever the error itself is shown (the tracker's history and subscribers, the
// live view's recent errors and alerts, the retry and give-up log lines), and a real failure of the same operation
// does not. On the TestClock: the retries' delays are adjusted, never slept.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Chaos, CommonErrors, ErrorLayer, ErrorTracker, LiveView, Policy, protect } from "../src/index.js"
import { captureLogs, drain, historyOf, type Line } from "./utils.js"

const { StorageError, NetworkError } = CommonErrors

const Base = ErrorLayer.layer({
  logFormat: false,
  policies: [
    Policy.forFamily(StorageError, Policy.noRetry()),
    Policy.forFamily(NetworkError, { maxAttempts: 3, baseDelay: "10 millis", factor: 1 })
  ]
})

const storageDown = Chaos.fail((operation: string) => new StorageError({ operation, detail: "chaos" }))
const networkDown = Chaos.fail(() => new NetworkError({ target: "chaos" }))

// every other attempt of "save" is an injected failure: a call failing for real makes a real failure on its odd
// attempts and gets an injected one on its even attempts
const withChaos = (...layers: ReadonlyArray<Layer.Layer<never>>) =>
  Layer.mergeAll(
    Base,
    Chaos.layer({
      rules: [
        { operations: ["save"], fault: storageDown, everyNth: 2 },
        { operations: ["fetch"], fault: networkDown },
        { operations: ["crash"], fault: Chaos.die() }
      ]
    }),
    ...layers
  )

// a call of `operation` that fails for real with `error` when it runs
const failing = (operation: string, error: unknown) => Effect.exit(Effect.fail(error).pipe(protect({ operation })))

describe("Chaos marks", () => {
  it.effect("an injected failure is marked in the tracker's history and its subscribers' events; a real one is not", () =>
    Effect.gen(function*() {
      const delivered: Array<ErrorTracker.ErrorEvent> = []
      yield* ErrorTracker.subscribe((event) => Effect.sync(() => void delivered.push(event)))
      yield* failing("save", new StorageError({ operation: "save", detail: "real" })) // attempt 1: real
      yield* failing("save", new StorageError({ operation: "save", detail: "real" })) // attempt 2: injected
      yield* failing("save", new StorageError({ operation: "save", detail: "real" })) // attempt 3: real
      const history = yield* historyOf(3)
      assert.deepStrictEqual(history.map((e) => [e.tag, e.operation, e.gaveUp, e.chaos]), [
        ["StorageError", "save", true, undefined],
        ["StorageError", "save", true, true],
        ["StorageError", "save", true, undefined]
      ])
      // absent, not false, on a real one: its JSON is what it was before the field existed
      assert.isFalse("chaos" in history[0]!)
      yield* drain
      assert.deepStrictEqual(delivered.map((e) => e.chaos), [undefined, true, undefined])
      // and through JSON
      const json = yield* Schema.encodeEffect(Schema.fromJsonString(Schema.Array(ErrorTracker.ErrorEvent)))(history)
      assert.deepStrictEqual(
        (yield* Schema.decodeEffect(Schema.fromJsonString(Schema.Array(ErrorTracker.ErrorEvent)))(json)).map((e) => e.chaos),
        [undefined, true, undefined]
      )
    }).pipe(Effect.provide(withChaos())))

  it.effect("an injected defect reaching a reporting boundary is marked; one recorded by hand with chaos: true too", () =>
    Effect.gen(function*() {
      yield* Effect.void.pipe(protect({ operation: "crash" }), Effect.withErrorReporting, Effect.exit)
      yield* Effect.die(new Error("a real crash")).pipe(protect({ operation: "calm" }), Effect.withErrorReporting, Effect.exit)
      yield* ErrorTracker.record(new StorageError({ operation: "drill" }), { operation: "drill", chaos: true })
      const history = yield* historyOf(3)
      assert.deepStrictEqual(history.map((e) => [e.source, e.chaos]), [
        ["reporter", true],
        ["reporter", undefined],
        ["manual", true]
      ])
    }).pipe(Effect.provide(withChaos())))

  it.effect("the retry and give-up lines of an injected failure are annotated chaos; a real failure's are not", () =>
    Effect.gen(function*() {
      const lines: Array<Line> = []
      yield* Effect.gen(function*() {
        // every attempt of "fetch" is injected: 2 retries, then the give-up
        const injected = yield* Effect.forkChild(Effect.exit(Effect.void.pipe(protect({ operation: "fetch" }))))
        // the same error, thrown for real by another operation
        const real = yield* Effect.forkChild(failing("load", new NetworkError({ target: "db" })))
        yield* TestClock.adjust("1 second")
        assert.isTrue(Exit.isFailure(yield* Fiber.join(injected)))
        assert.isTrue(Exit.isFailure(yield* Fiber.join(real)))
      }).pipe(Effect.provide(withChaos(captureLogs(lines))))
      const ofRun = (operation: string) =>
        lines
          .filter((l) => l.annotations.operation === operation && l.annotations.errorTag === "NetworkError")
          .map((l) => [String(l.message).replace(/ in \d+ms$/, ""), l.annotations.chaos])
      assert.deepStrictEqual(ofRun("fetch"), [
        ["fetch failed on attempt 1, retrying", "fail"],
        ["fetch failed on attempt 2, retrying", "fail"],
        ["fetch failed on attempt 3, giving up", "fail"]
      ])
      assert.deepStrictEqual(ofRun("load"), [
        ["load failed on attempt 1, retrying", undefined],
        ["load failed on attempt 2, retrying", undefined],
        ["load failed on attempt 3, giving up", undefined]
      ])
    }))

  it.effect("the live view's recent errors and alerts mark an injected failure; a real one of the same operation is unmarked", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      // a client watching, so that alerts are sent
      const alerts: Array<LiveView.ErrorItem> = []
      const client = yield* live.messages.pipe(
        Stream.runForEach((m) => Effect.sync(() => void (m._tag === "Alert" && alerts.push(m.error)))),
        Effect.forkChild
      )
      yield* drain
      yield* TestClock.adjust(100)
      yield* failing("save", new StorageError({ operation: "save", detail: "real" })) // attempt 1: real
      yield* TestClock.adjust(100)
      yield* failing("save", new StorageError({ operation: "save", detail: "real" })) // attempt 2: injected
      yield* drain
      const marks = (items: ReadonlyArray<LiveView.ErrorItem>) => items.map((e) => [e.at, e.operation, e.chaos])
      assert.deepStrictEqual(marks(alerts), [[100, "save", undefined], [200, "save", true]])
      // the recent errors of the frames, newest first (a newcomer's Hello has them too)
      const hello = yield* live.messages.pipe(Stream.take(1), Stream.runHead)
      assert.strictEqual(hello._tag, "Some")
      const message = hello._tag === "Some" ? hello.value : undefined
      assert.strictEqual(message?._tag, "Hello")
      const frame = message?._tag === "Hello" ? message.view.frames[0] : undefined
      assert.deepStrictEqual(marks(frame?.errors.recent ?? []), [[200, "save", true], [100, "save", undefined]])
      // and the frame's JSON keeps the mark
      const json = yield* Schema.encodeEffect(Schema.fromJsonString(LiveView.Frame))(frame!)
      assert.deepStrictEqual(
        marks((yield* Schema.decodeEffect(Schema.fromJsonString(LiveView.Frame))(json)).errors.recent),
        [[200, "save", true], [100, "save", undefined]]
      )
      yield* Fiber.interrupt(client)
    }).pipe(Effect.provide(withChaos())))
})
