/**
 * The bulkhead stage: the whole call (its retries included) runs in a place of a bulkhead of the
 * `BulkheadRegistry`, outside the retry and inside the fallback. A refused call makes no attempt: it is not
 * retried and never reaches the breaker; it gives up at once with the `BulkheadFullError`, which a
 * `recover.BulkheadFullError` fallback can answer.
 */
import type { BulkheadFullError } from "../../Bulkhead.js"
import { BulkheadRegistry } from "../../BulkheadRegistry.js"
import type { BulkheadInternal } from "../bulkhead/bulkhead.js"
import * as Stage from "./stage.js"

/**
 * The option the stage reads.
 */
export interface Options {
  /**
   * The bulkhead the call runs in: a name in the `BulkheadRegistry`, or `true` for the one its `operations`
   * option maps the operation to (by default the bulkhead named after the operation).
   */
  readonly bulkhead?: string | true | undefined
}

type NoBulkhead<O> = "bulkhead" extends keyof O ? ([O[keyof O & "bulkhead"]] extends [undefined] ? true : false)
  : true

/** The stage's types: with a bulkhead named, its refusal joins the errors and the registry the services. */
export interface Types extends Stage.Types {
  readonly Options: Options
  readonly Success: this["In"]
  readonly Error: this["In"] | (NoBulkhead<this["O"]> extends true ? never : BulkheadFullError)
  readonly Services: this["In"] | (NoBulkhead<this["O"]> extends true ? never : BulkheadRegistry)
}

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "bulkhead",
  make: (options) => {
    const name = (options as Options).bulkhead
    if (name === undefined) return undefined
    const operation = options.operation
    const { read, resolve } = Stage.strategyReader(BulkheadRegistry, name, operation, (registry, name) =>
      registry.bulkhead(name))
    return {
      read,
      wrap: (inner, registry) => {
        const bulkhead = resolve(registry) as BulkheadInternal
        return { ...inner, admit: (body, reject) => bulkhead.guard(inner.admit(body, reject), reject) }
      }
    }
  }
}
