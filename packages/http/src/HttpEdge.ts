/**
 * The edge of a web service: the one layer that turns typed errors into problem responses, gives every request
 * an id, logs every request, and reports every 5xx.
 *
 * - `edge.handle(handler)` answers a route's typed failures with problems. Its type refuses a handler whose error
 *   channel holds an error the edge cannot map.
 * - `edge.layer` is a global `HttpRouter` middleware: request ids (on every response, 404 and 500 included, in
 *   every log line and in problem bodies), the body size limit, the request log (`RequestLog`), and problems for
 *   whatever no handler answered (unknown routes, defects in routes not wrapped by `handle`).
 * - `HttpEdge.json(schema)` reads a JSON body with typed errors for a wrong media type, a body over the limit,
 *   malformed JSON and invalid fields.
 * - The `rateLimit` option makes `edge.layer` take a rate limiter's permit per client key for every request, and
 *   answer 429 with `Retry-After` past the limit before any route runs (see {@link RateLimitOptions}).
 *
 * **Gotchas**
 *
 * - A cause holding a defect answers 500 with the generic detail, even beside a typed failure that would answer
 *   4xx (a defect is never hidden behind a typed error). A client's fault that reached the edge as a defect (a
 *   body effect read with `orDie`, a request `HttpApi` could not decode) is answered as the client's fault.
 * - Every 5xx is reported to effect's `ErrorReporter` once, so the error tracker counts it; an error `protect`
 *   already recorded is not counted again.
 * - Options are checked when `edge.layer` is built, not by `make`: invalid options fail the layer with core's
 *   `ConfigError` (every issue at once, paths from the options given to `make`), so a misconfigured edge never
 *   serves. `handle` used without the layer ignores an invalid override at request time.
 * - `handle` without `edge.layer` still answers with problems, request ids and the body limit, and logs each
 *   failure as it answers it; only the middleware writes the one line per request.
 * - Under `edge.layer`, effect's own "Sent HTTP response" line is turned off: the edge logs each request once.
 * - Requests Node's HTTP parser refuses never reach effect: {@link answerClientErrors} answers them, and no
 *   request line is written for them.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Layer, Result, Schema } from "effect"
import {
  HttpEffect,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpRouter,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { CommonErrors, ConfigError, ErrorFamily, type RateLimiter } from "@effect-resilience/core"
import * as ByteSize from "effect/ByteSize"
import type * as LogLevel from "effect/LogLevel"
import type * as Types from "effect/Types"
import * as ErrorMapping from "./ErrorMapping.js"
import * as Admission from "./internal/admission.js"
import { answerOf } from "./internal/answer.js"
import { bodyErrorOf, clientCauseOf } from "./internal/clientErrors.js"
import { listenerOf } from "./internal/nodeClientErrors.js"
import { CurrentRequestState, recordParams, type RequestState } from "./internal/requestState.js"
import { mediaTypeOf, pathOf } from "./internal/url.js"
import * as ProblemFormat from "./ProblemFormat.js"
import * as RequestErrors from "./RequestErrors.js"
import * as RequestId from "./RequestId.js"
import * as RequestLog from "./RequestLog.js"

/**
 * An edge: a mapping, a body format, and the pieces that apply them.
 *
 * - `handle(handler)`: the handler with every failure answered by a problem response. `E` must be
 *   {@link ErrorMapping.Mappable} for this edge's override tags: a handler that can fail with an error that has
 *   no classification and no override does not compile, and the compiler's message says so
 *   ({@link UnclassifiedMessage}).
 * - `respond(cause)`: the problem response for a cause (interruptions are passed on).
 * - `layer`: the global middleware; fails to build with core's `ConfigError` on invalid options, or when the
 *   `rateLimit` option names a limiter it cannot find.
 * - `rateLimit`: whether the layer rate-limits requests, and adds the `RateLimit` fields.
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
  readonly layer: Layer.Layer<never, ConfigError.ConfigError, HttpRouter.HttpRouter>
  /**
   * Whether `edge.layer` rate-limits requests (the `rateLimit` option), and adds the `RateLimit` fields: what
   * `HttpApiEdge.openApi` documents on every endpoint.
   */
  readonly rateLimit: { readonly headers: boolean } | undefined
}

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
  const maxBodySize = ByteSize.bytes(options.maxBodyBytes ?? defaultMaxBodyBytes)
  const requestLog = RequestLog.make(options)

  // The response for a cause. With a request state (the middleware is installed) the failure is kept for the
  // request's log line; without one it is logged and reported here, so nothing goes unlogged.
  const respond = <E>(cause: Cause.Cause<E>) =>
    Effect.withFiber<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest>((fiber) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const state = fiber.getRef(CurrentRequestState)
      const requestId = state?.requestId ?? RequestId.accept(request.headers[requestIdHeader])
      const limit = limitOf(fiber.getRef(HttpIncomingMessage.MaxBodySize))
      // the answer to the cause once effect's request errors are this package's families (a defect: undefined)
      const error = answerOf(clientCauseOf(cause, request, limit))?.error
      // the mapping bounds the instance: a 15 kB path is not echoed in full
      const problem = mapping.problem(error, { path: pathOf(request.url), requestId })
      const response = ProblemFormat.toResponse(format, problem, requestIdHeader)
      const failure: RequestLog.Failure = { problem, cause, error }
      if (state !== undefined) {
        state.failure = failure
        return Effect.succeed(response)
      }
      return requestLog.failure(request, failure).pipe(Effect.as(response))
    })

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

  // A request the limiter refuses is answered here with the edge's 429 problem and never reaches a route; every
  // response of a limited request carries the RateLimit fields (the refusal's included).
  const admitted = <E, R>(
    admission: Admission.Admission,
    request: HttpServerRequest.HttpServerRequest,
    httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.suspend(() => {
      const key = admission.keyOf(request)
      if (key === undefined) return httpEffect
      const { policy } = admission
      return Effect.matchEffect(admission.limiter.acquire(key), {
        onFailure: (refused) => {
          const answered = respond(Cause.fail(refused)) as Effect.Effect<HttpServerResponse.HttpServerResponse>
          if (policy === undefined) return answered
          const fields = {
            "ratelimit-policy": policy,
            // the same seconds as Retry-After: the draft wants no Retry-After before the effective window ends
            ratelimit: Admission.limitField(0, ErrorMapping.retryAfterSeconds(refused.retryAfterMillis))
          }
          return Effect.map(answered, HttpServerResponse.setHeaders(fields))
        },
        onSuccess: (permit) => {
          if (policy === undefined) return httpEffect
          const fields = {
            "ratelimit-policy": policy,
            ratelimit: Admission.limitField(permit.remaining, permit.resetAfterMillis / 1000)
          }
          return Effect.catchCause(httpEffect, respond).pipe(Effect.map(HttpServerResponse.setHeaders(fields)))
        }
      })
    })

  const middlewareOf = (admission: Admission.Admission | undefined) =>
    (httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled>) =>
      Effect.withFiber((fiber) => {
        const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
        const requestId = RequestId.accept(request.headers[requestIdHeader])
        const state: RequestState = { requestId }
        const clock = fiber.getRef(Clock.Clock)
        const start = clock.monotonicTimeNanosUnsafe()
        const elapsedMillis = () => Number(clock.monotonicTimeNanosUnsafe() - start) / 1e6
        return HttpEffect.appendPreResponseHandler((_request, response) =>
          Effect.succeed(HttpServerResponse.setHeader(response, requestIdHeader, requestId))
        ).pipe(
          Effect.andThen(admission === undefined ? httpEffect : admitted(admission, request, httpEffect)),
          Effect.catchCause(respond),
          Effect.tap((response) => requestLog.answered(request, response.status, state, elapsedMillis())),
          // a client that went away (or a server shutting down) interrupts the request: still one line for it
          Effect.onInterrupt(() => requestLog.interrupted(request, state, elapsedMillis())),
          // the edge logs each request once; effect's own "Sent HTTP response" line would repeat it without the id
          HttpMiddleware.withLoggerDisabled,
          Effect.provideService(CurrentRequestState, state),
          Effect.provideService(RequestId.CurrentRequestId, requestId),
          Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
          Effect.annotateLogs({ requestId })
        )
      })

  const issues = validate(options)
  const rateLimit = options.rateLimit
  const layer: Layer.Layer<never, ConfigError.ConfigError, HttpRouter.HttpRouter> = issues.length > 0
    ? Layer.effectDiscard(Effect.fail(new ConfigError.ConfigError({ issues })))
    : HttpRouter.middleware(
      // the limiter is found (or built) once, when the layer is built: a missing one fails the layer, not a request
      rateLimit === undefined ? Effect.succeed(middlewareOf(undefined)) : Effect.map(Admission.make(rateLimit), middlewareOf),
      { global: true }
    )

  return {
    mapping,
    format,
    requestIdHeader,
    handle,
    respond,
    layer,
    rateLimit: rateLimit === undefined ? undefined : { headers: rateLimit.headers ?? true }
  } as never
}

/**
 * Options of {@link make}: the mapping's options (`statuses`, `validationStatus`, `businessStatus`,
 * `typeBase`, see {@link ErrorMapping.Options}), the request log's (`redact`, `logRequests`, `logHeaders`,
 * `rejectionTags`, `rejectionLogLevel`, see {@link RequestLog.Options}), plus
 *
 * - `format`: the body format of problems, {@link ProblemFormat.rfc9457} by default.
 * - `maxBodyBytes`: the largest request body read (default 1 MiB); a larger one is answered 413.
 * - `requestIdHeader`: the header carrying the request id (default `x-request-id`).
 * - `rateLimit`: a rate limit per client on every request `edge.layer` sees, answered 429 past it (see
 *   {@link RateLimitOptions}). None by default.
 *
 * An unknown key (a misspelt `validationStatuss`) is an invalid option, reported with the nearest known name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<O extends ErrorMapping.Overrides = {}> extends ErrorMapping.Options<O>, RequestLog.Options {
  readonly format?: ProblemFormat.ProblemFormat | undefined
  readonly maxBodyBytes?: number | undefined
  readonly requestIdHeader?: string | undefined
  readonly rateLimit?: RateLimitOptions | undefined
}

/**
 * The `rateLimit` option of an edge: every request `edge.layer` sees (every route, unknown ones and the ops
 * routes included) takes one permit of a rate limiter for its client's key before any route runs.
 *
 * - `limiter`: the name of a limiter of the `RateLimiterRegistry` (`ErrorLayer`'s `rateLimiters` section, shared
 *   across the fleet with a shared store), looked up when `edge.layer` is built; or `RateLimiter.Options`, from
 *   which the edge builds a local limiter of its own, named `"http"`.
 * - `key`: the client's key of a request, each key with a limit of its own. Default {@link remoteAddressKey}: the
 *   remote address, `"unknown"` when the server gives none. A function of the request for anything else (an API
 *   key header, a tenant from the path); returning `undefined` lets the request through without a permit
 *   (health probes, internal callers).
 * - `headers`: whether responses carry the `RateLimit-Policy` and `RateLimit` fields of
 *   draft-ietf-httpapi-ratelimit-headers. Default `true`.
 *
 * A request refused a permit is answered with the edge's `RateLimitedError` problem (429 `Too Many Requests`,
 * `resilience.E0010`, with `Retry-After` and the request id) and its route never runs; the request log writes its
 * one line (`GET /items 429 RateLimitedError`, at `Info` like every 4xx). The problem carries no key and no
 * limiter name. With `headers`, every response of a request that took a permit says
 * `RateLimit-Policy: "default";q=<limit>;w=<window in seconds>` and
 * `RateLimit: "default";r=<permits left>;t=<seconds until the key is back to its full limit>`; a refusal says
 * `r=0` and as `t` the seconds of its `Retry-After`. A window that is not a whole number of seconds leaves `w` out.
 *
 * **Gotchas**
 *
 * - Behind a proxy or a load balancer the remote address is the proxy's, and every client would share one limit:
 *   give effect's `HttpMiddleware.xForwardedHeaders({ trustedProxies })` as the server's middleware
 *   (`HttpRouter.serve(app, { middleware })`, which runs before the edge), or key by something of the request's
 *   own.
 * - A limiter name is checked when `edge.layer` is built: no `RateLimiterRegistry` in the context, or a name the
 *   registry has no options of its own for (in `limiters`: a misspelt name would otherwise get the default
 *   options), fails the layer with a `ConfigError` at `rateLimit.limiter`.
 * - An edge's own local limiter (options given inline) is not in the `RateLimiterRegistry`, so it is not exported
 *   as metrics; name a limiter of the registry to have its figures in `resilience_rate_limiter_*` and
 *   `/health`.
 * - A `key` that throws is a bug: the request is answered 500 (the generic problem) and logged with the cause.
 * - A key the client chooses freely (an API key header nobody checked) lets a client send a new one on every
 *   request and get a fresh limit each time, and makes the limiter hold a key per request (its `keys` bound then
 *   forgets the oldest): key on what the client cannot mint (an authenticated identity, the address), or check
 *   the header first.
 * - The rate limit is the middleware's: `edge.handle` without `edge.layer` limits nothing.
 * - With a limiter's `wait`, a request over the limit waits for its permit (up to `wait`) before its route runs.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { ErrorLayer } from "@effect-resilience/core"
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * declare const knownApiKey: (key: string) => boolean
 *
 * // 100 requests a minute per API key (one checked against the known keys: a client must not mint fresh limits),
 * // per address otherwise, from the registry's "api" limiter
 * const Edge = HttpEdge.make({
 *   rateLimit: {
 *     limiter: "api",
 *     key: (request) => {
 *       const apiKey = request.headers["x-api-key"]
 *       return apiKey !== undefined && knownApiKey(apiKey) ? apiKey : HttpEdge.remoteAddressKey(request)
 *     }
 *   }
 * })
 * const App = HttpRouter.serve(
 *   Layer.mergeAll(HttpRouter.add("GET", "/items", HttpServerResponse.text("[]")), Edge.layer)
 * ).pipe(Layer.provide(ErrorLayer.layer({ rateLimiters: { limiters: { api: { limit: 100, window: "1 minute" } } } })))
 * // GET /items -> 200, RateLimit-Policy: "default";q=100;w=60, RateLimit: "default";r=99;t=1
 * // the 101st within the minute -> 429 application/problem+json, Retry-After: 1
 * //   { "type": "about:blank", "title": "Too Many Requests", "status": 429,
 * //     "detail": "Too many requests. Please try again later.", "instance": "/items",
 * //     "code": "resilience.E0010", "requestId": "…" }
 *
 * // a local limiter of the edge's own, 10 requests a second per remote address, no headers
 * const Local = HttpEdge.make({ rateLimit: { limiter: { limit: 10, window: "1 second" }, headers: false } })
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface RateLimitOptions {
  readonly limiter: string | RateLimiter.Options
  readonly key?: ((request: HttpServerRequest.HttpServerRequest) => string | undefined) | undefined
  readonly headers?: boolean | undefined
}

/**
 * The default client key of the edge's rate limit: the request's remote address (the client's, once effect's
 * `HttpMiddleware.xForwardedHeaders` has read a trusted proxy's `X-Forwarded-For`), or `"unknown"` when the server
 * gives none (every such request then shares one limit).
 *
 * **Example**
 *
 * ```ts
 * import { HttpServerRequest } from "effect/http"
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * HttpEdge.remoteAddressKey(HttpServerRequest.fromWeb(new Request("http://localhost/items"))) // "unknown"
 * ```
 *
 * @since 0.3.0
 * @category rate limiting
 */
export const remoteAddressKey: (request: HttpServerRequest.HttpServerRequest) => string = Admission.remoteAddressKey

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

// ---------------------------------------------------------------------------------------------------------------
// reading bodies
// ---------------------------------------------------------------------------------------------------------------

const isJsonMediaType = (mediaType: string) => mediaType === "application/json" || mediaType.endsWith("+json")

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
// options
// ---------------------------------------------------------------------------------------------------------------

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
const isReservedHeader = (name: string): boolean => {
  const lower = name.toLowerCase()
  return reservedHeaders.has(lower) || lower.startsWith("content-")
}

const checked = <T>(check: (value: T) => boolean, expected: string) =>
  Schema.makeFilter((value: T) => (check(value) ? undefined : `Expected ${expected}, got ${show(value)}`))

const show = (value: unknown): string => (typeof value === "string" ? JSON.stringify(value) : String(value))

const ErrorStatus = Schema.Number.check(
  checked((n: number) => Number.isInteger(n) && n >= 400 && n <= 599, "an error status (an integer from 400 to 599)")
)

const Override = Schema.Union([
  ErrorStatus,
  Schema.Struct({
    status: ErrorStatus,
    title: Schema.optional(Schema.String),
    type: Schema.optional(Schema.String),
    detail: Schema.optional(Schema.String),
    code: Schema.optional(
      Schema.String.check(checked((s: string) => ErrorFamily.codePattern.test(s), "a code such as service.E0001"))
    )
  })
])

const Names = Schema.optional(Schema.Array(Schema.String))

const logLevels: ReadonlyArray<LogLevel.Severity> = ["Fatal", "Error", "Warn", "Info", "Debug", "Trace"]

// Every key of Options has a schema: a key added to the type without one here does not compile, so a new option
// is never refused as unknown.
const OptionsSchema = Schema.Struct({
  statuses: Schema.optional(Schema.Record(Schema.String, Override)),
  validationStatus: Schema.optional(Schema.Literals([400, 422])),
  businessStatus: Schema.optional(ErrorStatus),
  typeBase: Schema.optional(Schema.String),
  format: Schema.optional(Schema.declare(
    (u): u is ProblemFormat.ProblemFormat =>
      typeof u === "object" && u !== null && typeof (u as ProblemFormat.ProblemFormat).render === "function" &&
      typeof (u as ProblemFormat.ProblemFormat).contentType === "string" &&
      typeof (u as ProblemFormat.ProblemFormat).schema === "function",
    { message: "Expected a ProblemFormat (contentType, render, schema)" }
  )),
  maxBodyBytes: Schema.optional(
    Schema.Number.check(checked((n: number) => Number.isSafeInteger(n) && n > 0, "a positive integer"))
  ),
  requestIdHeader: Schema.optional(Schema.String.check(
    checked((s: string) => headerToken.test(s), "a header name"),
    checked((s: string) => !isReservedHeader(s), "a header that does not frame or describe the response")
  )),
  redact: Schema.optional(Schema.Struct({ headers: Names, query: Names, body: Names })),
  logRequests: Schema.optional(Schema.Boolean),
  logHeaders: Schema.optional(Schema.Boolean),
  rejectionTags: Names,
  rejectionLogLevel: Schema.optional(Schema.Literals(logLevels)),
  rateLimit: Schema.optional(Schema.Struct({
    limiter: Schema.Unknown.check(checked(
      (u: unknown) => (typeof u === "string" && u !== "") || isRecord(u),
      "the name of a limiter of the RateLimiterRegistry or RateLimiter options"
    )),
    key: Schema.optional(Schema.Unknown.check(
      checked((u: unknown) => typeof u === "function", "a function from the request to the client's key")
    )),
    headers: Schema.optional(Schema.Boolean)
  } satisfies { readonly [K in keyof RateLimitOptions]-?: Schema.Top }))
} satisfies { readonly [K in keyof Options<ErrorMapping.Overrides>]-?: Schema.Top })

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const decodeOptions = Schema.decodeUnknownResult(OptionsSchema)

/**
 * Every problem with a set of options, or an empty array when they are valid: each issue has the path from the
 * options object and a message; an unknown key gets the nearest known name. `edge.layer` fails with a
 * `ConfigError` holding these issues.
 *
 * **Example**
 *
 * ```ts
 * import { HttpEdge } from "@effect-resilience/http"
 *
 * HttpEdge.validate({ validationStatus: 422, statuses: { PaymentDeclined: 402 } }) // []
 * HttpEdge.validate({ statuses: { Teapot: 200 }, maxBodyBytes: -1 })
 * // [{ path: ["statuses", "Teapot"], message: "Expected an error status (an integer from 400 to 599), got 200" },
 * //  { path: ["maxBodyBytes"], message: "Expected a positive integer, got -1" }]
 *
 * const loaded: HttpEdge.Options = JSON.parse(`{ "validationStatuss": 422 }`)
 * HttpEdge.validate(loaded)
 * // [{ path: ["validationStatuss"], message: 'Unknown key "validationStatuss", did you mean "validationStatus"?' }]
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (options: Options<ErrorMapping.Overrides>): ReadonlyArray<ConfigError.Issue> => {
  const result = decodeOptions(options, { errors: "all", onExcessProperty: "error", reportInput: true })
  const issues = Result.isSuccess(result) ? [] : ConfigError.fromSchemaIssue(result.failure.issue)
  // inline limiter options are checked by core's own rules, with their paths under rateLimit.limiter
  const limiter = isRecord(options) && isRecord(options.rateLimit) ? options.rateLimit.limiter : undefined
  return isRecord(limiter) ? [...issues, ...Admission.limiterOptionsIssues(limiter as never)] : issues
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
