/**
 * The fallback stage, outermost: once the run gives up on an error (its retries are exhausted, or its policy
 * never retries), the fallback given for the error's tag runs and its result replaces the failure. The failure is
 * emitted as pending, resolved when the fallback ends.
 */
import { Effect } from "effect"
import type { BulkheadFullError } from "../../Bulkhead.js"
import type { BreakerOpenError } from "../../CircuitBreaker.js"
import * as ErrorFamily from "../../ErrorFamily.js"
import type { RecoverHandlers } from "../../Protect.js"
import type { RateLimitedError } from "../../RateLimiter.js"
import type * as Stage from "./stage.js"

/**
 * The option the stage reads, for a program failing with `E`: fallbacks keyed by the tags of `E` and of the
 * refusals of the breaker, the bulkhead and the rate limiter.
 */
export interface Options<E> {
  /** Fallbacks per error tag, run when that tag's retries are exhausted (or at once, for a refusal). */
  readonly recover?: RecoverHandlers<E | BreakerOpenError | BulkheadFullError | RateLimitedError> | undefined
}

// The fallbacks that may run (for the success, error and service types they add).
type RecoverOf<O> = O extends { readonly recover?: infer H } ? NonNullable<H> : {}

// The fallbacks that surely exist: `recover` is required and not undefined, and so is the handler. Only their
// tags leave the error type; options whose `recover` may be absent keep every tag.
type SureRecoverOf<O> = O extends { readonly recover: infer H } ? (undefined extends H ? {} : H) : {}

type HandledTags<H> = { [K in keyof H]-?: undefined extends H[K] ? never : K }[keyof H]

type HandlerResults<O> = {
  [K in keyof RecoverOf<O>]-?: NonNullable<RecoverOf<O>[K]> extends (...args: any) => infer R ? R : never
}[keyof RecoverOf<O>]

// the errors no fallback surely handles
type Unhandled<E, O> = Exclude<E, { readonly _tag: HandledTags<SureRecoverOf<O>> }>

/**
 * The stage's types: the tags that surely have a fallback leave the error type; the fallbacks' own success, error
 * and service types join.
 */
export interface Types extends Stage.Types {
  readonly Options: Options<this["In"]>
  readonly Success: this["In"] | Effect.Success<HandlerResults<this["O"]>>
  readonly Error: Unhandled<this["In"], this["O"]> | Effect.Error<HandlerResults<this["O"]>>
  readonly Services: this["In"] | Effect.Services<HandlerResults<this["O"]>>
}

type Handler = (error: unknown) => Effect.Effect<unknown, unknown, unknown>

/** The stage. */
export const stage: Stage.Stage<Types> = {
  name: "fallback",
  make: (options) => {
    const recover = options.recover as Readonly<Record<string, Handler | undefined>> | undefined
    if (recover === undefined) return undefined
    // only fallbacks given for a tag: inherited properties of the record (`toString`) are not fallbacks
    const handlerFor = (error: unknown): Handler | undefined => {
      const tag = ErrorFamily.tagOf(error)
      return tag === undefined || !Object.hasOwn(recover, tag) ? undefined : recover[tag]
    }
    return {
      wrap: (inner) => ({
        ...inner,
        giveUp: (error, at, attempts, run) => {
          const handler = handlerFor(error)
          if (handler === undefined) return inner.giveUp(error, at, attempts, run)
          run.failed(error, at, attempts, "pending", true)
          return Effect.tap(Effect.suspend(() => handler(error)), () => Effect.sync(() => run.settle("succeeded")))
        }
      })
    }
  }
}
