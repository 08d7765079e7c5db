// Type-level tests: `npm run typecheck` (part of .ci/run) fails if any of these inferences change or an
// `@ts-expect-error` line starts to compile. The runtime part only checks that the file loads.
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Config, type Duration, Effect, type Layer, Schedule, Schema, type Scope, type Stream } from "effect"
import {
  BreakerRegistry,
  BulkheadRegistry,
  CircuitBreaker,
  CommonErrors,
  ConfigError,
  ErrorFamily,
  ErrorLayer,
  ErrorTracker,
  LiveView,
  Policy,
  PolicyService,
  protect,
  RateLimiterRegistry,
  RetryBudgetRegistry,
  ResilienceMetrics,
  retry
} from "../src/index.js"

type StorageError = CommonErrors.StorageError
type NetworkError = CommonErrors.NetworkError
type ValidationError = CommonErrors.ValidationError
type TimeoutError = CommonErrors.TimeoutError
type Policies = PolicyService.PolicyService
type ErrorRegistryService = import("../src/ErrorRegistry.js").ErrorRegistry

const save: Effect.Effect<number, StorageError | ValidationError> = Effect.succeed(1)
const load: Effect.Effect<string, NetworkError | ValidationError, "Db"> = Effect.succeed("")

class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "shop.E0001",
  kind: "business"
}) {}

/** Strict type equality, the usual conditional-type trick: true only for identical types. */
type Equals<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true : false
type Parts<T> = T extends Effect.Effect<infer A, infer E, infer R> ? [A, E, R] : never
/** Compiles only when `T` is an Effect whose success, error and services are exactly `A`, `E` and `R`. */
const effectIs = <A, E, R>() => <T>(_: T & (Equals<Parts<T>, [A, E, R]> extends true ? unknown : "types differ")) => {}

describe("types", () => {
  it("Effect.retry(PolicyService.retry) keeps the error type and adds PolicyService", () => {
    effectIs<number, StorageError | ValidationError, Policies>()(save.pipe(Effect.retry(PolicyService.retry)))
  })

  it("protect keeps exactly the program's error union", () => {
    effectIs<number, StorageError | ValidationError, Policies>()(save.pipe(protect({ operation: "save" })))
    effectIs<string, NetworkError | ValidationError, "Db" | Policies>()(protect(load, { operation: "load" }))
  })

  it("protect adds TimeoutError only where a timeout applies", () => {
    effectIs<number, StorageError | ValidationError | TimeoutError, Policies>()(save.pipe(protect({ operation: "save", timeout: "1 second" })))
    // options whose timeout may or may not be set stay sound: TimeoutError is declared
    const options: { readonly operation: string; readonly timeout?: Duration.Input } = { operation: "save" }
    effectIs<number, StorageError | ValidationError | TimeoutError, Policies>()(save.pipe(protect(options)))
  })

  it("a fallback removes its tag from the error union and adds its own types", () => {
    const recovered = load.pipe(protect({
      operation: "load",
      recover: {
        NetworkError: (e) => {
          expectTypeOf(e).toEqualTypeOf<NetworkError>()
          return Effect.succeed(0 as const)
        }
      }
    }))
    effectIs<string | 0, ValidationError, "Db" | Policies>()(recovered)

    const failing = save.pipe(protect({
      operation: "save",
      recover: { StorageError: () => Effect.fail(new OutOfStock({ sku: "a" })) }
    }))
    effectIs<number, ValidationError | OutOfStock, Policies>()(failing)
  })

  it("a fallback that may be absent does not remove its tag", () => {
    const flag = Math.random() > 2
    const maybe = load.pipe(protect({
      operation: "load",
      recover: flag ? { NetworkError: () => Effect.succeed(0 as const) } : undefined
    }))
    effectIs<string | 0, NetworkError | ValidationError, "Db" | Policies>()(maybe)
    const options: {
      readonly operation: string
      readonly recover?: { readonly NetworkError: () => Effect.Effect<0> }
    } = { operation: "load" }
    effectIs<string | 0, NetworkError | ValidationError, "Db" | Policies>()(load.pipe(protect(options)))
  })

  it("a timeout that may be set declares TimeoutError", () => {
    const flag = Math.random() > 2
    effectIs<string, NetworkError | ValidationError | TimeoutError, "Db" | Policies>()(
      load.pipe(protect({ operation: "load", timeout: flag ? "1 second" : undefined }))
    )
    // a union of option objects that TypeScript does not reduce is checked member by member
    const timed = { operation: "load", timeout: "1 second", module: "a" } as const
    const plain = { operation: "load", recover: {} } as const
    effectIs<string, NetworkError | ValidationError | TimeoutError, "Db" | Policies>()(
      load.pipe(protect(flag ? timed : plain))
    )
  })

  it("a fallback for a tag the program cannot fail with does not compile", () => {
    const typeOnly = () =>
      // @ts-expect-error NetworkError is not in save's error type
      save.pipe(protect({ operation: "save", recover: { NetworkError: () => Effect.succeed(1) } }))
    expectTypeOf(typeOnly).toBeFunction()
  })

  it("a declared family is a tagged, classified error", () => {
    const e = new OutOfStock({ sku: "A" })
    expectTypeOf(e._tag).toEqualTypeOf<"OutOfStock">()
    expectTypeOf(e.sku).toEqualTypeOf<string>()
    expectTypeOf(e.kind).toEqualTypeOf<ErrorFamily.Kind>()
    expectTypeOf(e.code).toEqualTypeOf<ErrorFamily.Code>()
    expectTypeOf(e.publicMessage).toEqualTypeOf<string>()
    expectTypeOf(e.detail).toEqualTypeOf<string | undefined>()
    expectTypeOf(OutOfStock.family.tag).toEqualTypeOf<"OutOfStock">()
    const caught = Effect.fail(e).pipe(Effect.catchTag("OutOfStock", (x) => Effect.succeed(x.sku)))
    effectIs<string, never, never>()(caught)
  })

  it("a declaration without a code, with a bad kind, or a code of the wrong shape does not compile", () => {
    const typeOnly = () => {
      // @ts-expect-error code is required
      ErrorFamily.TaggedError<{}>()("A", {}, { kind: "business" })
      // @ts-expect-error not a kind
      ErrorFamily.TaggedError<{}>()("B", {}, { code: "x.E0001", kind: "transient" })
      // @ts-expect-error a code is service.E + digits
      ErrorFamily.TaggedError<{}>()("C", {}, { code: "x-0001" })
      // @ts-expect-error missing fields at construction
      new OutOfStock({})
    }
    expectTypeOf(typeOnly).toBeFunction()
  })

  it("ErrorLayer provides the tracker and the metrics and names every way its build can fail", () => {
    expectTypeOf(ErrorLayer.layer()).toEqualTypeOf<
      Layer.Layer<
        | ErrorRegistryService
        | Policies
        | ErrorTracker.ErrorTracker
        | ResilienceMetrics.ResilienceMetrics
        | BreakerRegistry.BreakerRegistry
        | BulkheadRegistry.BulkheadRegistry
        | RateLimiterRegistry.RateLimiterRegistry
        | RetryBudgetRegistry.RetryBudgetRegistry
        | LiveView.LiveView,
        ErrorLayer.LayerError
      >
    >()
    // invalid options anywhere, or an invalid LOG_FORMAT
    expectTypeOf<ErrorLayer.LayerError>().toEqualTypeOf<ConfigError.ConfigError | Config.ConfigError>()
    effectIs<PolicyService.PolicyService, ConfigError.ConfigError, never>()(PolicyService.make())
    effectIs<Policy.Policy, ConfigError.ConfigError, never>()(Policy.fromConfig({ maxAttempts: 2 }))
  })

  it("a breaker adds its rejection to the error type, and protect adds the registry only when it names one", () => {
    type Open = CircuitBreaker.BreakerOpenError
    type Breakers = BreakerRegistry.BreakerRegistry
    effectIs<number, StorageError | ValidationError | Open, Breakers>()(save.pipe(BreakerRegistry.withBreaker("db")))
    const typeOnly = (breaker: CircuitBreaker.CircuitBreaker) => {
      effectIs<string, NetworkError | ValidationError | Open, "Db">()(breaker.execute(load))
      effectIs<string, NetworkError | ValidationError | Open, "Db">()(load.pipe(CircuitBreaker.execute(breaker)))
    }
    expectTypeOf(typeOnly).toBeFunction()
    effectIs<number, StorageError | ValidationError | Open, Policies | Breakers>()(
      save.pipe(protect({ operation: "save", breaker: "db" }))
    )
    effectIs<number, StorageError | ValidationError, Policies>()(save.pipe(protect({ operation: "save" })))
    // a fallback for the rejection removes it
    effectIs<number | "cached", StorageError | ValidationError, Policies | Breakers>()(
      save.pipe(protect({
        operation: "save",
        breaker: "db",
        recover: { BreakerOpenError: () => Effect.succeed("cached" as const) }
      }))
    )
    effectIs<number, StorageError | ValidationError | Open, Policies | Breakers>()(
      save.pipe(protect({ operation: "save", breaker: true }))
    )
    // a breaker that may or may not be named still declares the rejection
    const maybe: { readonly operation: string; readonly breaker?: string } = { operation: "save" }
    effectIs<number, StorageError | ValidationError | Open, Policies | Breakers>()(save.pipe(protect(maybe)))
  })

  it("tracker subscriptions live in a scope; summaries and events need only the tracker", () => {
    effectIs<void, ConfigError.ConfigError, ErrorTracker.ErrorTracker | Scope.Scope>()(
      ErrorTracker.subscribe(() => {})
    )
    effectIs<ErrorTracker.Summary, never, ErrorTracker.ErrorTracker>()(ErrorTracker.summary)
    effectIs<ResilienceMetrics.Snapshot, never, ResilienceMetrics.ResilienceMetrics>()(ResilienceMetrics.snapshot)
    expectTypeOf(ErrorTracker.events({ minSeverity: "high" })).toEqualTypeOf<
      Stream.Stream<ErrorTracker.ErrorEvent, never, ErrorTracker.ErrorTracker>
    >()
    // @ts-expect-error: not a severity
    ErrorTracker.events({ minSeverity: "urgent" })
  })

  it("the stages' types compose in the pipeline's order: a fallback sees the timeout and the rejection", () => {
    const timedLoad: Effect.Effect<string, NetworkError | TimeoutError> = Effect.succeed("")
    // the TimeoutError of the timeout stage is inside the fallback, so a fallback for it removes it
    effectIs<string | null, NetworkError, Policies>()(timedLoad.pipe(protect({
      operation: "load",
      timeout: "1 second",
      recover: { TimeoutError: () => Effect.succeed(null) }
    })))
    // all four stages: the breaker's registry and the fallback's own services join
    const stale: Effect.Effect<"stale", never, "Cache"> = Effect.succeed("stale")
    effectIs<number | "stale", StorageError | ValidationError | TimeoutError, Policies | BreakerRegistry.BreakerRegistry | "Cache">()(
      save.pipe(protect({
        operation: "save",
        timeout: "1 second",
        breaker: "db",
        recover: { BreakerOpenError: () => stale }
      }))
    )
  })

  it("a union of options is checked member by member, fallbacks included", () => {
    const flag = Math.random() > 2
    // (two option objects that TypeScript does not reduce to one: neither is a subtype of the other)
    const withFallback = { operation: "load", recover: { NetworkError: () => Effect.succeed(0 as const) } } as const
    const timed = { operation: "load", timeout: "1 second" } as const
    effectIs<string | 0, NetworkError | ValidationError | TimeoutError, "Db" | Policies>()(
      load.pipe(protect(flag ? withFallback : timed))
    )
  })

  it("retry keeps the error type, adds the schedule's errors and services, and refuses a policy too narrow", () => {
    // Effect.retry's types, both forms
    effectIs<number, StorageError | ValidationError, Policies>()(save.pipe(retry(PolicyService.retry)))
    effectIs<number, StorageError | ValidationError, Policies>()(retry(save, PolicyService.retry))
    effectIs<string, NetworkError | ValidationError, "Db">()(load.pipe(retry(Schedule.recurs(2))))
    const anyError = Policy.make({ schedule: Schedule.recurs(2) })
    effectIs<number, StorageError | ValidationError, never>()(save.pipe(retry(anyError)))
    const storageOnly = Policy.make<StorageError>({ schedule: Schedule.recurs(2) })
    // @ts-expect-error: the policy reads StorageErrors only, and save also fails with ValidationError
    save.pipe(retry(storageOnly))
    const storageSchedule = Schedule.recurs(2).pipe(
      Schedule.while(({ input }: { input: StorageError }) => input.operation !== "")
    )
    // @ts-expect-error: the schedule reads StorageErrors only
    save.pipe(retry(storageSchedule))
  })
})
