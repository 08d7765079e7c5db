/**
 * The rate-limit stage, outermost but for the fallback: a call takes one permit of a limiter of the
 * `RateLimiterRegistry` before anything else, once per call (its retries take none). A refused call makes no
 * attempt and takes no bulkhead place: it gives up at once with the `RateLimitedError`, which a
 * `recover.RateLimitedError` fallback can answer.
 */
import { Context } from "effect"
import type { RateLimitedError } from "../../RateLimiter.js"
import { RateLimiterRegistry } from "../../RateLimiterRegistry.js"
import type { LimiterInternal } from "../rateLimit/limiter.js"
import type * as Stage from "./stage.js"

/**
 * The option the stage reads.
 */
export interface Options {
  /**
   * The limiter every call takes a permit of: a name in the `RateLimiterRegistry` (key `""`), or the name and
   * the key to count the call under (a tenant, a client).
   */
  readonly rateLimit?: string | { readonly limiter: string; readonly key?: string | undefined } | undefined
}

type NoLimit<O> = "rateLimit" extends keyof O ? ([O[keyof O & "rateLimit"]] extends [undefined] ? true : false)
  : true

/** The stage's types: with a limiter named, its refusal joins the errors and the registry the services. */
export interface Types extends Stage.Types {
  readonly Options: Options
  readonly Success: this["In"]
  readonly Error: this["In"] | (NoLimit<this["O"]> extends true ? never : RateLimitedError)
  readonly Services: this["In"] | (NoLimit<this["O"]> extends true ? never : RateLimiterRegistry)
}

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "rateLimit",
  make: (options) => {
    const given = (options as Options).rateLimit
    if (given === undefined) return undefined
    const name = typeof given === "string" ? given : given.limiter
    const key = typeof given === "string" ? "" : given.key ?? ""
    return {
      read: (context) => Context.getUnsafe(context, RateLimiterRegistry),
      wrap: (inner, registry: Context.Service.Shape<typeof RateLimiterRegistry>) => {
        const limiter = registry.limiter(name) as LimiterInternal
        return { ...inner, admit: (body, reject) => limiter.guard(inner.admit(body, reject), key, reject) }
      }
    }
  }
}
