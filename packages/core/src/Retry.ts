/**
 * `retry`: `Effect.retry` for policies, with a success path that costs one error-handler node. Nothing about the
 * schedule is built until the effect fails.
 *
 * @since 0.1.0
 */
import { Cause, Effect } from "effect"
import type { Schedule } from "effect"
import { dual } from "effect/Function"
import * as Policy from "./Policy.js"

/**
 * Retries typed failures on a schedule (`PolicyService.retry`, a `Policy`, or any `Schedule`) exactly as
 * `Effect.retry` does, but pays for the schedule only once the effect has failed.
 *
 * **When to use**
 *
 * Wherever you would write `Effect.retry(schedule)` on a call that usually succeeds. `Effect.retry` builds the
 * schedule's stepper and provides the retry metadata before the first attempt, about 1 µs per call even when
 * nothing fails; `retry` adds one error-handler node to the success path (see the README's Performance section).
 *
 * **Details**
 *
 * On the first failure, `retry` hands that failure to `Effect.retry` with the same schedule, so everything after
 * it is `Effect.retry`'s own behaviour: the schedule sees the first error first, its delays and elapsed time
 * start there, defects are not retried (typed errors alongside a defect become defects, as with `Effect.retry`),
 * and the last error is returned when the schedule is done. An interruption alone is passed through unchanged.
 *
 * One difference: the first attempt runs before `Schedule.CurrentMetadata` is provided, so inside a retry it
 * reads the outer retry's metadata (or the default) where `Effect.retry` would give it attempt 0.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { CommonErrors, ErrorLayer, Policy, PolicyService, retry } from "@effect-resilience/core"
 *
 * declare const save: Effect.Effect<void, CommonErrors.StorageError>
 *
 * // each error retried on its own policy from the PolicyService
 * const saved = save.pipe(retry(PolicyService.retry), Effect.provide(ErrorLayer.layer()))
 *
 * // or one policy, or a plain schedule
 * const twice = save.pipe(retry(Policy.make({ schedule: Schedule.recurs(2) })))
 * const spaced = save.pipe(retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 3 }))))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <B, E, Error = never, Env = never>(
    policy: Schedule.Schedule<B, NoInfer<E>, Error, Env> | Policy.Policy<NoInfer<E>>
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Error, R | Env>
  <A, E, R, B, Error = never, Env = never>(
    self: Effect.Effect<A, E, R>,
    policy: Schedule.Schedule<B, NoInfer<E>, Error, Env> | Policy.Policy<NoInfer<E>>
  ): Effect.Effect<A, E | Error, R | Env>
} = dual(2, <A, E, R, B, Error, Env>(
  self: Effect.Effect<A, E, R>,
  policy: Schedule.Schedule<B, E, Error, Env> | Policy.Policy<E>
): Effect.Effect<A, E | Error, R | Env> => {
  const schedule = (Policy.isPolicy(policy) ? policy.schedule : policy) as Schedule.Schedule<B, E, Error, Env>
  return Effect.catchCause(self, (cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
    // the failure that already happened is replayed as `Effect.retry`'s first attempt, then the effect reruns
    let replay = true
    const attempt = Effect.suspend(() => {
      if (!replay) return self
      replay = false
      return Effect.failCause(cause)
    })
    return Effect.retry(attempt, schedule)
  })
})
