import type { Cause, Fiber } from "effect"
import { Context } from "effect"
import { HttpRouter } from "effect/http"
import type * as Problem from "../Problem.js"

/**
 * What the edge learns about a request while it runs, for the request's log line: route parameters and the
 * parsed body (filled in by handlers), and the failure a handler was answered with.
 */
export interface RequestState {
  readonly requestId: string
  params?: Readonly<Record<string, string | undefined>> | undefined
  body?: unknown
  failure?: { readonly problem: Problem.Problem; readonly cause: Cause.Cause<unknown> } | undefined
  /** A failure left to effect to answer (an HttpApi error declared with effect's own schema), for the log line. */
  unanswered?: Cause.Cause<unknown> | undefined
}

export const CurrentRequestState = Context.Reference<RequestState | undefined>(
  "@effect-resilience/http/internal/RequestState",
  { defaultValue: () => undefined }
)

/** Keeps the matched route's parameters for the request's log line, once, where a route runs. */
export const recordParams = (fiber: Fiber.Fiber<unknown, unknown>, state: RequestState | undefined): void => {
  if (state === undefined || state.params !== undefined) return
  const route = Context.getOrUndefined(fiber.context, HttpRouter.RouteContext)
  if (route !== undefined) state.params = route.params
}
