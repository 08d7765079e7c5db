/**
 * The edge for APIs declared with effect's `HttpApi`: error families declared as endpoint errors, documented in
 * the OpenAPI document with their mapped status and the edge's problem schema, and answered at run time with
 * exactly the problem response `HttpEdge` gives a router handler.
 *
 * - `HttpApiEdge.error(edge, Family)` declares a family as an endpoint error: status from the edge's mapping,
 *   body schema and content type from the edge's format.
 * - `HttpApiEdge.Middleware` (provided by `HttpApiEdge.layer(edge)`) answers an endpoint's failures with
 *   `edge.respond`: declared families, request decoding failures (400 or the edge's `validationStatus`, with one
 *   `errors` entry per failing field) and defects (500, generic detail).
 * - `edge.layer`, the edge's global `HttpRouter` middleware, applies to an `HttpApi` served through `HttpRouter`
 *   as to any route: request ids, the request log, the body size limit.
 * - `HttpApiEdge.annotations(edge)` (on the API, with `.annotateMerge`) completes the OpenAPI document with what
 *   the edge answers on every endpoint: 413 and 415 problems for every endpoint with a request body, the 429
 *   problem and the `RateLimit` headers when the edge rate-limits, the request id header on every response,
 *   `Retry-After` on the statuses that carry it.
 *
 * **Gotchas**
 *
 * - `.middleware(HttpApiEdge.Middleware)` applies to the groups added before it: add it after the groups, as the
 *   outermost middleware.
 * - Failures the edge cannot map (effect's own `HttpApiError` classes, errors declared with their own schema) are
 *   left to effect, which answers them by their declaration; the request log still gets the cause.
 * - A typed `HttpApiClient` cannot rebuild a family's error from its problem body (the body carries no internal
 *   fields): decoding it fails with a schema issue.
 *
 * @since 0.1.0
 */
import { Cause, Context, Effect, JsonSchema, Layer, Schema, SchemaGetter, type SchemaIssue } from "effect"
import { HttpServerRequest } from "effect/http"
import { HttpApiError, type HttpApiEndpoint, HttpApiMiddleware, HttpApiSchema, OpenApi } from "effect/http-api"
import { Bulkhead, CircuitBreaker, CommonErrors, type ErrorFamily, RateLimiter } from "@effect-resilience/core"
import type * as ErrorMapping from "./ErrorMapping.js"
import type * as HttpEdge from "./HttpEdge.js"
import { isRequestSlot, type RequestSlot, validationOf } from "./internal/clientErrors.js"
import { CurrentRequestState, recordParams } from "./internal/requestState.js"
import { mediaTypeOf, pathOf } from "./internal/url.js"
import type * as ProblemFormat from "./ProblemFormat.js"
import * as RequestErrors from "./RequestErrors.js"
import * as RequestId from "./RequestId.js"

/**
 * The `HttpApi` middleware of the edge: every failure of an endpoint it applies to is answered by the edge
 * (`edge.respond`), with the same status, body and headers (`x-request-id`, `Retry-After`) as a router handler
 * wrapped by `edge.handle`. Provide it with {@link layer}.
 *
 * **Details**
 *
 * - Failures with a classified error (every family), effect's `TimeoutError` or a tag the edge overrides: the
 *   mapped problem.
 * - Request decoding failures (effect's `HttpApiSchemaError` for params, query, headers and payload): a
 *   `ValidationError` (`resilience.E0001`, status 400 or the edge's `validationStatus`), with one
 *   `errors: [{ pointer, detail }]` entry per failing field. Payload pointers are into the body (`#/name`, as
 *   `HttpEdge.json` gives them); the others start with their slot (`#/query/page`, `#/params/id`,
 *   `#/headers/x-tenant`). Schema stops at the first failing field unless the API is annotated with
 *   `HttpApi.ParseOptions` `{ errors: "all" }`. A JSON payload that does not parse is a `MalformedBodyError`
 *   (400, `resilience.E0101`), as with `HttpEdge.json`.
 * - A payload over the limit (effect's `HttpApiPayloadTooLarge`, or a body over the edge's `maxBodyBytes`): 413.
 * - Defects, and response encoding failures (a server bug): 500 with the generic detail, reported.
 * - Other failures (effect's own `HttpApiError` classes, or errors declared with their own schema) are left to
 *   effect, which encodes them by their declaration.
 *
 * Without it, `edge.layer` still answers request decoding failures (effect turns them into defects, which the
 * edge recognizes) with the same `ValidationError` problem, and declared families through their error schema; but
 * a malformed JSON payload is then a validation problem rather than a `MalformedBodyError`, and `Retry-After` is
 * missing.
 *
 * Add it with `.middleware(HttpApiEdge.Middleware)` after the groups (an API's middleware applies to the groups
 * added before it) and after any other middleware, so it is the outermost one.
 *
 * It replaces effect's `HttpApiMiddleware.ProblemDetails`: that one renders decoding failures as a fixed
 * `BadRequestProblem` (generic detail, `errors: [{ path, message }]`, no `code` or `requestId`, always RFC 9457),
 * which neither the edge's format nor its `validationStatus` can change, and it leaves handler failures and
 * defects alone. This middleware tells request decoding failures from response encoding failures the same way it
 * does (by the `HttpApiSchemaError` kind).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
 * import { CommonErrors } from "@effect-resilience/core"
 * import { HttpApiEdge, HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 *
 * const Items = HttpApiGroup.make("items").add(
 *   HttpApiEndpoint.get("get", "/items/:id", {
 *     params: { id: Schema.String },
 *     success: Schema.Struct({ id: Schema.String }),
 *     error: HttpApiEdge.error(Edge, CommonErrors.NotFoundError)
 *   })
 * )
 * const Api = HttpApi.make("shop").add(Items).middleware(HttpApiEdge.Middleware)
 *   .annotate(HttpApi.ParseOptions, { errors: "all" })
 *   .annotateMerge(HttpApiEdge.annotations(Edge)) // OpenAPI: 413/415, x-request-id and Retry-After
 *
 * const ItemsLive = HttpApiBuilder.group(Api, "items", (handlers) =>
 *   handlers.handle("get", ({ params }) =>
 *     Effect.fail(new CommonErrors.NotFoundError({ resource: "item", id: params.id })))
 * )
 *
 * // GET /items/42 -> 404 application/problem+json, code resilience.E0002, x-request-id header = body requestId
 * const App = Layer.mergeAll(
 *   HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
 *     Layer.provide(ItemsLive),
 *     Layer.provide(HttpApiEdge.layer(Edge))
 *   ),
 *   Edge.layer
 * )
 * const Server = HttpRouter.serve(App)
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Middleware
  extends HttpApiMiddleware.Service<Middleware>()("@effect-resilience/http/HttpApiEdge/Middleware")
{}

const isJsonPayload = (endpoint: HttpApiEndpoint.Top, request: HttpServerRequest.HttpServerRequest): boolean => {
  if (endpoint.payload.size === 0) return false
  const mediaType = mediaTypeOf(request.headers["content-type"] ?? "application/json")
  return endpoint.payload.get(mediaType)?.encoding._tag === "Json"
}

const methodsWithBody = new Set(["POST", "PUT", "PATCH"])

const unsupportedMediaTypeOf = (
  endpoint: HttpApiEndpoint.Top,
  request: HttpServerRequest.HttpServerRequest
): RequestErrors.UnsupportedMediaTypeError | undefined => {
  const contentType = request.headers["content-type"]
  if (endpoint.payload.size === 0 || contentType === undefined || !methodsWithBody.has(request.method)) return undefined
  const mediaType = mediaTypeOf(contentType)
  if (endpoint.payload.has(mediaType)) return undefined
  return new RequestErrors.UnsupportedMediaTypeError({
    received: mediaType,
    expected: [...endpoint.payload.keys()].join(" or ")
  })
}

const parseFailureOf = (text: string): string | undefined => {
  try {
    JSON.parse(text)
    return undefined
  } catch (e) {
    return e instanceof globalThis.Error ? e.message : String(e)
  }
}

// A request that failed decoding, as the router edge would see it: malformed JSON (the body is read and cached
// by then) is a MalformedBodyError as with HttpEdge.json, anything else a ValidationError with one issue per field.
const requestErrorOf = (
  kind: RequestSlot,
  error: Schema.SchemaError,
  endpoint: HttpApiEndpoint.Top,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<CommonErrors.ValidationError | RequestErrors.MalformedBodyError> => {
  const invalid = validationOf(kind, error)
  if (kind !== "Payload" || !isJsonPayload(endpoint, request)) return Effect.succeed(invalid)
  return Effect.match(request.text, {
    onFailure: () => invalid,
    onSuccess: (text) => {
      const detail = parseFailureOf(text)
      return detail === undefined ? invalid : new RequestErrors.MalformedBodyError({ detail })
    }
  })
}

// Causes built here hold failures the edge always answers, so `respond` never passes them on: `Cause<never>`.
const answered = (error: unknown): Cause.Cause<never> => Cause.fail(error) as Cause.Cause<never>

// The cause the edge answers, or undefined to leave the failure to effect's encoding of declared errors.
const answerable = <E>(
  mapping: ErrorMapping.ErrorMapping<any>,
  endpoint: HttpApiEndpoint.Top,
  request: HttpServerRequest.HttpServerRequest,
  cause: Cause.Cause<E>
): Effect.Effect<Cause.Cause<E> | undefined> => {
  // a defect beside typed failures is answered as the defect: never hidden behind the typed error
  if (cause.reasons.some(Cause.isDieReason)) return Effect.succeed(cause)
  const failure = cause.reasons.find(Cause.isFailReason)
  // defects, among them bodies effect read with orDie (over the limit, cut short), which `respond` answers as the
  // client's fault
  if (failure === undefined) return Effect.succeed(cause)
  const e = failure.error
  if (HttpApiError.HttpApiSchemaError.is(e)) {
    // a response that fails its own schema is a bug of the server
    if (!isRequestSlot(e.kind)) return Effect.succeed(Cause.die(e))
    return Effect.map(requestErrorOf(e.kind, e.cause, endpoint, request), answered)
  }
  if (HttpApiError.HttpApiPayloadTooLarge.is(e)) {
    return Effect.succeed(answered(new RequestErrors.PayloadTooLargeError({ limitBytes: Number(e.size) })))
  }
  return Effect.succeed(mapping.isMappable(e) ? cause : undefined)
}

/**
 * Provides {@link Middleware} for an edge.
 *
 * **Details**
 *
 * With `edge.layer` installed (it is a global `HttpRouter` middleware, so it applies to an `HttpApi` served through
 * `HttpRouter`), the answered failure goes to the request's log line, with the route parameters and the
 * (redacted) JSON body, and 5xx are reported there; without it, the failure is logged and reported when answered.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpApi, HttpApiBuilder, HttpApiGroup } from "effect/http-api"
 * import { HttpApiEdge, HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make({ validationStatus: 422 })
 * const Api = HttpApi.make("shop").add(HttpApiGroup.make("items")).middleware(HttpApiEdge.Middleware)
 *
 * const ApiLive = HttpApiBuilder.layer(Api).pipe(
 *   Layer.provide(HttpApiBuilder.group(Api, "items", (handlers) => handlers)),
 *   Layer.provide(HttpApiEdge.layer(Edge))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Tags extends string>(edge: HttpEdge.HttpEdge<Tags>): Layer.Layer<Middleware> =>
  Layer.succeed(Middleware, (httpEffect, { endpoint }) =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const state = fiber.getRef(CurrentRequestState)
      recordParams(fiber, state)
      // The body, for the log line as HttpEdge.json would give it. It is read only where the payload decoder has
      // already read (and cached) it: after success, a payload failure or a handler failure; never after a
      // params, query or headers failure, which must not wait for a slow client's body.
      const recordBody = state !== undefined && isJsonPayload(endpoint, request)
        ? Effect.ignore(Effect.map(request.json, (body) => {
          state.body = body
        }))
        : Effect.void
      // A media type the endpoint does not take: the edge's 415 problem (effect would answer plain text).
      const unsupported = unsupportedMediaTypeOf(endpoint, request)
      if (unsupported !== undefined) return edge.respond(answered(unsupported))
      return httpEffect.pipe(
        Effect.tap(() => recordBody),
        Effect.catchCause((cause) =>
          Effect.flatMap(
            answerable(edge.mapping, endpoint, request, cause),
            (edgeCause) => {
              if (edgeCause === undefined) {
                // left to effect, which answers and reports it; the request's log line still gets the cause
                if (state !== undefined) state.unanswered = cause
                return Effect.failCause(cause)
              }
              const failure = cause.reasons.find(Cause.isFailReason)?.error
              const beforePayload = failure === undefined ||
                (HttpApiError.HttpApiSchemaError.is(failure) && failure.kind !== "Payload")
              return beforePayload ? edge.respond(edgeCause) : Effect.andThen(recordBody, edge.respond(edgeCause))
            }
          )
        )
      )
    }))

/**
 * An error family class, as {@link error} accepts it: a `Schema` class carrying its static `family`
 * (every class built with `ErrorFamily.TaggedError`).
 *
 * **Example**
 *
 * ```ts
 * import { CircuitBreaker, CommonErrors } from "@effect-resilience/core"
 * import type { HttpApiEdge } from "@effect-resilience/http"
 *
 * const families: ReadonlyArray<HttpApiEdge.Family> = [CommonErrors.StorageError, CircuitBreaker.BreakerOpenError]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Family = Schema.Top & { readonly family: ErrorFamily.FamilyInfo }

/**
 * The schema {@link error} returns: its type is the family's instances (what handlers fail with), its encoded
 * side the edge format's problem body, annotated with the mapped status and the format's content type.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors } from "@effect-resilience/core"
 * import { HttpApiEdge, HttpEdge } from "@effect-resilience/http"
 *
 * const NotFound: HttpApiEdge.ErrorSchema<typeof CommonErrors.NotFoundError> =
 *   HttpApiEdge.error(HttpEdge.make(), CommonErrors.NotFoundError)
 * // NotFound.Type is CommonErrors.NotFoundError
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorSchema<F extends Family> extends Schema.decodeTo<Schema.toType<F>, ProblemFormat.BodySchema> {}

// one body schema per format and status, so families sharing a status share one OpenAPI component
const bodySchemas = new WeakMap<ProblemFormat.ProblemFormat, Map<number, ProblemFormat.BodySchema>>()

const bodySchemaOf = (format: ProblemFormat.ProblemFormat, status: number): ProblemFormat.BodySchema => {
  let byStatus = bodySchemas.get(format)
  if (byStatus === undefined) bodySchemas.set(format, byStatus = new Map())
  let schema = byStatus.get(status)
  if (schema === undefined) byStatus.set(status, schema = format.schema(status))
  return schema
}

/**
 * Declares an error family as an endpoint error of an `HttpApi`.
 *
 * **Details**
 *
 * The schema is documented under the status `edge.mapping.statusOfFamily(Family.family)` gives (overrides
 * included), with `edge.format.schema(status)` as body and `edge.format.contentType` as media type
 * (`application/problem+json` for the default RFC 9457 format). Its type is the family's instances, so a handler
 * of the endpoint may fail with them.
 *
 * At run time {@link Middleware} answers these failures before effect encodes them. Without it, encoding still
 * renders the same problem body and status, but without `Retry-After` and without the failure in the request log.
 * A typed `HttpApiClient` cannot rebuild the error from a problem body (the body holds no internal fields), so
 * decoding fails with a schema issue.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { HttpApiEndpoint } from "effect/http-api"
 * import { CommonErrors } from "@effect-resilience/core"
 * import { HttpApiEdge, HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 *
 * // OpenAPI: 503 and 400, application/problem+json, with the problem schema
 * const save = HttpApiEndpoint.post("save", "/save", {
 *   payload: Schema.Struct({ name: Schema.NonEmptyString }),
 *   success: Schema.Struct({ result: Schema.String }),
 *   error: [HttpApiEdge.error(Edge, CommonErrors.StorageError), HttpApiEdge.error(Edge, CommonErrors.ValidationError)]
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const error = <Tags extends string, F extends Family>(
  edge: HttpEdge.HttpEdge<Tags>,
  family: F
): ErrorSchema<F> => {
  const status = edge.mapping.statusOfFamily(family.family)
  const body = bodySchemaOf(edge.format, status)
  const schema = body.pipe(
    Schema.decodeTo(Schema.toType(family), {
      decode: SchemaGetter.forbidden(() =>
        `a ${family.family.tag} problem body cannot be decoded back into the error (it carries no internal fields)`
      ),
      // reached only when Middleware is not installed: the same body, from what the request fiber knows
      encode: SchemaGetter.transformEffect((error: F["Type"]) =>
        Effect.withFiber<unknown, SchemaIssue.Issue>((fiber) => {
          const request = Context.getOrUndefined(fiber.context, HttpServerRequest.HttpServerRequest)
          const requestId = fiber.getRef(CurrentRequestState)?.requestId ?? fiber.getRef(RequestId.CurrentRequestId) ??
            RequestId.generate()
          const problem = edge.mapping.problem(error, { path: request ? pathOf(request.url) : "", requestId })
          return Effect.succeed(edge.format.render(problem))
        })
      )
    }),
    HttpApiSchema.status(status),
    HttpApiSchema.asJson({ contentType: edge.format.contentType })
  )
  return schema as ErrorSchema<F>
}

type Json = Record<string, any>

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const operationKeys = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const

// every operation of a document, QUERY operations (under x-oai-additionalOperations) included
const operationsOf = (spec: Json): Array<Json> => {
  const out: Array<Json> = []
  for (const item of Object.values(isObject(spec.paths) ? spec.paths : {})) {
    if (!isObject(item)) continue
    for (const key of operationKeys) if (isObject(item[key])) out.push(item[key])
    const more = item["x-oai-additionalOperations"]
    if (isObject(more)) for (const op of Object.values(more)) if (isObject(op)) out.push(op)
  }
  return out
}

// the OpenAPI 3.1 JSON Schema of a problem body, as effect documents declared errors (excess properties refused),
// and the component definitions it refers to
const openApiSchemaOf = (schema: Schema.Top): { readonly schema: Json; readonly definitions: Json } => {
  const document = Schema.toJsonSchemaDocument(Schema.toCodecJson(schema), { onExcessProperty: "error" })
  const multi = JsonSchema.toMultiDocumentOpenApi3_1({
    dialect: document.dialect,
    schemas: [document.schema],
    definitions: document.definitions
  })
  return { schema: multi.schemas[0] as Json, definitions: multi.definitions }
}

/**
 * The OpenAPI transformation of an edge: it adds to a generated document (`OpenApi.fromApi`, or the one served at
 * `openapiPath`) what the edge answers on every endpoint, whether declared or not.
 *
 * **Details**
 *
 * - Every operation with a request body gets the 413 (`PayloadTooLargeError`, `resilience.E0103`) and 415
 *   (`UnsupportedMediaTypeError`, `resilience.E0102`) responses, at the statuses the edge's mapping gives them,
 *   with the format's problem schema and content type. A status the operation already documents with the format's
 *   content type is left as it is.
 * - Every response gets the edge's request id header (`X-Request-Id`, or `requestIdHeader`): the problems the
 *   edge answers always carry it, other responses with `edge.layer` installed (as the examples have it).
 * - With the edge's `rateLimit` option, every operation gets the 429 (`RateLimitedError`, `resilience.E0010`)
 *   response at the status the edge's mapping gives it, and, unless its `headers` are off, every response gets
 *   the optional `RateLimit-Policy` and `RateLimit` headers.
 * - The responses at the statuses of `BreakerOpenError`, `BulkheadFullError` and `UnavailableError` (503 by
 *   default) and of `RateLimitedError` (429) get an optional `Retry-After` header, in seconds.
 *
 * Use {@link annotations} to install it; this function is for composing with a transformation of your own.
 *
 * **Example**
 *
 * ```ts
 * import { HttpApi, HttpApiGroup, OpenApi } from "effect/http-api"
 * import { HttpApiEdge, HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 * const edgeDocs = HttpApiEdge.openApi(Edge)
 *
 * const Api = HttpApi.make("shop").add(HttpApiGroup.make("items")).middleware(HttpApiEdge.Middleware)
 *   .annotate(OpenApi.Transform, (spec) => ({ ...edgeDocs(spec), "x-owner": "team-shop" }))
 * ```
 *
 * @since 0.1.0
 * @category openapi
 */
export const openApi = <Tags extends string>(edge: HttpEdge.HttpEdge<Tags>) => (spec: Json): Json => {
  const { contentType } = edge.format
  const requestIdHeader = edge.requestIdHeader.toLowerCase()
  // status -> the tags the edge answers there on every endpoint with a body
  const bodyStatuses = new Map<number, Array<string>>()
  for (const family of [RequestErrors.PayloadTooLargeError, RequestErrors.UnsupportedMediaTypeError]) {
    const status = edge.mapping.statusOfFamily(family.family)
    bodyStatuses.set(status, [...(bodyStatuses.get(status) ?? []), family.family.tag])
  }
  // status -> the tags the edge answers there on every endpoint: its rate limit's refusal
  const everyStatuses = new Map<number, Array<string>>()
  if (edge.rateLimit !== undefined) {
    const { family } = RateLimiter.RateLimitedError
    everyStatuses.set(edge.mapping.statusOfFamily(family), [family.tag])
  }
  const retryStatuses = new Set(
    [
      CircuitBreaker.BreakerOpenError,
      Bulkhead.BulkheadFullError,
      RateLimiter.RateLimitedError,
      CommonErrors.UnavailableError
    ].map((family) => String(edge.mapping.statusOfFamily(family.family)))
  )
  const rateLimitHeaders = edge.rateLimit?.headers === true
  const components: Json = isObject(spec.components) ? spec.components : (spec.components = {})
  const schemas: Json = isObject(components.schemas) ? components.schemas : (components.schemas = {})
  const problemSchemas = new Map<number, Json>()
  const problemSchemaOf = (status: number): Json => {
    let schema = problemSchemas.get(status)
    if (schema === undefined) {
      const generated = openApiSchemaOf(bodySchemaOf(edge.format, status))
      // a component a declared error already gave (the same body schema) is kept
      for (const [name, definition] of Object.entries(generated.definitions)) {
        if (!Object.hasOwn(schemas, name)) schemas[name] = definition
      }
      problemSchemas.set(status, schema = generated.schema)
    }
    return schema
  }
  // a status the operation already documents with the format's content type is left as it is
  const addProblems = (responses: Json, statuses: Map<number, Array<string>>) => {
    for (const [status, tags] of statuses) {
      const key = String(status)
      const existing = responses[key]
      if (!isObject(existing)) {
        const content = { [contentType]: { schema: problemSchemaOf(status) } }
        responses[key] = { description: tags.join(" | "), content }
      } else if (!isObject(existing.content) || existing.content[contentType] === undefined) {
        const content = isObject(existing.content) ? existing.content : {}
        existing.content = { ...content, [contentType]: { schema: problemSchemaOf(status) } }
        existing.description = [existing.description, ...tags]
          .filter((d) => typeof d === "string" && d !== "")
          .join(" | ")
      }
    }
  }
  for (const op of operationsOf(spec)) {
    const responses: Json = isObject(op.responses) ? op.responses : (op.responses = {})
    if (op.requestBody !== undefined) addProblems(responses, bodyStatuses)
    addProblems(responses, everyStatuses)
    for (const [status, response] of Object.entries(responses)) {
      if (!isObject(response)) continue
      const headers: Json = isObject(response.headers) ? response.headers : (response.headers = {})
      if (!Object.hasOwn(headers, requestIdHeader)) {
        headers[requestIdHeader] = {
          description: "The request's id: the client's when well-formed, else a generated one. A problem body " +
            "repeats it as `requestId`.",
          required: true,
          schema: { type: "string" }
        }
      }
      if (retryStatuses.has(status) && !Object.hasOwn(headers, "retry-after")) {
        headers["retry-after"] = {
          description: "For a rejection (an open circuit breaker, a full bulkhead, a rate limit, an unavailable " +
            "dependency that said when): the seconds until a retry may succeed.",
          required: false,
          schema: { type: "integer", minimum: 1 }
        }
      }
      if (rateLimitHeaders && !Object.hasOwn(headers, "ratelimit-policy")) {
        headers["ratelimit-policy"] = {
          description: 'The rate limit of the client\'s key (draft-ietf-httpapi-ratelimit-headers): ' +
            '`"default";q=<limit>;w=<window in seconds>`.',
          required: false,
          schema: { type: "string" }
        }
      }
      if (rateLimitHeaders && !Object.hasOwn(headers, "ratelimit")) {
        headers["ratelimit"] = {
          description: "What is left of the client's rate limit (draft-ietf-httpapi-ratelimit-headers): " +
            '`"default";r=<requests left>;t=<seconds>`.',
          required: false,
          schema: { type: "string" }
        }
      }
    }
  }
  return spec
}

/**
 * The OpenAPI annotations of an edge, for `HttpApi.annotateMerge`: the document generated for the API
 * (`OpenApi.fromApi`, and the one served at `openapiPath`) lists what the edge answers on every endpoint (see
 * {@link openApi}): 413 and 415 problems for every endpoint with a request body, the 429 problem and the
 * `RateLimit` headers when the edge rate-limits, the request id header on every response, and `Retry-After` on
 * the statuses of rejections.
 *
 * **Details**
 *
 * It sets the API's `OpenApi.Transform`; to add a transformation of your own, compose it with {@link openApi}
 * instead.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
 * import { CommonErrors } from "@effect-resilience/core"
 * import { HttpApiEdge, HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 * const Items = HttpApiGroup.make("items").add(
 *   HttpApiEndpoint.post("save", "/save", {
 *     payload: Schema.Struct({ name: Schema.String }),
 *     error: HttpApiEdge.error(Edge, CommonErrors.StorageError)
 *   })
 * )
 * const Api = HttpApi.make("shop").add(Items).middleware(HttpApiEdge.Middleware)
 *   .annotateMerge(HttpApiEdge.annotations(Edge))
 *
 * // POST /save documents 413, 415 and 503 problems, x-request-id on every response, retry-after on the 503
 * const doc = OpenApi.fromApi(Api)
 * ```
 *
 * @since 0.1.0
 * @category openapi
 */
export const annotations = <Tags extends string>(edge: HttpEdge.HttpEdge<Tags>): Context.Context<never> =>
  OpenApi.annotations({ transform: openApi(edge) })
