import type { Fiber } from "effect"
import { Context, References } from "effect"
import * as ErrorTracker from "../ErrorTracker.js"

/**
 * How `protect` and the policy schedule hand a run's failures to the tracker: the tracker and the fiber's log
 * annotations are read once per run; `undefined` when no tracker is in the context. Returns the occurrence,
 * which is the handle a pending one is later resolved with.
 */
export const recorderFor = (
  fiber: Fiber.Fiber<unknown, unknown>,
  source: ErrorTracker.Source,
  operation?: string
) => {
  const tracker = Context.getOrUndefined(fiber.context, ErrorTracker.ErrorTracker)
  if (tracker === undefined) return undefined
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  return {
    tracker,
    record: (error: unknown, timestamp: number, attempt: number, recovery: ErrorTracker.Recovery) => {
      const occurrence: ErrorTracker.Occurrence = { error, timestamp, operation, attempt, recovery, source, annotations }
      tracker.offer(occurrence)
      return occurrence
    }
  }
}
