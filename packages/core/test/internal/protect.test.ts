import { assert, describe, it } from "@effect/vitest"
import { Context, type Duration, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorLogger, Policy } from "../../src/index.js"
import type { Event, Observer } from "../../src/internal/observation.js"
import type { RetryDecision } from "../../src/internal/policyRun.js"
import * as Breaker from "../../src/internal/protect/breaker.js"
import * as Fallback from "../../src/internal/protect/fallback.js"
import * as Pipeline from "../../src/internal/protect/pipeline.js"
import * as Retry from "../../src/internal/protect/retry.js"
import { makeSite, Run } from "../../src/internal/protect/run.js"
import type * as Stage from "../../src/internal/protect/stage.js"
import * as Timeout from "../../src/internal/protect/timeout.js"
import * as Chaos from "../../src/internal/protect/chaos.js"

const { NetworkError, StorageError, TimeoutError } = CommonErrors

// a pipeline whose attempt is `attempt`, and which fails with the error it gives up on
const callOf = (attempt: Effect.Effect<unknown, unknown>): Stage.Pipeline => ({
  admit: (run) => run,
  attempt: () => attempt,
  recover: (error, at, run) => run.pipeline.giveUp(error, at, 1, run),
  giveUp: (error, at, attempts, run) => {
    run.failed(error, at, attempts, "none", true)
    return Effect.fail(error)
  }
})

const collector = () => {
  const events: Array<Event> = []
  const observer: Observer = { active: true, emit: (event) => events.push(event) }
  return { events, observer }
}

const retryWith = (timeout: Duration.Input): RetryDecision => ({
  tag: "StorageError",
  attempt: 1,
  total: 1,
  policy: Policy.make({ schedule: Schedule.recurs(1), timeout })
})

describe("the pipeline of protect", () => {
  it("lists its stages once, innermost first: fallback(rateLimit(bulkhead(retry(hedge(breaker(timeout(chaos(call))))))))", () => {
    assert.deepStrictEqual(Pipeline.stages.map((stage) => stage.name), [
      "chaos",
      "timeout",
      "breaker",
      "hedge",
      "retry",
      "bulkhead",
      "rateLimit",
      "fallback"
    ])
  })

  it("a stage the options do not ask for is not there at all; the retry and chaos stages always are", () => {
    const options = { operation: "x" }
    assert.isUndefined(Timeout.stage.make(options))
    assert.isUndefined(Breaker.stage.make(options))
    assert.isUndefined(Fallback.stage.make(options))
    assert.isDefined(Retry.stage.make(options))
    // chaos is there to read the context, and wraps nothing without a Chaos service (the pipeline is the same)
    const chaos = Chaos.stage.make(options)!
    const inner = callOf(Effect.void)
    assert.strictEqual(chaos.wrap(inner, chaos.read!(Context.empty())), inner)
    assert.isDefined(Timeout.stage.make({ operation: "x", timeout: "1 second" }))
    assert.isDefined(Breaker.stage.make({ operation: "x", breaker: true }))
    assert.isDefined(Fallback.stage.make({ operation: "x", recover: {} }))
  })
})

describe("the timeout stage, alone", () => {
  const timed = Timeout.stage.make({ operation: "items.load", timeout: "1 second" })!.wrap(callOf(Effect.never), undefined)
  const failAt = (effect: Effect.Effect<unknown, unknown, unknown>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.exit(effect as Effect.Effect<unknown, unknown>))
      yield* TestClock.adjust("1 minute")
      return yield* Fiber.join(fiber)
    })

  it.effect("bounds the first attempt by the timeout, a retry by its policy's own", () =>
    Effect.gen(function*() {
      const first = yield* failAt(timed.attempt(undefined))
      assert.deepStrictEqual(first, Exit.fail(new TimeoutError({ operation: "items.load", timeoutMillis: 1000 })))
      const retried = yield* failAt(timed.attempt(retryWith("50 millis")))
      assert.deepStrictEqual(retried, Exit.fail(new TimeoutError({ operation: "items.load", timeoutMillis: 50 })))
    }))

  it("leaves the other slots as they were", () => {
    const inner = callOf(Effect.void)
    const wrapped = Timeout.stage.make({ operation: "x", timeout: 10 })!.wrap(inner, undefined)
    assert.strictEqual(wrapped.recover, inner.recover)
    assert.strictEqual(wrapped.giveUp, inner.giveUp)
  })
})

describe("the fallback stage, alone", () => {
  const site = makeSite("profile.load", ErrorLogger.make("test"))
  const inner = callOf(Effect.void)
  const pipeline = Fallback.stage.make({
    operation: "profile.load",
    recover: { NetworkError: () => Effect.succeed("cached") }
  })!.wrap(inner, undefined)

  it.effect("answers a give-up of its tag, emitted as pending and resolved when the fallback succeeds", () =>
    Effect.gen(function*() {
      const { events, observer } = collector()
      const error = new NetworkError({ target: "bank" })
      const value = yield* Effect.withFiber((fiber) =>
        pipeline.giveUp(error, 5, 3, new Run(site, pipeline, observer, fiber)) as Effect.Effect<unknown, unknown>
      )
      assert.strictEqual(value, "cached")
      assert.deepStrictEqual(events.map((e) => e._tag === "Failure" ? [e._tag, e.recovery, e.gaveUp, e.attempt] : [e._tag]), [
        ["Failure", "pending", true, 3],
        ["Resolved"]
      ])
      const [failure, resolved] = events
      assert.isTrue(resolved?._tag === "Resolved" && resolved.failure === failure && resolved.outcome === "succeeded")
    }))

  it.effect("hands any other give-up to the pipeline inside it", () =>
    Effect.gen(function*() {
      const { events, observer } = collector()
      const error = new StorageError({ operation: "x" })
      const exit = yield* Effect.exit(Effect.withFiber((fiber) =>
        pipeline.giveUp(error, 5, 1, new Run(site, pipeline, observer, fiber)) as Effect.Effect<unknown, unknown>
      ))
      assert.deepStrictEqual(exit, Exit.fail(error))
      assert.deepStrictEqual(events.map((e) => e._tag === "Failure" ? [e.recovery, e.gaveUp] : []), [["none", true]])
    }))
})
