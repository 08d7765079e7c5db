/**
 * The edge of a web service: the one layer that turns typed errors into problem responses, gives every request
 * an id, logs every request, and reports every 5xx.
 *
 * - `edge.handle(handler)` answers a route's typed failures with problems. Its type refuses a handler whose error
 *   channel holds an error the edge cannot map.
 * - `edge.layer` is a global `HttpRouter` middleware: request ids (on every response, 404 and 500 included, in
 *   every log line and in problem bodies), the body size limit, the request log, and problems for whatever no
 *   handler answered (unknown routes, defects in routes not wrapped by `handle`).
 * - `HttpEdge.json(schema)` reads a JSON body with typed errors for a wrong media type, a body over the limit,
 *   malformed JSON and invalid fields.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, ErrorReporter, Layer, Schema } from "effect"
import {
  HttpEffect,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpRouter,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { CommonErrors, ErrorFamily } from "@effect-resilience/core"
import * as ByteSize from "effect/ByteSize"
import type * as LogLevel from "effect/LogLevel"
import * as ErrorMapping from "./ErrorMapping.js"
import { bodyErrorOf, clientCauseOf } from "./internal/clientErrors.js"
import { listenerOf } from "./internal/nodeClientErrors.js"
import { CurrentRequestState, recordParams, type RequestState } from "./internal/requestState.js"
import { unknownKeys } from "./internal/unknownKeys.js"
import { mediaTypeOf, pathOf, queryOf } from "./internal/url.js"
import type * as Problem from "./Problem.js"
import * as ProblemFormat from "./ProblemFormat.js"
import * as RequestErrors from "./RequestErrors.js"
import * as RequestId from "./RequestId.js"
import * as RequestLog from "./RequestLog.js"

/**
 * Options of {@link make}: the mapping's options (`statuses`, `validationStatus`, `businessStatus`,
 * `typeBase`) plus
 *
 * - `format`: the body format of problems, {@link ProblemFormat.rfc9457} by default.
 * - `redact`: names of headers, query keys and body keys to redact in request logs, added to
 *   `RequestLog.defaults`.
 * - `maxBodyBytes`: the largest request body read (default 1 MiB); a larger one is answered 413.
 * - `requestIdHeader`: the header carrying the request id (default `x-request-id`).
 * - `logRequests`: whether the middleware logs one line per request (default `true`); `logHeaders` adds the
 *   (redacted) request headers to it.
 * - `rejectionTags`: tags of errors that are fast rejections (a breaker that is open, later a full bulkhead or
 *   a rate limit), added to {@link defaultRejectionTags}. A 5xx answering only rejections is logged at
 *   `rejectionLogLevel` (default `"Warn"`) without its cause: it is the service protecting itself, not an
 *   incident. Every other 5xx stays at `"Error"` with its full cause.
 *
 * An unknown key (a misspelt `validationStatuss`) is an invalid option, reported with the nearest known name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<O extends ErrorMapping.Overrides = {}> extends ErrorMapping.Options<O> {
  readonly format?: ProblemFormat.ProblemFormat | undefined
  readonly redact?: RequestLog.Redaction | undefined
  readonly maxBodyBytes?: number | undefined
  readonly requestIdHeader?: string | undefined
  readonly logRequests?: boolean | undefined
  readonly logHeaders?: boolean | undefined
  readonly rejectionTags?: ReadonlyArray<string> | undefined
  readonly rejectionLogLevel?: LogLevel.Severity | undefined
}

/**
 * The tags of the errors that are rejections by default: `BreakerOpenError`, a call an open breaker refused
 * without running it. A 5xx answering one is logged at the edge's `rejectionLogLevel` (`"Warn"` by default),
 * without its cause.
 *
 * **Example**
 *
 * ```ts
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * HttpEdge.defaultRejectionTags // ["BreakerOpenError"]
 * // a service's own fast refusal joins them
 * const Edge = HttpEdge.make({ rejectionTags: ["QuotaExceeded"], statuses: { QuotaExceeded: 503 } })
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRejectionTags: ReadonlyArray<string> = ["BreakerOpenError"]

/**
 * The compiler's message when `handle` is given a handler whose error channel holds an error the edge cannot
 * map: the error has no `ErrorFamily` classification and the edge has no override for its tag.
 *
 * **Example**
 *
 * ```ts
 * import type { HttpEdge } from "@effect-resilience/http"
 *
 * const message: HttpEdge.UnclassifiedMessage =
 *   "this error is not classified: declare it with ErrorFamily or add an override on the edge"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type UnclassifiedMessage =
  "this error is not classified: declare it with ErrorFamily or add an override on the edge"

/**
 * The errors of `E` that an edge with override tags `Tags` cannot map (`never` when it can map them all).
 *
 * **Example**
 *
 * ```ts
 * import type { CommonErrors } from "@effect-resilience/core"
 * import type { HttpEdge } from "@effect-resilience/http"
 *
 * type Left = HttpEdge.Unmappable<CommonErrors.StorageError | Error> // Error
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Unmappable<E, Tags extends string = never> = Exclude<E, ErrorMapping.Mappable<Tags>>

/**
 * What `handle` asks for instead of a handler that can fail with unmappable errors: an object whose one key is
 * {@link UnclassifiedMessage} and whose value names the offending errors. A handler is never such an object, so
 * the compiler reports `Property '"this error is not classified: declare it with ErrorFamily or add an override
 * on the edge"' is missing in type 'Effect<HttpServerResponse, Error, never>'`, with the unmappable errors in
 * the required type.
 *
 * **Example**
 *
 * ```ts
 * import type { HttpEdge } from "@effect-resilience/http"
 *
 * type Asked = HttpEdge.Unclassified<Error>
 * // { readonly "this error is not classified: declare it with ErrorFamily or add an override on the edge": Error }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Unclassified<E> = { readonly [K in UnclassifiedMessage]: E }

/**
 * The handler type `handle` accepts for an error channel `E`: the handler itself when every error of `E` is
 * mappable, {@link Unclassified} of the others otherwise.
 *
 * **Example**
 *
 * ```ts
 * import type { Effect } from "effect"
 * import type { HttpServerResponse } from "effect/http"
 * import type { HttpEdge } from "@effect-resilience/http"
 *
 * type Accepted = HttpEdge.Handler<never, never> // Effect<HttpServerResponse, never, never>
 * type Refused = HttpEdge.Handler<Error, never> // HttpEdge.Unclassified<Error>
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<E, R, Tags extends string = never> = [Unmappable<E, Tags>] extends [never]
  ? Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  : Unclassified<Unmappable<E, Tags>>

/**
 * An edge: a mapping, a body format, and the pieces that apply them.
 *
 * - `handle(handler)`: the handler with every failure answered by a problem response. `E` must be
 *   {@link ErrorMapping.Mappable} for this edge's override tags: a handler that can fail with an error that has
 *   no classification and no override does not compile, and the compiler's message says so
 *   ({@link UnclassifiedMessage}).
 * - `respond(cause)`: the problem response for a cause (interruptions are passed on).
 * - `layer`: the global middleware; fails to build with {@link HttpEdgeConfigError} on invalid options.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpEdge<Tags extends string = never> {
  readonly mapping: ErrorMapping.ErrorMapping<Tags>
  readonly format: ProblemFormat.ProblemFormat
  readonly requestIdHeader: string
  readonly handle: {
    <E extends ErrorMapping.Mappable<Tags>, R>(
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest>
    // only reached by a handler the first signature refuses: the compiler's message is the Unclassified key
    <E, R>(
      handler: Handler<E, R, Tags>
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest>
  }
  readonly respond: <E>(
    cause: Cause.Cause<E>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest>
  readonly layer: Layer.Layer<never, HttpEdgeConfigError, HttpRouter.HttpRouter>
}

/**
 * One invalid option: where it is and what is wrong with it.
 *
 * @since 0.1.0
 * @category errors
 */
export const ConfigIssue = Schema.Struct({ path: Schema.String, message: Schema.String })

/**
 * The edge's options are invalid; `issues` lists every problem at once. The middleware layer fails to build with
 * it, so a misconfigured edge never serves.
 *
 * **Example**
 *
 * ```ts
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * HttpEdge.validate({ statuses: { Teapot: 200 }, maxBodyBytes: -1 })
 * // [{ path: "statuses.Teapot", message: "must be an error status (an integer from 400 to 599), got 200" },
 * //  { path: "maxBodyBytes", message: "must be a positive integer, got -1" }]
 *
 * const loaded: HttpEdge.Options = JSON.parse(`{ "validationStatuss": 422 }`)
 * HttpEdge.validate(loaded)
 * // [{ path: "validationStatuss",
 * //    message: 'Unknown key "validationStatuss", did you mean "validationStatus"?' }]
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpEdgeConfigError extends Schema.TaggedError<HttpEdgeConfigError>()("HttpEdgeConfigError", {
  issues: Schema.Array(ConfigIssue)
}) {
  override get message(): string {
    return `invalid HttpEdge options: ${this.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`
  }
}

const defaultMaxBodyBytes = 1024 * 1024
const headerToken = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
// headers that frame or describe the response, or that the edge sets itself: an id there would break responses
const reservedHeaders = new Set([
  "connection",
  "content-encoding",
  "content-length",
  "content-type",
  "content-range",
  "date",
  "keep-alive",
  "location",
  "retry-after",
  "set-cookie",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "vary",
  "www-authenticate"
])

const isErrorStatus = (u: unknown): boolean => typeof u === "number" && Number.isInteger(u) && u >= 400 && u <= 599

// The known keys, as records over the option types: a key added to a type without being added here does not
// compile, so a new option is never refused as unknown.
const optionKeys: { readonly [K in keyof Options<ErrorMapping.Overrides>]-?: true } = {
  statuses: true,
  validationStatus: true,
  businessStatus: true,
  typeBase: true,
  format: true,
  redact: true,
  maxBodyBytes: true,
  requestIdHeader: true,
  logRequests: true,
  logHeaders: true,
  rejectionTags: true,
  rejectionLogLevel: true
}
const overrideKeys: { readonly [K in keyof Exclude<ErrorMapping.Override, number>]-?: true } = {
  status: true,
  title: true,
  type: true,
  detail: true,
  code: true
}
const redactionKeys: { readonly [K in keyof RequestLog.Redaction]-?: true } = { headers: true, query: true, body: true }
const logLevels: ReadonlyArray<LogLevel.Severity> = ["Fatal", "Error", "Warn", "Info", "Debug", "Trace"]

/**
 * Every problem with a set of options, or an empty array when they are valid.
 *
 * **Example**
 *
 * ```ts
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * HttpEdge.validate({ validationStatus: 422, statuses: { PaymentDeclined: 402 } }) // []
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (options: Options<ErrorMapping.Overrides>): ReadonlyArray<typeof ConfigIssue.Type> => {
  const issues: Array<typeof ConfigIssue.Type> = []
  const show = (u: unknown) => (typeof u === "string" ? JSON.stringify(u) : String(u))
  if (options === null || typeof options !== "object") {
    return [{ path: "", message: `must be an object of options, got ${show(options)}` }]
  }
  issues.push(...unknownKeys(options, Object.keys(optionKeys)))
  if (options.statuses !== undefined) {
    if (options.statuses === null || typeof options.statuses !== "object") {
      issues.push({ path: "statuses", message: `must be an object of overrides by tag, got ${show(options.statuses)}` })
    } else {
      for (const [tag, o] of Object.entries(options.statuses)) {
        const status = typeof o === "number" ? o : o !== null && typeof o === "object" ? o.status : o
        if (!isErrorStatus(status)) {
          issues.push({
            path: typeof o === "object" && o !== null ? `statuses.${tag}.status` : `statuses.${tag}`,
            message: `must be an error status (an integer from 400 to 599), got ${show(status)}`
          })
        }
        if (typeof o === "object" && o !== null) {
          issues.push(...unknownKeys(o, Object.keys(overrideKeys), `statuses.${tag}`))
          for (const key of ["title", "type", "detail"] as const) {
            if (o[key] !== undefined && typeof o[key] !== "string") {
              issues.push({ path: `statuses.${tag}.${key}`, message: `must be a string, got ${show(o[key])}` })
            }
          }
          if (o.code !== undefined && !ErrorFamily.codePattern.test(String(o.code))) {
            issues.push({ path: `statuses.${tag}.code`, message: `must look like service.E0001, got ${show(o.code)}` })
          }
        }
      }
    }
  }
  if (options.validationStatus !== undefined && options.validationStatus !== 400 && options.validationStatus !== 422) {
    issues.push({ path: "validationStatus", message: `must be 400 or 422, got ${show(options.validationStatus)}` })
  }
  if (options.businessStatus !== undefined && !isErrorStatus(options.businessStatus)) {
    issues.push({
      path: "businessStatus",
      message: `must be an error status (an integer from 400 to 599), got ${show(options.businessStatus)}`
    })
  }
  if (options.typeBase !== undefined && typeof options.typeBase !== "string") {
    issues.push({ path: "typeBase", message: `must be a string, got ${show(options.typeBase)}` })
  }
  if (
    options.maxBodyBytes !== undefined &&
    !(typeof options.maxBodyBytes === "number" && Number.isSafeInteger(options.maxBodyBytes) && options.maxBodyBytes > 0)
  ) {
    issues.push({ path: "maxBodyBytes", message: `must be a positive integer, got ${show(options.maxBodyBytes)}` })
  }
  if (
    options.requestIdHeader !== undefined &&
    !(typeof options.requestIdHeader === "string" && headerToken.test(options.requestIdHeader))
  ) {
    issues.push({ path: "requestIdHeader", message: `must be a header name, got ${show(options.requestIdHeader)}` })
  } else if (
    typeof options.requestIdHeader === "string" &&
    (reservedHeaders.has(options.requestIdHeader.toLowerCase()) ||
      options.requestIdHeader.toLowerCase().startsWith("content-"))
  ) {
    issues.push({
      path: "requestIdHeader",
      message: `must not be a header that frames or describes the response, got ${show(options.requestIdHeader)}`
    })
  }
  if (
    options.format !== undefined &&
    (typeof options.format?.render !== "function" || typeof options.format?.contentType !== "string" ||
      typeof options.format?.schema !== "function")
  ) {
    issues.push({ path: "format", message: "must be a ProblemFormat (contentType, render, schema)" })
  }
  if (options.redact !== undefined) {
    if (options.redact === null || typeof options.redact !== "object") {
      issues.push({ path: "redact", message: `must be an object of names by place, got ${show(options.redact)}` })
    } else {
      issues.push(...unknownKeys(options.redact, Object.keys(redactionKeys), "redact"))
      for (const where of ["headers", "query", "body"] as const) {
        const names = options.redact[where]
        if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === "string"))) {
          issues.push({ path: `redact.${where}`, message: "must be an array of names" })
        }
      }
    }
  }
  for (const key of ["logRequests", "logHeaders"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") {
      issues.push({ path: key, message: `must be a boolean, got ${show(options[key])}` })
    }
  }
  const rejectionTags: unknown = options.rejectionTags
  if (rejectionTags !== undefined && !(Array.isArray(rejectionTags) && rejectionTags.every((t) => typeof t === "string"))) {
    issues.push({ path: "rejectionTags", message: "must be an array of error tags" })
  }
  if (options.rejectionLogLevel !== undefined && !logLevels.includes(options.rejectionLogLevel)) {
    issues.push({
      path: "rejectionLogLevel",
      message: `must be one of ${logLevels.map((l) => JSON.stringify(l)).join(", ")}, got ${show(options.rejectionLogLevel)}`
    })
  }
  return issues
}

// ---------------------------------------------------------------------------------------------------------------
// reading bodies
// ---------------------------------------------------------------------------------------------------------------

const isJsonMediaType = (mediaType: string) => mediaType === "application/json" || mediaType.endsWith("+json")

const safeDecode = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

const limitOf = (size: ByteSize.ByteSize | undefined): number | undefined =>
  size === undefined ? undefined : Number(size)

/**
 * The errors {@link json} can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type BodyError =
  | CommonErrors.ValidationError
  | RequestErrors.MalformedBodyError
  | RequestErrors.UnsupportedMediaTypeError
  | RequestErrors.PayloadTooLargeError

/**
 * Reads the request's JSON body and decodes it with a Schema, reporting every failing field.
 *
 * - A media type other than `application/json` (or `*+json`): `UnsupportedMediaTypeError` (415).
 * - A body over the edge's `maxBodyBytes` (by `Content-Length`, or while reading): `PayloadTooLargeError` (413).
 * - Malformed JSON: `MalformedBodyError` (400).
 * - Fields the Schema rejects: `ValidationError` (400 or 422), one issue per field, which the problem lists as
 *   `errors: [{ pointer, detail }]`.
 *
 * The parsed body is kept for the request log line, with its sensitive keys redacted.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 * const Item = Schema.Struct({ name: Schema.NonEmptyString, quantity: Schema.Int })
 *
 * const Save = HttpRouter.add("POST", "/items", Edge.handle(Effect.gen(function*() {
 *   const item = yield* HttpEdge.json(Item)
 *   return HttpServerResponse.jsonUnsafe({ saved: item.name })
 * })))
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const json = <S extends Schema.Top>(
  schema: S
): Effect.Effect<S["Type"], BodyError, HttpServerRequest.HttpServerRequest | S["DecodingServices"]> =>
  Effect.withFiber<S["Type"], BodyError, S["DecodingServices"]>((fiber) => {
    const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
    const state = fiber.getRef(CurrentRequestState)
    const mediaType = mediaTypeOf(request.headers["content-type"])
    if (!isJsonMediaType(mediaType)) {
      return Effect.fail(new RequestErrors.UnsupportedMediaTypeError({ received: mediaType, expected: "application/json" }))
    }
    const limit = limitOf(fiber.getRef(HttpIncomingMessage.MaxBodySize))
    const declared = Number(request.headers["content-length"])
    if (limit !== undefined && Number.isFinite(declared) && declared > limit) {
      return Effect.fail(new RequestErrors.PayloadTooLargeError({ limitBytes: limit }))
    }
    return request.json.pipe(
      Effect.mapError((error) => bodyErrorOf(error, limit)),
      Effect.flatMap((raw) => {
        if (state !== undefined) state.body = raw
        return Schema.decodeUnknownEffect(schema)(raw, { errors: "all" }).pipe(
          Effect.mapError(CommonErrors.validationErrorFromSchema)
        )
      })
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// the edge
// ---------------------------------------------------------------------------------------------------------------

/**
 * Builds an edge. The tags of `statuses` join the errors its `handle` accepts.
 *
 * **Example**
 *
 * ```ts
 * import { Data, Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { CommonErrors } from "@effect-resilience/core"
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{}> {}
 *
 * const Edge = HttpEdge.make({ statuses: { PaymentDeclined: 402 } })
 *
 * const Item = HttpRouter.add("GET", "/items/:id", Edge.handle(Effect.gen(function*() {
 *   const { id } = yield* HttpRouter.params
 *   return yield* Effect.fail(new CommonErrors.NotFoundError({ resource: "item", ...(id ? { id } : {}) }))
 * })))
 * const Pay = HttpRouter.add("POST", "/pay", Edge.handle(Effect.fail(new PaymentDeclined())))
 *
 * // GET /items/42 -> 404 application/problem+json
 * //   { "type": "about:blank", "title": "Not Found", "status": 404, "detail": "item 42 was not found",
 * //     "instance": "/items/42", "code": "resilience.E0002", "requestId": "…" }
 * // POST /pay -> 402
 * const App = Layer.mergeAll(Item, Pay, Edge.layer)
 *
 * // Does not compile: `Error` has no classification and no override. The compiler says
 * // Property '"this error is not classified: declare it with ErrorFamily or add an override on the edge"'
 * // is missing in type 'Effect<never, Error, never>'
 * // HttpRouter.add("GET", "/x", Edge.handle(Effect.fail(new Error("boom"))))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const O extends ErrorMapping.Overrides = {}>(
  options: Options<O> = {}
): HttpEdge<ErrorMapping.TagsOf<O>> => {
  const mapping = ErrorMapping.make(options)
  const format = options.format ?? ProblemFormat.rfc9457
  const requestIdHeader = (options.requestIdHeader ?? "x-request-id").toLowerCase()
  const redaction = RequestLog.merge(options.redact)
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  const maxBodySize = ByteSize.bytes(maxBodyBytes)
  const logRequests = options.logRequests ?? true
  const logHeaders = options.logHeaders ?? false
  const rejectionTags = new Set([...defaultRejectionTags, ...(options.rejectionTags ?? [])])
  const rejectionLogLevel = options.rejectionLogLevel ?? "Warn"

  // A cause made only of rejections (interruptions aside): the service refusing fast, not an incident.
  const isRejection = (cause: Cause.Cause<unknown>): boolean => {
    let rejected = false
    for (const reason of cause.reasons) {
      if (Cause.isInterruptReason(reason)) continue
      if (!Cause.isFailReason(reason)) return false
      const tag = ErrorFamily.tagOf(reason.error)
      if (tag === undefined || !rejectionTags.has(tag)) return false
      rejected = true
    }
    return rejected
  }

  // The response for a cause. With a request state (the middleware is installed) the failure is kept for the
  // request's log line; without one it is logged and reported here, so nothing goes unlogged.
  const respond = <E>(cause: Cause.Cause<E>) =>
    Effect.withFiber<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest>((fiber) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const state = fiber.getRef(CurrentRequestState)
      const requestId = state?.requestId ?? RequestId.accept(request.headers[requestIdHeader])
      const limit = limitOf(fiber.getRef(HttpIncomingMessage.MaxBodySize))
      const translated = clientCauseOf(cause, request, limit)
      // the mapping bounds the instance: a 15 kB path is not echoed in full
      const info = { path: pathOf(request.url), requestId }
      const problem = mapping.fromCause(translated, info) ?? mapping.problem(undefined, info)
      const response = ProblemFormat.toResponse(format, problem, requestIdHeader)
      if (state !== undefined) {
        state.failure = { problem, cause }
        return Effect.succeed(response)
      }
      return logFailure(problem, cause, request).pipe(Effect.as(response))
    })

  const logFailure = (problem: Problem.Problem, cause: Cause.Cause<unknown>, request: HttpServerRequest.HttpServerRequest) =>
    problem.status >= 500 && isRejection(cause)
      ? Effect.logWithLevel(rejectionLogLevel)(
        `${request.method} ${pathOf(request.url)} rejected: ${problem.status} ${problem.tag}`
      ).pipe(
        Effect.andThen(ErrorReporter.report(cause)),
        Effect.annotateLogs({ requestId: problem.requestId, code: problem.code })
      )
      : problem.status >= 500
      ? Effect.logError(`${request.method} ${pathOf(request.url)} failed: ${problem.status} ${problem.tag}`, cause).pipe(
        Effect.andThen(ErrorReporter.report(cause)),
        Effect.annotateLogs({ requestId: problem.requestId, code: problem.code })
      )
      : Effect.logInfo(`${request.method} ${pathOf(request.url)} refused: ${problem.status} ${problem.tag}`).pipe(
        Effect.annotateLogs({ requestId: problem.requestId, code: problem.code })
      )

  const handle = <E, R>(
    handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest> =>
    Effect.withFiber((fiber) => {
      const state = fiber.getRef(CurrentRequestState)
      recordParams(fiber, state)
      const answered = Effect.catchCause(
        handler,
        (cause) =>
          respond(cause) as Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
      )
      // without the middleware, the edge's body limit still applies to what the handler reads
      return state === undefined && fiber.getRef(HttpIncomingMessage.MaxBodySize) === undefined
        ? Effect.provideService(answered, HttpIncomingMessage.MaxBodySize, maxBodySize)
        : answered
    })

  // a route parameter under a redacted name must not reappear in the logged path
  const redactPath = (path: string, params: RequestState["params"]): string => {
    if (params === undefined) return path
    let out = path
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== "" && RequestLog.isRedacted(name, redaction.query)) {
        out = out.split("/").map((segment) => (safeDecode(segment) === value ? RequestLog.redacted : segment)).join("/")
      }
    }
    return out
  }

  const logInterrupted = (request: HttpServerRequest.HttpServerRequest, state: RequestState, durationMs: number) =>
    Effect.logInfo(`${request.method} ${redactPath(pathOf(request.url), state.params)} interrupted`).pipe(
      Effect.annotateLogs({
        requestId: state.requestId,
        method: request.method,
        path: redactPath(pathOf(request.url), state.params),
        status: 499,
        durationMs: Math.round(durationMs * 1000) / 1000
      })
    )

  const logLine = (
    request: HttpServerRequest.HttpServerRequest,
    response: HttpServerResponse.HttpServerResponse,
    state: RequestState,
    durationMs: number
  ) => {
    const status = response.status
    const failure = state.failure
    // with the request log off, only 5xx are logged: build nothing for the others
    if (!logRequests && status < 500) return Effect.void
    const path = redactPath(pathOf(request.url), state.params)
    const annotations: Record<string, unknown> = {
      requestId: state.requestId,
      method: request.method,
      path,
      status,
      durationMs: Math.round(durationMs * 1000) / 1000
    }
    const query = queryOf(request.url)
    if (query !== undefined) annotations.query = RequestLog.redact(query, redaction.query)
    if (state.params !== undefined && Object.keys(state.params).length > 0) {
      annotations.params = RequestLog.redact(state.params, redaction.query)
    }
    if (state.body !== undefined) annotations.body = RequestLog.redact(state.body, redaction.body)
    if (logHeaders) annotations.headers = RequestLog.redact(request.headers, redaction.headers)
    if (failure !== undefined) annotations.code = failure.problem.code
    const message = `${request.method} ${path} ${status}${failure !== undefined ? ` ${failure.problem.tag}` : ""}`
    const log = failure !== undefined && status >= 500 && isRejection(failure.cause)
      ? Effect.logWithLevel(rejectionLogLevel)(message).pipe(Effect.andThen(ErrorReporter.report(failure.cause)))
      : failure !== undefined && status >= 500
      ? Effect.logError(message, failure.cause).pipe(Effect.andThen(ErrorReporter.report(failure.cause)))
      : state.unanswered !== undefined && status >= 500
      ? Effect.logError(message, state.unanswered) // effect answered (and reported) it; the line keeps the cause
      : status >= 500
      ? Effect.logWarning(message)
      : Effect.logInfo(message)
    return Effect.annotateLogs(log, annotations)
  }

  const middleware = HttpRouter.middleware(
    (httpEffect) =>
      Effect.withFiber((fiber) => {
        const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
        const requestId = RequestId.accept(request.headers[requestIdHeader])
        const state: RequestState = { requestId }
        const clock = fiber.getRef(Clock.Clock)
        const start = clock.monotonicTimeNanosUnsafe()
        return HttpEffect.appendPreResponseHandler((_request, response) =>
          Effect.succeed(HttpServerResponse.setHeader(response, requestIdHeader, requestId))
        ).pipe(
          Effect.andThen(httpEffect),
          Effect.catchCause(respond),
          Effect.tap((response) =>
            logLine(request, response, state, Number(clock.monotonicTimeNanosUnsafe() - start) / 1e6)
          ),
          // a client that went away (or a server shutting down) interrupts the request: still one line for it
          Effect.onInterrupt(() =>
            logInterrupted(request, state, Number(clock.monotonicTimeNanosUnsafe() - start) / 1e6)
          ),
          // the edge logs each request once; effect's own "Sent HTTP response" line would repeat it without the id
          HttpMiddleware.withLoggerDisabled,
          Effect.provideService(CurrentRequestState, state),
          Effect.provideService(RequestId.CurrentRequestId, requestId),
          Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
          Effect.annotateLogs({ requestId })
        )
      }),
    { global: true }
  )

  const issues = validate(options)
  const layer = issues.length > 0
    ? Layer.effectDiscard(Effect.fail(new HttpEdgeConfigError({ issues })))
    : middleware

  return { mapping, format, requestIdHeader, handle, respond, layer } as never
}

// ---------------------------------------------------------------------------------------------------------------
// requests the server's HTTP parser refuses
// ---------------------------------------------------------------------------------------------------------------

/**
 * The socket of a Node `clientError` event, as far as {@link answerClientErrors} uses it (a `net.Socket` is one).
 *
 * **Example**
 *
 * ```ts
 * import type { Socket } from "node:net"
 * import type { HttpEdge } from "@effect-resilience/http"
 *
 * const asSocket = (socket: Socket): HttpEdge.ClientErrorSocket => socket
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientErrorSocket {
  readonly writable: boolean
  end(data: string): unknown
  destroy(): unknown
  setTimeout?(timeout: number, callback: () => void): unknown
}

/**
 * A server that emits Node's `clientError` event (`http.Server`, `https.Server`).
 *
 * **Example**
 *
 * ```ts
 * import { createServer } from "node:http"
 * import type { HttpEdge } from "@effect-resilience/http"
 *
 * const server: HttpEdge.ClientErrorServer = createServer()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientErrorServer {
  on(event: "clientError", listener: (error: Error, socket: ClientErrorSocket) => void): unknown
}

const answered = new WeakSet<object>()

/**
 * Answers the requests Node's HTTP parser refuses before any route runs with the edge's problems, instead of
 * Node's bare status line: raw non-ASCII bytes or control characters in the path or query, control characters in
 * a header, conflicting `Content-Length` headers, a malformed request line (400); headers over the server's
 * `maxHeaderSize` (431); chunk extensions too large (413); a request not received within the server's
 * `headersTimeout`/`requestTimeout` (408).
 *
 * Each answer is a problem in the edge's format (`code` `resilience.E0105`, tag `UnreadableRequestError`;
 * an override of that tag on the edge sets its status), with a fresh request id in the edge's request id header
 * and `Connection: close`; `instance` is the request's path with the bytes that are not printable ASCII
 * percent-encoded, or `""` when the request line itself cannot be read. A connection reset, or a connection
 * whose response has already started, is closed without an answer, as Node does. Returns the server; calling it
 * twice on a server adds nothing.
 *
 * These requests never reach effect, so no request log line is written for them.
 *
 * **Example**
 *
 * ```ts
 * import { createServer } from "node:http"
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * const Edge = HttpEdge.make()
 * const Server = HttpRouter.serve(Edge.layer).pipe(
 *   Layer.provide(NodeHttpServer.layer(() => HttpEdge.answerClientErrors(createServer(), Edge), { port: 3000 }))
 * )
 * // GET /caf\xC3\xA9 -> 400 application/problem+json
 * //   { "type": "about:blank", "title": "Bad Request", "status": 400, "detail": "The request could not be parsed.",
 * //     "instance": "/caf%C3%A9", "code": "resilience.E0105", "requestId": "…" }
 * ```
 *
 * @since 0.1.0
 * @category servers
 */
export const answerClientErrors = <S extends ClientErrorServer>(server: S, edge: HttpEdge<any>): S => {
  if (answered.has(server)) return server
  answered.add(server)
  server.on("clientError", listenerOf(edge))
  return server
}
