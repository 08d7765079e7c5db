import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { CommonErrors, ErrorFamily, Policy, PolicyService } from "../src/index.js"
import { CurrentObserver, type Event } from "../src/internal/observation.js"
import { captureLogs, type Line, repeat, scripted } from "./utils.js"

const { NetworkError, StorageError, ValidationError } = CommonErrors

class Declined extends ErrorFamily.TaggedError<Declined>()("Declined", { reason: Schema.String }, {
  code: "test.E0001",
  kind: "business"
}) {}
class Corrupted extends ErrorFamily.TaggedError<Corrupted>()("Corrupted", {}, {
  code: "test.E0002",
  kind: "unrecoverable",
  severity: "critical"
}) {}
class Weird extends Data.TaggedError("Weird")<{}> {}

const storage = () => new StorageError({ operation: "items.insert" })
const network = () => new NetworkError({ target: "bank" })

const Policies = PolicyService.layer({
  default: { maxAttempts: 2, baseDelay: "10 millis" },
  policies: [
    Policy.forFamily(StorageError, { maxAttempts: 5, baseDelay: "100 millis" }),
    Policy.forFamily(NetworkError, { maxAttempts: 3, baseDelay: "1 second", factor: 1 }),
    Policy.forFamily(Declined, { maxAttempts: 2, baseDelay: "5 millis", logLevel: "Info" })
  ]
})

const retried = <E>(effect: Effect.Effect<number, E>) =>
  effect.pipe(Effect.retry(PolicyService.retry), Effect.result, Effect.forkChild)

describe("PolicyService.retry", () => {
  it.effect("a storage call failing fewer times than its policy allows ends in success", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(3, storage))
      const fiber = yield* retried(op.effect)
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag === "Success" ? result.success : -1, 4)
      assert.deepStrictEqual(op.times, [0, 100, 300, 700])
    }).pipe(Effect.provide(Policies)))

  it.effect("a storage call failing more often ends in the typed error after exactly max attempts", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(20, storage))
      const fiber = yield* retried(op.effect)
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(result._tag === "Failure" && result.failure instanceof StorageError)
      assert.deepStrictEqual(op.times, [0, 100, 300, 700, 1500]) // 5 attempts, delays 100, 200, 400, 800
    }).pipe(Effect.provide(Policies)))

  it.effect("a validation error is never retried", () =>
    Effect.gen(function*() {
      const op = scripted([new ValidationError({ issues: [{ path: ["name"], message: "empty" }] }), storage()])
      const fiber = yield* retried(op.effect)
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(result._tag === "Failure" && result.failure._tag === "ValidationError")
      assert.strictEqual(op.calls(), 1)
    }).pipe(Effect.provide(Policies)))

  it.effect("unknown error types get the default policy", () =>
    Effect.gen(function*() {
      const tagged = scripted<unknown>(repeat(5, () => new Weird()))
      const plain = scripted<unknown>(repeat(5, () => "boom"))
      const a = yield* retried(tagged.effect)
      const b = yield* retried(plain.effect)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.deepStrictEqual(tagged.times, [0, 10]) // default: 2 attempts, 10 ms
      assert.deepStrictEqual(plain.times, [0, 10])
    }).pipe(Effect.provide(Policies)))

  it.effect("two error types failing alternately keep separate attempt counts and backoff", () =>
    Effect.gen(function*() {
      const op = scripted<CommonErrors.StorageError | CommonErrors.NetworkError>(
        repeat(20, (i) => (i % 2 === 0 ? storage() : network()))
      )
      const fiber = yield* retried(op.effect)
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      // S(retry in 100) N(1000) S(200) N(1000) S(400) N: third network failure, its policy allows 3 attempts
      assert.deepStrictEqual(op.times, [0, 100, 1100, 1300, 2300, 2700])
      assert.isTrue(result._tag === "Failure" && result.failure._tag === "NetworkError")
    }).pipe(Effect.provide(Policies)))

  it.effect("business errors are retried only when a policy says so; unrecoverable ones are not", () =>
    Effect.gen(function*() {
      const declined = scripted(repeat(5, () => new Declined({ reason: "limit" })))
      const notFound = scripted(repeat(5, () => new CommonErrors.NotFoundError({ resource: "item" })))
      const corrupted = scripted(repeat(5, () => new Corrupted()))
      const a = yield* retried(declined.effect)
      const b = yield* retried(notFound.effect)
      const c = yield* retried(corrupted.effect)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      yield* Fiber.join(c)
      assert.deepStrictEqual([declined.calls(), notFound.calls(), corrupted.calls()], [2, 1, 1])
    }).pipe(Effect.provide(Policies)))

  it.effect("interruption during a backoff stops the retries", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(20, storage))
      const fiber = yield* retried(op.effect)
      yield* TestClock.adjust("150 millis") // attempts at 0 and 100; the next is due at 300
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(op.times, [0, 100])
    }).pipe(Effect.provide(Policies)))

  it.effect("each retried failure is logged at its policy's level with tag, code, severity and attempt", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const op = scripted<CommonErrors.StorageError | Declined>([storage(), new Declined({ reason: "x" })])
      const fiber = yield* retried(op.effect)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(lines.map((l) => [l.level, l.annotations.errorTag, l.annotations.attempt]), [
        ["WARN", "StorageError", 1],
        ["INFO", "Declined", 2]
      ])
      assert.strictEqual(lines[1]!.annotations.tagAttempt, 1)
      assert.include(lines[0]!.annotations, {
        errorCode: "resilience.E0004",
        severity: "high",
        kind: "recoverable",
        retryInMillis: 100
      })
    }).pipe(Effect.provide(Policies), Effect.provide(captureLogs(lines)))
  })
})

describe("what PolicyService.retry emits through the seam", () => {
  it.effect("each retried failure as unobserved, the one it gives up on as gaveUp, read once per run", () =>
    Effect.gen(function*() {
      const events: Array<Event> = []
      const op = scripted(repeat(20, storage))
      const fiber = yield* retried(op.effect).pipe(
        Effect.provideService(CurrentObserver, { active: true, emit: (event) => events.push(event) })
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        events.map((e) => e._tag === "Failure" ? [e.source, e.attempt, e.recovery, e.gaveUp] : [e._tag]),
        [
          ["retry", 1, "unobserved", false],
          ["retry", 2, "unobserved", false],
          ["retry", 3, "unobserved", false],
          ["retry", 4, "unobserved", false],
          ["retry", 5, "none", true]
        ]
      )
      assert.deepStrictEqual(events.map((e) => e._tag === "Failure" ? e.timestamp : -1), [0, 100, 300, 700, 1500])
    }).pipe(Effect.provide(Policies)))
})

describe("PolicyService.layer", () => {
  it.effect("an invalid config fails the layer build, naming every bad field of every policy from the options", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PolicyService.layer({
        default: { maxAttempts: 0 },
        policies: {
          StorageError: { maxAttempts: 5, baseDelay: "soon", jitter: 2 },
          NetworkError: { maxAttemps: 3 } as never
        }
      })))
      assert.strictEqual(error._tag, "ConfigError")
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), [
        "default.maxAttempts",
        "policies.StorageError.baseDelay",
        "policies.StorageError.jitter",
        "policies.NetworkError.maxAttemps"
      ])
      assert.include(error.message, "policies.StorageError.jitter: Expected a value between 0 and 1")
      assert.include(error.message, "policies.StorageError.baseDelay: Expected a finite duration")
    }))

  it.effect("issues are rooted at the options: a list entry by its index, an unknown key by its name", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(PolicyService.make({
        polices: {},
        default: { baseDelay: -1 },
        policies: [
          Policy.forFamily(StorageError, { maxAttempts: 2 }),
          Policy.forFamily(NetworkError, { factor: 0.5 }),
          Policy.forTag("Weird", { maxAttempts: 2 })
        ]
      } as PolicyService.Options))
      assert.deepStrictEqual(error.issues.map((i) => i.path), [
        ["polices"],
        ["policies", 2],
        ["default", "baseDelay"],
        ["policies", 1, "factor"]
      ])
      assert.strictEqual(error.issues[0]!.message, "Unknown key \"polices\", did you mean \"policies\"?")
      assert.include(error.issues[1]!.message, "No declared error family has the tag \"Weird\"")
    }))

  it.effect("policies given by tag apply to tagged errors that are not declared families, when said so", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(9, () => new Weird()))
      const fiber = yield* retried(op.effect).pipe(
        Effect.provide(PolicyService.layer({
          policies: [Policy.forTag<Weird>("Weird", { maxAttempts: 4, baseDelay: 50, factor: 1 }, { undeclared: true })]
        }))
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(op.times, [0, 50, 100, 150])
    }))

  it.effect("policyFor: own policy, then no retry for business and unrecoverable, then the default", () =>
    Effect.gen(function*() {
      const service = yield* PolicyService.PolicyService
      assert.strictEqual(service.policyFor(storage()), service.policies.get("StorageError"))
      assert.strictEqual(service.policyFor(new CommonErrors.NotFoundError({ resource: "x" })).logLevel, "Debug")
      assert.strictEqual(service.policyFor(new Corrupted()).logLevel, "Error")
      assert.strictEqual(service.policyFor(new CommonErrors.TimeoutError({ operation: "x", timeoutMillis: 1 })), service.defaultPolicy)
      assert.strictEqual(service.policyFor(new Error("plain")), service.defaultPolicy)
    }).pipe(Effect.provide(Policies)))
})
