/**
 * Named circuit breakers shared by a whole program: `breaker("payments")` returns the same breaker wherever it is
 * asked for, configured by its own options or the default ones. The registry publishes every breaker's state
 * changes as one `Stream`, records them in the `ErrorTracker` (when there is one), and exports each breaker's
 * state and calls as effect metrics.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, PubSub, Stream } from "effect"
import { dual } from "effect/Function"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ErrorTracker from "./ErrorTracker.js"
import { addCounterSource, addGaugeSource } from "./internal/metricSeries.js"
import { isRecord, knownKeys, optionIssues } from "./internal/unknownKeys.js"

/**
 * The registry.
 *
 * - `breaker(name)` returns the breaker of that name, built on first use.
 * - `forOperation(operation)` returns the breaker the `operations` option maps an operation to, or the breaker
 *   named after the operation.
 * - `states` reads the state of every breaker built so far, sorted by name.
 * - `changes` streams the state changes of all breakers, from when it is run until the registry closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerRegistryShape {
  readonly breaker: (name: string) => CircuitBreaker.CircuitBreaker
  readonly forOperation: (operation: string) => CircuitBreaker.CircuitBreaker
  readonly states: Effect.Effect<ReadonlyArray<CircuitBreaker.State>>
  readonly changes: Stream.Stream<CircuitBreaker.Transition>
}

/**
 * The registry service. `ErrorLayer` provides it; {@link layer} provides it alone.
 *
 * @since 0.1.0
 * @category services
 */
export class BreakerRegistry extends Context.Service<BreakerRegistry, BreakerRegistryShape>()(
  "@effect-resilience/core/BreakerRegistry"
) {}

/**
 * Options of {@link make}: the options of breakers without their own (`default`), of named ones (`breakers`), and
 * which breaker guards which `protect` operation (`operations`, used by `protect({ breaker: true })`). Named
 * options replace the default ones as a whole. An unknown key, here or in a breaker's options, is refused with
 * the nearest known name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly default?: CircuitBreaker.Options | undefined
  readonly breakers?: Readonly<Record<string, CircuitBreaker.Options>> | undefined
  readonly operations?: Readonly<Record<string, string>> | undefined
}

const optionKeys = knownKeys<Options>({ default: true, breakers: true, operations: true })

const statuses = CircuitBreaker.Status.literals
const outcomes = ["success", "failure", "ignored", "rejected", "slow"] as const

/**
 * Validates every breaker's options (all problems reported together in one `BreakerConfigError`, unknown keys
 * included: `storage.openDuraton: Unknown key "openDuraton", did you mean "openDuration"?`) and builds the
 * registry. The registry's stream ends and its metric series are removed when the scope closes.
 *
 * Metrics, per breaker (read when exported):
 * - `resilience_breaker_state{breaker,state}`: 1 for the breaker's current state, 0 for the others;
 * - `resilience_breaker_calls_total{breaker,outcome}`: `success`, `failure`, `ignored`, `rejected`, `slow`;
 * - `resilience_breaker_transitions_total{breaker,to}`: state changes by the state entered.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, TripRule } from "@effect-resilience/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* BreakerRegistry.make({
 *     default: { trip: TripRule.consecutive(5), openDuration: "30 seconds" },
 *     breakers: { payments: { trip: TripRule.failureRate({ threshold: 0.5, lastCalls: 20 }) } }
 *   })
 *   return registry.breaker("payments") === registry.breaker("payments") // true
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<BreakerRegistryShape, CircuitBreaker.BreakerConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    // every config first: one error listing all problems, and nothing built from a partly valid set
    // a problem with the registry's own options (an unknown key) names no breaker
    const issues: Array<CircuitBreaker.BreakerConfigError["issues"][number]> = optionIssues(options, optionKeys).map(
      (issue) => ({ breaker: "", path: issue.path, message: issue.message })
    )
    if (!isRecord(options)) return yield* new CircuitBreaker.BreakerConfigError({ issues })
    if (options.breakers !== undefined && !isRecord(options.breakers)) {
      issues.push(...optionIssues(options.breakers, [], ["breakers"]).map((issue) => ({ breaker: "", ...issue })))
    }
    const collect = (name: string, input: CircuitBreaker.Options | undefined) =>
      CircuitBreaker.validate(name, input).pipe(Effect.catch((error) => {
        issues.push(...error.issues)
        return Effect.succeed(undefined)
      }))
    const defaults = yield* collect("default", options.default)
    const configs = new Map<string, CircuitBreaker.Config>()
    for (const [name, input] of Object.entries(isRecord(options.breakers) ? options.breakers : {})) {
      const config = yield* collect(name, input)
      if (config !== undefined) configs.set(name, config)
    }
    if (issues.length > 0 || defaults === undefined) return yield* new CircuitBreaker.BreakerConfigError({ issues })

    const context = yield* Effect.context<never>()
    const tracker = Context.getOrUndefined(context, ErrorTracker.ErrorTracker)
    const pubsub = yield* PubSub.sliding<CircuitBreaker.Transition>(1024)
    const changes = Stream.fromPubSub(pubsub)
    const breakers = new Map<string, CircuitBreaker.CircuitBreaker>()
    const transitionsTo = new Map<string, Record<string, number>>()
    const removals: Array<() => void> = []
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        Effect.sync(() => {
          closed = true
          for (const remove of removals.splice(0)) remove()
        }),
        PubSub.shutdown(pubsub)
      )
    )

    const publish = (transition: CircuitBreaker.Transition) => {
      const counts = transitionsTo.get(transition.breaker)
      if (counts !== undefined) counts[transition.to] = (counts[transition.to] ?? 0) + 1
      tracker?.recordTransition(transition)
      PubSub.publishUnsafe(pubsub, transition)
    }

    const register = (breaker: CircuitBreaker.CircuitBreaker) => {
      if (closed) return
      const name = breaker.name
      // the state is read synchronously: `state` is a synchronous effect
      const read = () => Effect.runSync(breaker.state)
      const counts: Record<string, number> = {}
      transitionsTo.set(name, counts)
      for (const state of statuses) {
        removals.push(addGaugeSource(
          context,
          "resilience_breaker_state",
          "1 for the breaker's current state, 0 for the others",
          { breaker: name, state },
          () => read().status === state ? 1 : 0
        ))
        removals.push(addCounterSource(
          context,
          "resilience_breaker_transitions_total",
          "Circuit breaker state changes, by the state entered",
          { breaker: name, to: state },
          () => counts[state] ?? 0
        ))
      }
      for (const outcome of outcomes) {
        removals.push(addCounterSource(
          context,
          "resilience_breaker_calls_total",
          "Calls through a circuit breaker, by outcome (slow calls are also counted as success or failure)",
          { breaker: name, outcome },
          () => read().calls[outcome]
        ))
      }
    }

    const breaker = (name: string) => {
      let found = breakers.get(name)
      if (found === undefined) {
        found = CircuitBreaker.makeUnsafe(
          name,
          configs.get(name) ?? defaults,
          { publish },
          Stream.filter(changes, (t) => t.breaker === name)
        )
        breakers.set(name, found)
        register(found)
      }
      return found
    }
    // the named breakers exist from the start, so their state and metrics show before their first call
    for (const name of configs.keys()) breaker(name)

    const operations = new Map(Object.entries(options.operations ?? {}))
    return {
      breaker,
      forOperation: (operation) => breaker(operations.get(operation) ?? operation),
      states: Effect.suspend(() =>
        Effect.forEach([...breakers.keys()].sort(), (name) => breakers.get(name)!.state)
      ),
      changes
    } satisfies BreakerRegistryShape
  })

/**
 * A layer providing the registry; its build fails with `BreakerConfigError` when any options are invalid. With an
 * `ErrorTracker` in its context (as in `ErrorLayer`) the breakers' state changes are recorded there.
 *
 * **Example**
 *
 * ```ts
 * import { BreakerRegistry, TripRule } from "@effect-resilience/core"
 *
 * const Breakers = BreakerRegistry.layer({
 *   breakers: { payments: { trip: TripRule.consecutive(3), openDuration: "10 seconds", halfOpenProbes: 2 } }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<BreakerRegistry, CircuitBreaker.BreakerConfigError> =>
  Layer.effect(BreakerRegistry, make(options))

/**
 * The breaker of a name, from the registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry } from "@effect-resilience/core"
 *
 * const isolatePayments = Effect.flatMap(BreakerRegistry.breaker("payments"), (breaker) => breaker.isolate)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const breaker = (name: string): Effect.Effect<CircuitBreaker.CircuitBreaker, never, BreakerRegistry> =>
  BreakerRegistry.useSync((registry) => registry.breaker(name))

/**
 * The state of every breaker built so far.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry } from "@effect-resilience/core"
 *
 * const open = Effect.map(BreakerRegistry.states, (states) => states.filter((s) => s.status === "open"))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const states: Effect.Effect<ReadonlyArray<CircuitBreaker.State>, never, BreakerRegistry> = BreakerRegistry
  .use((registry) => registry.states)

/**
 * Runs an effect through the named breaker of the registry in the context. The breaker is looked up once per
 * registry, not once per call.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerRegistry, CommonErrors } from "@effect-resilience/core"
 *
 * declare const charge: Effect.Effect<string, CommonErrors.NetworkError>
 *
 * // Effect<string, NetworkError | BreakerOpenError, BreakerRegistry>
 * const guarded = charge.pipe(BreakerRegistry.withBreaker("payments"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withBreaker: {
  (name: string): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CircuitBreaker.BreakerOpenError, R | BreakerRegistry>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string
  ): Effect.Effect<A, E | CircuitBreaker.BreakerOpenError, R | BreakerRegistry>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, name: string) => {
  let cachedFor: BreakerRegistryShape | undefined
  let cached: Effect.Effect<A, E | CircuitBreaker.BreakerOpenError, R> = self
  return Effect.withFiber((fiber) => {
    const registry = Context.getUnsafe(fiber.context, BreakerRegistry)
    if (registry !== cachedFor) {
      cachedFor = registry
      cached = registry.breaker(name).execute(self)
    }
    return cached
  })
})
