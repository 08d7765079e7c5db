import type { Fiber } from "effect"
import { Context } from "effect"
import { HttpRouter } from "effect/http"
import type * as RequestLog from "../RequestLog.js"

/**
 * What the edge learns about a request while it runs, for the request's log line (a `RequestLog.Entry` the
 * edge fills in): route parameters and the parsed body (filled in by handlers), and the failure a handler was
 * answered with.
 */
export type RequestState = { -readonly [K in keyof RequestLog.Entry]: RequestLog.Entry[K] }

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
