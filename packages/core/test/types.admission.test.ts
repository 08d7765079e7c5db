// Type-level tests of admission control: `npm run typecheck` (tsc -p tsconfig.check.json) fails if any of these
// inferences change or an `@ts-expect-error` line starts to compile. The runtime part only checks that the file
// loads.
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  Bulkhead,
  BulkheadRegistry,
  type CommonErrors,
  type ConfigError,
  type PolicyService,
  protect,
  RateLimiter,
  RateLimiterRegistry
} from "../src/index.js"

type StorageError = CommonErrors.StorageError
type ValidationError = CommonErrors.ValidationError
type Policies = PolicyService.PolicyService
type Full = Bulkhead.BulkheadFullError
type Limited = RateLimiter.RateLimitedError
type Bulkheads = BulkheadRegistry.BulkheadRegistry
type Limiters = RateLimiterRegistry.RateLimiterRegistry

const save: Effect.Effect<number, StorageError | ValidationError> = Effect.succeed(1)
const load: Effect.Effect<string, ValidationError, "Db"> = Effect.succeed("")

/** Strict type equality, the usual conditional-type trick: true only for identical types. */
type Equals<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true : false
type Parts<T> = T extends Effect.Effect<infer A, infer E, infer R> ? [A, E, R] : never
/** Compiles only when `T` is an Effect whose success, error and services are exactly `A`, `E` and `R`. */
const effectIs = <A, E, R>() => <T>(_: T & (Equals<Parts<T>, [A, E, R]> extends true ? unknown : "types differ")) => {}

describe("admission types", () => {
  it("without a bulkhead or a rate limit, protect's types do not change", () => {
    effectIs<number, StorageError | ValidationError, Policies>()(save.pipe(protect({ operation: "save" })))
    effectIs<string, ValidationError, "Db" | Policies>()(load.pipe(protect({ operation: "load" })))
    // a fallback for a refusal that cannot happen changes nothing but the success type it may add
    effectIs<number | 0, StorageError | ValidationError, Policies>()(
      save.pipe(protect({ operation: "save", recover: { BulkheadFullError: () => Effect.succeed(0 as const) } }))
    )
  })

  it("a bulkhead adds its refusal to the errors and the registry to the services", () => {
    effectIs<number, StorageError | ValidationError | Full, Policies | Bulkheads>()(
      save.pipe(protect({ operation: "save", bulkhead: "db" }))
    )
    effectIs<number, StorageError | ValidationError | Full, Policies | Bulkheads>()(
      save.pipe(protect({ operation: "save", bulkhead: true }))
    )
    effectIs<string, ValidationError | Full, "Db" | Policies | Bulkheads>()(
      protect(load, { operation: "load", bulkhead: "db" })
    )
    // a bulkhead that may or may not be named still declares the refusal
    const maybe: { readonly operation: string; readonly bulkhead?: string } = { operation: "save" }
    effectIs<number, StorageError | ValidationError | Full, Policies | Bulkheads>()(save.pipe(protect(maybe)))
  })

  it("a rate limit adds its refusal to the errors and the registry to the services", () => {
    effectIs<number, StorageError | ValidationError | Limited, Policies | Limiters>()(
      save.pipe(protect({ operation: "save", rateLimit: "api" }))
    )
    effectIs<number, StorageError | ValidationError | Limited, Policies | Limiters>()(
      save.pipe(protect({ operation: "save", rateLimit: { limiter: "api", key: "tenant-7" } }))
    )
    const maybe: { readonly operation: string; readonly rateLimit?: string } = { operation: "save" }
    effectIs<number, StorageError | ValidationError | Limited, Policies | Limiters>()(save.pipe(protect(maybe)))
  })

  it("both together add both", () => {
    effectIs<number, StorageError | ValidationError | Full | Limited, Policies | Bulkheads | Limiters>()(
      save.pipe(protect({ operation: "save", bulkhead: "db", rateLimit: "api" }))
    )
  })

  it("a sure fallback for a refusal removes it from the errors (the registry stays a service)", () => {
    effectIs<number | "busy", StorageError | ValidationError, Policies | Bulkheads>()(
      save.pipe(protect({
        operation: "save",
        bulkhead: "db",
        recover: { BulkheadFullError: (e) => Effect.succeed(e.reason === "full" ? "busy" as const : "busy" as const) }
      }))
    )
    effectIs<number | "slow down", StorageError | ValidationError, Policies | Limiters>()(
      save.pipe(protect({
        operation: "save",
        rateLimit: "api",
        recover: {
          RateLimitedError: (e) => Effect.succeed(e.retryAfterMillis > 0 ? "slow down" as const : "slow down" as const)
        }
      }))
    )
    // one fallback removes one refusal only
    effectIs<number | 0, StorageError | ValidationError | Limited, Policies | Bulkheads | Limiters>()(
      save.pipe(protect({
        operation: "save",
        bulkhead: "db",
        rateLimit: "api",
        recover: { BulkheadFullError: () => Effect.succeed(0 as const) }
      }))
    )
    // a fallback's own errors and services join
    const cached: Effect.Effect<number, StorageError, "Cache"> = Effect.succeed(0)
    effectIs<number, StorageError | ValidationError, Policies | Limiters | "Cache">()(
      save.pipe(protect({ operation: "save", rateLimit: "api", recover: { RateLimitedError: () => cached } }))
    )
  })

  it("the fallbacks receive the refusal's type", () => {
    save.pipe(protect({
      operation: "save",
      bulkhead: "db",
      rateLimit: "api",
      recover: {
        BulkheadFullError: (e) => {
          expectTypeOf(e).toEqualTypeOf<Full>()
          return Effect.succeed(0)
        },
        RateLimitedError: (e) => {
          expectTypeOf(e).toEqualTypeOf<Limited>()
          return Effect.succeed(0)
        }
      }
    }))
  })

  it("the combinators add the refusal, and the registry where they read one", () => {
    const typeOnly = (bulkhead: Bulkhead.Bulkhead, limiter: RateLimiter.RateLimiter) => {
      effectIs<string, ValidationError | Full, "Db">()(bulkhead.execute(load))
      effectIs<string, ValidationError | Full, "Db">()(load.pipe(Bulkhead.execute(bulkhead)))
      effectIs<string, ValidationError | Full, "Db">()(Bulkhead.execute(load, bulkhead))
      effectIs<string, ValidationError | Limited, "Db">()(limiter.execute(load, "key"))
      effectIs<string, ValidationError | Limited, "Db">()(load.pipe(RateLimiter.execute(limiter, "key")))
      effectIs<string, ValidationError | Limited, "Db">()(RateLimiter.execute(load, limiter))
      effectIs<RateLimiter.Permit, Limited, never>()(limiter.acquire("key", 2))
      effectIs<Bulkhead.State, never, never>()(bulkhead.state)
    }
    expectTypeOf(typeOnly).toBeFunction()
    effectIs<string, ValidationError | Full, "Db" | Bulkheads>()(load.pipe(BulkheadRegistry.withBulkhead("db")))
    effectIs<string, ValidationError | Full, "Db" | Bulkheads>()(BulkheadRegistry.withBulkhead(load, "db"))
    effectIs<string, ValidationError | Limited, "Db" | Limiters>()(load.pipe(RateLimiterRegistry.withRateLimit("api")))
    effectIs<string, ValidationError | Limited, "Db" | Limiters>()(RateLimiterRegistry.withRateLimit(load, "api", "k"))
    effectIs<Bulkhead.Bulkhead, ConfigError.ConfigError, never>()(Bulkhead.make("db", { limit: 2 }))
    effectIs<RateLimiter.RateLimiter, ConfigError.ConfigError, never>()(
      RateLimiter.make("api", { limit: 2, window: "1 second" })
    )
  })

  it("options are checked", () => {
    // @ts-expect-error: not an order
    Bulkhead.make("db", { order: "random" })
    // @ts-expect-error: a limiter needs a window
    RateLimiter.make("api", { limit: 2 })
    // @ts-expect-error: not an algorithm
    RateLimiter.make("api", { limit: 2, window: "1 second", algorithm: "leaky-bucket" })
    // @ts-expect-error: a rate limit names a limiter
    save.pipe(protect({ operation: "save", rateLimit: { key: "tenant" } }))
    // @ts-expect-error: a bulkhead is a name or true
    save.pipe(protect({ operation: "save", bulkhead: false }))
  })
})
