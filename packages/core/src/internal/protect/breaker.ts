/**
 * The breaker stage: every attempt goes through a circuit breaker of the `BreakerRegistry`, around the timeout,
 * so a timed-out attempt counts against the breaker and a rejection never waits for a timeout.
 */
import { BreakerRegistry } from "../../BreakerRegistry.js"
import type { BreakerOpenError } from "../../CircuitBreaker.js"
import * as Stage from "./stage.js"

/**
 * The option the stage reads.
 */
export interface Options {
  /**
   * The breaker every attempt goes through: a name in the `BreakerRegistry`, or `true` for the one its
   * `operations` option maps the operation to (by default the breaker named after the operation).
   */
  readonly breaker?: string | true | undefined
}

/** Whether the options surely name no breaker. */
type NoBreaker<O> = "breaker" extends keyof O ? ([O[keyof O & "breaker"]] extends [undefined] ? true : false) : true

/** The stage's types: with a breaker named, its rejection joins the errors and the registry the services. */
export interface Types extends Stage.Types {
  readonly Options: Options
  readonly Success: this["In"]
  readonly Error: this["In"] | (NoBreaker<this["O"]> extends true ? never : BreakerOpenError)
  readonly Services: this["In"] | (NoBreaker<this["O"]> extends true ? never : BreakerRegistry)
}

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "breaker",
  make: (options) => {
    const name = (options as Options).breaker
    if (name === undefined) return undefined
    const operation = options.operation
    const { read, resolve } = Stage.strategyReader(BreakerRegistry, name, operation, (registry, name) =>
      registry.breaker(name))
    return {
      read,
      wrap: (inner, registry) => {
        const breaker = resolve(registry)
        return { ...inner, attempt: (retry) => breaker.execute(inner.attempt(retry)) }
      }
    }
  }
}
