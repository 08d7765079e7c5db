// What hot reload needs from the services whose rules it changes in place: the options each was built with, and
// `prepare`, which checks a candidate whole (every problem, with its path, in one ConfigError) and returns the
// swap. The swap is synchronous, so the swaps of several services are applied together, with nothing in between.
import { Effect, Equal } from "effect"
import type * as ConfigError from "../ConfigError.js"
import type * as Policy from "../Policy.js"
import type { Options as PolicyOptions, PolicyService } from "../PolicyService.js"

/** The key under which a service keeps its {@link Reconfigurable} side. */
export const ReconfigureId: unique symbol = Symbol.for("@effect-resilience/core/Reconfigure")

/** A service that takes new options in place. */
export interface Reconfigurable<Options, Change> {
  /** The options the service was built with. */
  readonly base: Options
  /** Checks `options` whole; the swap it returns applies them (synchronously) and says what changed. */
  readonly prepare: (options: Options) => Effect.Effect<() => Change, ConfigError.ConfigError>
}

/**
 * How many times anything a `protect` pipeline reads besides its context has changed: a policy set swapped, an
 * operation remapped, chaos rules set. A call site whose fiber has the context of its last call, at the same
 * epoch, reads nothing again (its pipeline is the one it built then), so a loop of protected calls pays one
 * comparison instead of a read per stage. Each change calls {@link bumpEpoch}.
 */
export let epoch = 0

/** Says that something a pipeline reads (not its context) has changed: every call site reads again. */
export const bumpEpoch = (): void => {
  epoch++
}

/** The key under which a registry keeps its current {@link Routes}. */
export const RoutesId: unique symbol = Symbol.for("@effect-resilience/core/Routes")

/**
 * Which strategy a registry maps each operation to (its `operations` option), as a value whose identity changes
 * whenever a reload changes the mapping: the stages that follow the mapping (`breaker: true`, `bulkhead: true`,
 * `budget: true`) read it on every call and build their pipeline again when it is another object, so a
 * remapped operation's next call takes its new strategy, whatever else the reload changed.
 */
export interface Routes<A> {
  readonly forOperation: (operation: string) => A
}

/** The routes in force of a registry: its current {@link Routes}, or (a registry of its own making) itself. */
export const routesOf = <A>(registry: Routes<A>): Routes<A> =>
  (registry as Partial<Record<typeof RoutesId, Routes<A>>>)[RoutesId] ?? registry

/**
 * A registry's mapping of operations to names: `forOperation` looks an operation up (an operation not mapped
 * takes the strategy of its own name), `current` is the {@link Routes} in force, and `remap` takes a reload's
 * mapping, returning the operations whose strategy changed (sorted) and replacing `current` when there are.
 */
export const makeRoutes = <A>(
  given: Readonly<Record<string, string>> | undefined,
  lookup: (name: string) => A
) => {
  let operations = new Map(Object.entries(given ?? {}))
  const forOperation = (operation: string): A => lookup(operations.get(operation) ?? operation)
  let current: Routes<A> = { forOperation }
  return {
    forOperation,
    current: (): Routes<A> => current,
    remap: (next: Readonly<Record<string, string>> | undefined): ReadonlyArray<string> => {
      const nextOperations = new Map(Object.entries(next ?? {}))
      const remapped = [...new Set([...operations.keys(), ...nextOperations.keys()])]
        .filter((operation) => operations.get(operation) !== nextOperations.get(operation))
        .sort()
      operations = nextOperations
      if (remapped.length > 0) {
        current = { forOperation }
        bumpEpoch()
      }
      return remapped
    }
  }
}

/** The reconfigurable side of a service, if it has one. */
export const reconfigurableOf = <Options, Change>(service: unknown): Reconfigurable<Options, Change> | undefined =>
  typeof service === "object" && service !== null && ReconfigureId in service
    ? (service as { readonly [ReconfigureId]: Reconfigurable<Options, Change> })[ReconfigureId]
    : undefined

/**
 * The policy service `PolicyService.make` builds: it reads the policy set in force, which a reload replaces as a
 * whole. A protected call takes the set in force as it starts ({@link currentPolicies}) and keeps it until it
 * ends, so a reload never changes the rules of a call already running.
 */
export class ReloadablePolicies implements PolicyService {
  #current: PolicyService
  readonly [ReconfigureId]: Reconfigurable<PolicyOptions, void>

  constructor(
    current: PolicyService,
    base: PolicyOptions,
    build: (options: PolicyOptions) => Effect.Effect<PolicyService, ConfigError.ConfigError>
  ) {
    this.#current = current
    this[ReconfigureId] = {
      base,
      prepare: (options) => Effect.map(build(options), (next) => () => {
        this.#current = next
        bumpEpoch()
      })
    }
  }

  get defaultPolicy(): Policy.Policy<unknown> {
    return this.#current.defaultPolicy
  }
  get policies(): ReadonlyMap<string, Policy.Policy<any>> {
    return this.#current.policies
  }
  get families(): PolicyService["families"] {
    return this.#current.families
  }
  readonly policyFor = (error: unknown): Policy.Policy<any> => this.#current.policyFor(error)

  /**
   * The set in force of a service: for a reloadable one its current set (a new object on every reload), for any
   * other the service itself. (The brand check reads nothing from the service: a proxy sees no access.)
   */
  static currentOf(service: PolicyService): PolicyService {
    return #current in service ? (service as ReloadablePolicies).#current : service
  }
}

/** The policy set in force of a policy service, as a protected call captures it at its start. */
export const currentPolicies = (service: PolicyService): PolicyService => ReloadablePolicies.currentOf(service)

/**
 * Whether two option documents are the same: plain data compared by value (object keys in any order), anything
 * else by effect's `Equal` (a duration by value; a `drops` predicate or a built policy by identity).
 */
export const sameOptions = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const other = b as ReadonlyArray<unknown>
    return a.length === other.length && a.every((x, i) => sameOptions(x, other[i]))
  }
  const plain = (u: object) => Object.getPrototypeOf(u) === Object.prototype || Object.getPrototypeOf(u) === null
  if (!plain(a) || !plain(b)) return Equal.equals(a, b)
  const keysA = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined)
  const keysB = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined)
  return keysA.length === keysB.length &&
    keysA.every((k) => sameOptions((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
