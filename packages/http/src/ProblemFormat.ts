/**
 * How a {@link Problem.Problem} is written on the wire. The default is RFC 9457 `application/problem+json`;
 * {@link envelope} is the `{"error": {...}}` shape many APIs use, and any other format is a small value of the
 * same interface. Formats are chosen where the edge is made, so handlers never change with them.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as Problem from "./Problem.js"

/**
 * A body format for problems.
 *
 * - `contentType` is the response's media type.
 * - `render` turns a problem into the JSON body. It must only use the problem's public members.
 * - `schema` describes the body for API documents (OpenAPI), with `status` fixed to the documented status. It
 *   needs no services to decode or encode ({@link BodySchema}), so an `HttpApi` declaring it (through
 *   `HttpApiEdge.error`) can be served without providing any.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProblemFormat {
  readonly name: string
  readonly contentType: string
  readonly render: (problem: Problem.Problem) => unknown
  readonly schema: (status: number) => BodySchema
}

/**
 * The schema of a problem body, as a format gives it: any encoded shape, no decoding or encoding services.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import type { ProblemFormat } from "@effect-resilience/http"
 *
 * const body: ProblemFormat.BodySchema = Schema.Struct({ message: Schema.String, status: Schema.Literal(418) })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BodySchema extends Schema.Codec<unknown, unknown, never, never> {}

/**
 * RFC 9457 problem details (`application/problem+json`): `type`, `title`, `status`, `detail`, `instance`, and the
 * extensions `code`, `requestId` and, for invalid input, `errors: [{ pointer, detail }]`.
 *
 * **Example**
 *
 * ```ts
 * import { ProblemFormat } from "@effect-resilience/http"
 *
 * ProblemFormat.rfc9457.render({
 *   status: 404, type: "about:blank", title: "Not Found", detail: "item 42 was not found",
 *   instance: "/items/42", code: "resilience.E0002", tag: "NotFoundError", requestId: "req-1"
 * })
 * // { type: "about:blank", title: "Not Found", status: 404, detail: "item 42 was not found",
 * //   instance: "/items/42", code: "resilience.E0002", requestId: "req-1" }
 * ```
 *
 * @since 0.1.0
 * @category formats
 */
export const rfc9457: ProblemFormat = {
  name: "rfc9457",
  contentType: "application/problem+json",
  render: (problem) => ({
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance: problem.instance,
    code: problem.code,
    requestId: problem.requestId,
    ...(problem.errors !== undefined && problem.errors.length > 0
      ? { errors: problem.errors.map((e) => ({ pointer: e.pointer, detail: e.detail })) }
      : {})
  }),
  schema: (status) =>
    Schema.Struct({
      type: Schema.String,
      title: Schema.String,
      status: Schema.Literal(status),
      detail: Schema.String,
      instance: Schema.String,
      code: Schema.String,
      requestId: Schema.String,
      errors: Schema.optional(Schema.Array(Schema.Struct({ pointer: Schema.String, detail: Schema.String })))
    }).annotate({ identifier: `Problem${status}`, description: "RFC 9457 problem details" })
}

/**
 * The envelope shape `{"error": {"code", "message", "request_id", "status"}}`, plus `details` (`[{ pointer,
 * detail }]`) for invalid input, as `application/json`.
 *
 * **Example**
 *
 * ```ts
 * import { HttpEdge, ProblemFormat } from "@effect-resilience/http"
 *
 * // every handler of this edge now answers with the envelope
 * const Edge = HttpEdge.make({ format: ProblemFormat.envelope })
 * ```
 *
 * @since 0.1.0
 * @category formats
 */
export const envelope: ProblemFormat = {
  name: "envelope",
  contentType: "application/json",
  render: (problem) => ({
    error: {
      code: problem.code,
      message: problem.detail,
      request_id: problem.requestId,
      status: problem.status,
      ...(problem.errors !== undefined && problem.errors.length > 0
        ? { details: problem.errors.map((e) => ({ pointer: e.pointer, detail: e.detail })) }
        : {})
    }
  }),
  schema: (status) =>
    Schema.Struct({
      error: Schema.Struct({
        code: Schema.String,
        message: Schema.String,
        request_id: Schema.String,
        status: Schema.Literal(status),
        details: Schema.optional(Schema.Array(Schema.Struct({ pointer: Schema.String, detail: Schema.String })))
      })
    }).annotate({ identifier: `ErrorEnvelope${status}` })
}

/**
 * The response for a problem in a format: its status, the rendered body with the format's content type, the
 * `Retry-After` header when the problem carries one, and the request id header.
 *
 * **Example**
 *
 * ```ts
 * import { ProblemFormat } from "@effect-resilience/http"
 *
 * const response = ProblemFormat.toResponse(ProblemFormat.rfc9457, {
 *   status: 503, type: "about:blank", title: "Service Unavailable",
 *   detail: "The service is temporarily unavailable. Please try again later.",
 *   instance: "/save", code: "resilience.E0008", tag: "BreakerOpenError", requestId: "req-1",
 *   retryAfterSeconds: 5
 * })
 * response.status // 503, with headers retry-after: 5 and x-request-id: req-1
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toResponse = (
  format: ProblemFormat,
  problem: Problem.Problem,
  requestIdHeader = "x-request-id"
): HttpServerResponse.HttpServerResponse => {
  const headers: Record<string, string> = { [requestIdHeader]: problem.requestId }
  if (problem.retryAfterSeconds !== undefined) headers["retry-after"] = String(problem.retryAfterSeconds)
  return HttpServerResponse.text(JSON.stringify(format.render(problem)), {
    status: problem.status,
    contentType: format.contentType,
    headers
  })
}
