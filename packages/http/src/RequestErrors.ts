/**
 * Error families for requests the edge refuses before any handler logic runs: a body that is not JSON, a body of
 * the wrong media type, a body over the size limit, and a path no route matches. Each is a business error (the
 * client's to fix: never retried, never alerting) with a stable code.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { ErrorFamily } from "@effect-resilience/core"
import { ErrorFamily as Family } from "@effect-resilience/core"

/**
 * The request body could not be parsed (JSON that is not well-formed, a broken multipart body). The edge
 * answers 400.
 *
 * **Example**
 *
 * ```ts
 * import { RequestErrors } from "@effect-resilience/http"
 *
 * new RequestErrors.MalformedBodyError({ detail: "Unexpected token } in JSON at position 9" }).publicMessage
 * // "The request body could not be parsed."
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedBodyError extends Family.TaggedError<MalformedBodyError>()("MalformedBodyError", {}, {
  code: "resilience.E0101",
  kind: "business",
  severity: "low",
  publicMessage: "The request body could not be parsed."
}) {}

/**
 * The request body has a media type the endpoint does not accept. The edge answers 415.
 *
 * **Example**
 *
 * ```ts
 * import { RequestErrors } from "@effect-resilience/http"
 *
 * new RequestErrors.UnsupportedMediaTypeError({ received: "text/plain", expected: "application/json" })
 *   .publicMessage // "Expected a application/json body, got text/plain."
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedMediaTypeError extends Family.TaggedError<UnsupportedMediaTypeError>()(
  "UnsupportedMediaTypeError",
  { received: Schema.String, expected: Schema.String },
  {
    code: "resilience.E0102",
    kind: "business",
    severity: "low",
    publicMessage: ({ expected, received }) =>
      `Expected a ${expected} body, got ${received === "" ? "none" : received.slice(0, 100)}.`
  }
) {}

/**
 * The request body is larger than the edge accepts. The edge answers 413.
 *
 * **Example**
 *
 * ```ts
 * import { RequestErrors } from "@effect-resilience/http"
 *
 * new RequestErrors.PayloadTooLargeError({ limitBytes: 1024 }).publicMessage
 * // "The request body is larger than 1024 bytes."
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLargeError extends Family.TaggedError<PayloadTooLargeError>()("PayloadTooLargeError", {
  limitBytes: Schema.Number
}, {
  code: "resilience.E0103",
  kind: "business",
  severity: "low",
  publicMessage: ({ limitBytes }) => `The request body is larger than ${limitBytes} bytes.`
}) {}

/**
 * No route matches the request's method and path. The edge answers 404.
 *
 * **Example**
 *
 * ```ts
 * import { RequestErrors } from "@effect-resilience/http"
 *
 * new RequestErrors.RouteNotFoundError({ method: "GET", path: "/nope" }).publicMessage
 * // "No route matches GET /nope."
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RouteNotFoundError extends Family.TaggedError<RouteNotFoundError>()("RouteNotFoundError", {
  method: Schema.String,
  path: Schema.String
}, {
  code: "resilience.E0104",
  kind: "business",
  severity: "low",
  publicMessage: ({ method, path }) => `No route matches ${method} ${path.slice(0, 200)}.`
}) {}

/**
 * The families of this module, to pass to `ErrorLayer.layer({ errors })` so the `ErrorRegistry` lists them.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { RequestErrors } from "@effect-resilience/http"
 *
 * const Errors = ErrorLayer.layer({ errors: RequestErrors.families })
 * ```
 *
 * @since 0.1.0
 * @category families
 */
export const families: ReadonlyArray<ErrorFamily.Any> = [
  MalformedBodyError,
  UnsupportedMediaTypeError,
  PayloadTooLargeError,
  RouteNotFoundError
]
