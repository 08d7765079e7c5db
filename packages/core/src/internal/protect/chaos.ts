/**
 * The chaos stage: the innermost one, around the call itself, so that a fault it injects is met by every other
 * stage as a real one would be (inside the timeout and the breaker, each attempt of a retry a chance of its own).
 * It reads the `Chaos` service from the context; with none, or no enabled rule for the operation, it wraps
 * nothing, so the pipeline is the one without chaos. An injection is counted by the service, logged, and emitted
 * to the observer of the attempt's fiber (a `ChaosInjected` event, read there only when a rule fires). An injected
 * failure or defect object is marked (`internal/chaosMarks.ts`) just before the attempt fails or dies with it, so
 * wherever that error is shown later (the tracker's events, the log lines of its retry or give-up) it is known as
 * a rehearsal.
 */
import { Context, Effect, type Fiber, Random } from "effect"
import * as Chaos from "../../Chaos.js"
import * as ChaosMarks from "../chaosMarks.js"
import { type ChaosInjected, CurrentObserver } from "../observation.js"
import type * as Stage from "./stage.js"

/** The stage's types: it adds nothing (an injected failure is one of the operation's own). */
export interface Types extends Stage.Types {
  readonly Options: {}
  readonly Success: this["In"]
  readonly Error: this["In"]
  readonly Services: this["In"]
}

// the failure or defect about to be injected, marked as such
const asInjected = <A>(value: A): A => {
  ChaosMarks.mark(value)
  return value
}

/** The stage: present in every pipeline, wrapping only when rules are in force for its operation. */
export const stage: Stage.Stage<Types> = {
  name: "chaos",
  make: (options) => {
    const operation = options.operation
    return {
      // a new value whenever the rules change, so the pipeline is rebuilt then and only then
      read: (context) => {
        const chaos = Context.getOrUndefined(context, Chaos.Chaos)
        return chaos === undefined ? undefined : Chaos.currentOf(chaos)
      },
      wrap: (inner, current: Chaos.Current | undefined) => {
        if (current === undefined || !current.enabled) return inner
        const rules = current.rules.filter((rule) =>
          rule.enabled && (rule.operations === undefined || rule.operations.has(operation))
        )
        if (rules.length === 0) return inner
        // the events of this pipeline's injections: one per kind, built at its first injection, then the same object
        const events: { [K in Chaos.CallKind]?: ChaosInjected } = {}
        const eventOf = (kind: Chaos.CallKind): ChaosInjected =>
          events[kind] ??= { _tag: "ChaosInjected", operation, kind }
        const inject = (
          rule: (typeof rules)[number],
          attempt: Effect.Effect<unknown, unknown, unknown>,
          fiber: Fiber.Fiber<unknown, unknown>
        ) => {
          current.injected(operation, rule.kind)
          const observer = fiber.getRef(CurrentObserver)
          if (observer.active) observer.emit(eventOf(rule.kind))
          const fault = rule.fault
          const marked = <A, E, R>(self: Effect.Effect<A, E, R>, detail: string) =>
            Effect.andThen(
              Effect.logWarning(`chaos: ${detail} injected into ${operation}`).pipe(
                Effect.annotateLogs({ chaos: rule.kind, operation })
              ),
              self
            )
          switch (fault._tag) {
            case "Fail":
              return marked(Effect.suspend(() => Effect.fail(asInjected(fault.error(operation)))), "a failure")
            case "Die":
              return marked(Effect.suspend(() => Effect.die(asInjected(fault.defect(operation)))), "a defect")
            case "Interrupt":
              return marked(Effect.interrupt, "an interruption")
            case "Latency":
              return Effect.flatMap(current.delayOf(rule), (millis) =>
                marked(Effect.andThen(Effect.sleep(millis), attempt), `a delay of ${millis} ms`))
          }
        }
        return {
          ...inner,
          attempt: (retry) => {
            const attempt = inner.attempt(retry)
            return Effect.withFiber((fiber) => {
              // rules changed since this pipeline was built (set, disable): nothing more for this call
              if (!current.inForce()) return attempt
              const random = fiber.getRef(Random.Random)
              let fired: (typeof rules)[number] | undefined
              for (const rule of rules) {
                // after the first rule that fires, the everyNth rules still count the attempt (rate rules draw nothing)
                if (fired === undefined) {
                  if (current.decide(rule, random)) fired = rule
                } else if (rule.everyNth !== undefined) current.decide(rule, random)
              }
              return fired === undefined ? attempt : inject(fired, attempt, fiber)
            })
          }
        }
      }
    }
  }
}
