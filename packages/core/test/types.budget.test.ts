// Type-level tests of retry budgets and hedging: `npm run typecheck` (tsc -p tsconfig.check.json) fails if any of
// these inferences change or an `@ts-expect-error` line starts to compile. The runtime part only checks that the
// file loads.
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  type BreakerRegistry,
  type CircuitBreaker,
  type CommonErrors,
  type ConfigError,
  PolicyService,
  protect,
  type Protect,
  RetryBudget,
  RetryBudgetRegistry
} from "../src/index.js"

type StorageError = CommonErrors.StorageError
type ValidationError = CommonErrors.ValidationError
type NetworkError = CommonErrors.NetworkError
type Policies = PolicyService.PolicyService
type Budgets = RetryBudgetRegistry.RetryBudgetRegistry
type Breakers = BreakerRegistry.BreakerRegistry
type Open = CircuitBreaker.BreakerOpenError

const save: Effect.Effect<number, StorageError | ValidationError> = Effect.succeed(1)
const load: Effect.Effect<string, ValidationError, "Db"> = Effect.succeed("")
const charge: Effect.Effect<string, NetworkError> = Effect.succeed("")

/** Strict type equality, the usual conditional-type trick: true only for identical types. */
type Equals<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true : false
type Parts<T> = T extends Effect.Effect<infer A, infer E, infer R> ? [A, E, R] : never
/** Compiles only when `T` is an Effect whose success, error and services are exactly `A`, `E` and `R`. */
const effectIs = <A, E, R>() => <T>(_: T & (Equals<Parts<T>, [A, E, R]> extends true ? unknown : "types differ")) => {}

describe("budget types", () => {
  it("a budget adds the registry to the services and nothing to the error type", () => {
    effectIs<number, StorageError | ValidationError, Policies>()(save.pipe(protect({ operation: "save" })))
    effectIs<number, StorageError | ValidationError, Policies | Budgets>()(
      save.pipe(protect({ operation: "save", budget: "db" }))
    )
    effectIs<number, StorageError | ValidationError, Policies | Budgets>()(
      save.pipe(protect({ operation: "save", budget: true }))
    )
    effectIs<string, ValidationError, "Db" | Policies | Budgets>()(protect(load, { operation: "load", budget: "db" }))
    // a budget that may or may not be named still needs the registry
    const maybe: { readonly operation: string; readonly budget?: string } = { operation: "save" }
    effectIs<number, StorageError | ValidationError, Policies | Budgets>()(save.pipe(protect(maybe)))
    // one that is surely absent does not
    effectIs<number, StorageError | ValidationError, Policies>()(
      save.pipe(protect({ operation: "save", budget: undefined }))
    )
  })

  it("a budget beside other stages adds only the registry", () => {
    effectIs<number, StorageError | ValidationError | Open, Policies | Breakers | Budgets>()(
      save.pipe(protect({ operation: "save", breaker: "db", budget: "db" }))
    )
    // a sure fallback still removes its tag; the budget keeps its service
    effectIs<number | "cached", ValidationError, Policies | Budgets>()(
      save.pipe(protect({
        operation: "save",
        budget: "db",
        recover: { StorageError: () => Effect.succeed("cached" as const) }
      }))
    )
  })

  it("withBudget adds the registry, keeps the error type", () => {
    effectIs<string, NetworkError, Policies | Budgets>()(
      charge.pipe(Effect.retry(PolicyService.retry), RetryBudgetRegistry.withBudget("payments"))
    )
    effectIs<string, ValidationError, "Db" | Budgets>()(RetryBudgetRegistry.withBudget(load, "payments"))
    effectIs<RetryBudget.RetryBudget, never, Budgets>()(RetryBudgetRegistry.budget("payments"))
    effectIs<ReadonlyArray<RetryBudget.State>, never, Budgets>()(RetryBudgetRegistry.states)
    effectIs<RetryBudget.Config, ConfigError.ConfigError, never>()(RetryBudget.validate({ percent: 0.1 }))
    effectIs<void, ConfigError.ConfigError, never>()(RetryBudgetRegistry.validate({ budgets: { db: { kind: "tokens" } } }))
  })

  it("budget options are typed", () => {
    const ratio: RetryBudget.Options = { percent: 0.1, minPerSecond: 5, ttl: "10 seconds" }
    const tokens: RetryBudget.Options = { kind: "tokens", maxTokens: 10, tokenRatio: 0.1 }
    expectTypeOf(ratio).toMatchTypeOf<RetryBudget.Options>()
    expectTypeOf(tokens).toMatchTypeOf<RetryBudget.Options>()
    // @ts-expect-error: not a kind
    const leaky: RetryBudget.Options = { kind: "leaky" }
    // @ts-expect-error: a budget is a name or true
    save.pipe(protect({ operation: "save", budget: false }))
    expectTypeOf([leaky]).toBeArray()
  })
})

describe("hedge types", () => {
  it("a hedge changes no type", () => {
    effectIs<number, StorageError | ValidationError, Policies>()(
      save.pipe(protect({ operation: "save", hedge: { idempotent: true, delay: "50 millis" } }))
    )
    effectIs<number, StorageError | ValidationError, Policies>()(
      save.pipe(protect({ operation: "save", hedge: { idempotent: true, delay: "p95", maxHedges: 2 } }))
    )
    effectIs<string, ValidationError, "Db" | Policies>()(
      protect(load, {
        operation: "load",
        hedge: { idempotent: true, delay: "p99.9", minDelay: "1 millis", maxDelay: "1 second", minSamples: 50 }
      })
    )
    // with a budget: the budget's registry, nothing for the hedge
    effectIs<number, StorageError | ValidationError, Policies | Budgets>()(
      save.pipe(protect({ operation: "save", budget: "db", hedge: { idempotent: true, delay: 20 } }))
    )
    // with a breaker: the breaker's refusal and registry, nothing for the hedge
    effectIs<number, StorageError | ValidationError | Open, Policies | Breakers>()(
      save.pipe(protect({ operation: "save", breaker: "db", hedge: { idempotent: true, delay: "p95" } }))
    )
    const options: Protect.Options<StorageError> = { operation: "save", hedge: { idempotent: true, delay: "p95" } }
    expectTypeOf(options).toMatchTypeOf<Protect.Options<StorageError>>()
  })

  it("a hedge requires idempotent: true, said at the call site", () => {
    // @ts-expect-error: idempotent must be true
    save.pipe(protect({ operation: "save", hedge: { idempotent: false, delay: "50 millis" } }))
    // @ts-expect-error: idempotent is required
    save.pipe(protect({ operation: "save", hedge: { delay: "50 millis" } }))
    const maybeIdempotent = (flag: boolean) =>
      // @ts-expect-error: a boolean that may be false is not enough
      save.pipe(protect({ operation: "save", hedge: { idempotent: flag, delay: "50 millis" } }))
    expectTypeOf(maybeIdempotent).toBeFunction()
    // @ts-expect-error: a delay is required
    save.pipe(protect({ operation: "save", hedge: { idempotent: true } }))
    // @ts-expect-error: a delay is a duration or a percentile
    save.pipe(protect({ operation: "save", hedge: { idempotent: true, delay: "q95" } }))
  })

  it("a budget's options are of one kind: the other kind's keys are refused by the type, as by validate", () => {
    const ratio: RetryBudget.Options = { percent: 0.1, minPerSecond: 5, ttl: "10 seconds" }
    const tokens: RetryBudget.Options = { kind: "tokens", maxTokens: 10, tokenRatio: 0.1 }
    expectTypeOf([ratio, tokens]).toBeArray()
    // @ts-expect-error: maxTokens is a key of the tokens kind
    const mixed: RetryBudget.Options = { percent: 0.1, maxTokens: 10 }
    // @ts-expect-error: ttl is a key of the ratio kind
    const mixedTokens: RetryBudget.Options = { kind: "tokens", ttl: "10 seconds" }
    expectTypeOf([mixed, mixedTokens]).toBeArray()
  })
})
