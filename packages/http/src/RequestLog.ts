/**
 * The request log: one line per request (method, path, query, route parameters, the parsed body, status,
 * duration, and for a failure what the error was), with the values of sensitive fields redacted, and the report
 * of every 5xx failure to effect's `ErrorReporter`. `HttpEdge`'s middleware writes it; the redaction functions
 * are usable on their own.
 *
 * **Details**
 *
 * A line reads `POST /save 503 StorageError` (the answered problem's tag after the status, when the request
 * failed) and is annotated with `requestId`, `method`, `path`, `status`, `durationMs`, `query`, `params`, `body`
 * (when read with `HttpEdge.json`), `headers` (with `logHeaders`) and, for a failure, the error keys every error
 * line carries (`ErrorLogger.annotationsOf`): `errorTag` and `errorCode` (the answered problem's tag and code),
 * `kind` and `severity` (of the error the problem was made from). Levels:
 *
 * | request | level |
 * | --- | --- |
 * | answered 2xx to 4xx (a 429 of a rate limit included) | `Info` |
 * | a 5xx answering only rejections (see {@link defaultRejectionTags}) | `rejectionLogLevel` (`Warn`), no cause |
 * | a 5xx answering a failure or a defect | `Error`, with the full cause (internal detail and stack, in the log only) |
 * | interrupted before it was answered (the client went away) | `Info`, status 499, message `... interrupted` |
 *
 * **Gotchas**
 *
 * - A 5xx failure is reported to effect's `ErrorReporter` once, here, so the error tracker counts it; the tracker
 *   does not count again an error `protect` already recorded.
 * - A route parameter under a redacted name is redacted in the logged path too (`/reset/<redacted>`).
 * - With `logRequests: false`, only 5xx are logged.
 * - Requests Node's HTTP parser refuses (see `HttpEdge.answerClientErrors`) never reach effect: no line.
 *
 * @since 0.1.0
 */
import { Cause, Effect, ErrorReporter } from "effect"
import type { HttpServerRequest } from "effect/http"
import type * as LogLevel from "effect/LogLevel"
import { ErrorFamily, ErrorLogger } from "@effect-resilience/core"
import { pathOf, queryOf } from "./internal/url.js"
import type * as Problem from "./Problem.js"

/**
 * The request log of an edge, built by {@link make} from the edge's options.
 *
 * - `answered(request, status, entry, durationMs)`: the line of a request answered with `status`; a 5xx failure
 *   is reported too.
 * - `interrupted(request, entry, durationMs)`: the line of a request interrupted before it was answered.
 * - `failure(request, failure)`: the line of a failure answered where no request log runs (`edge.handle`
 *   without `edge.layer`): `GET /x failed: 503 StorageError` (`refused` for a 4xx, `rejected` for a rejection),
 *   reported when 5xx.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestLog {
  readonly answered: (
    request: HttpServerRequest.HttpServerRequest,
    status: number,
    entry: Entry,
    durationMs: number
  ) => Effect.Effect<void>
  readonly interrupted: (
    request: HttpServerRequest.HttpServerRequest,
    entry: Entry,
    durationMs: number
  ) => Effect.Effect<void>
  readonly failure: (request: HttpServerRequest.HttpServerRequest, failure: Failure) => Effect.Effect<void>
}

/**
 * Makes a request log. The options are assumed valid (`HttpEdge` validates them when its layer is built).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { HttpServerRequest } from "effect/http"
 * import { RequestLog } from "@effect-resilience/http"
 *
 * const log = RequestLog.make({ redact: { query: ["session"] } })
 * const request = HttpServerRequest.fromWeb(new Request("http://localhost/items?page=2&session=abc"))
 * const line = log.answered(request, 200, { requestId: "req-1" }, 12.5)
 * // INFO "GET /items 200" { requestId: "req-1", method: "GET", path: "/items", status: 200, durationMs: 12.5,
 * //   query: { page: "2", session: "<redacted>" } }
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): RequestLog => {
  // the matchers are built once per log, not once per line
  const redaction = merge(options.redact)
  const queryRedacted = matcherOf(redaction.query)
  const bodyRedacted = matcherOf(redaction.body)
  const headerRedacted = matcherOf(redaction.headers)
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

  // a route parameter under a redacted name must not reappear in the logged path
  const redactPath = (path: string, params: Entry["params"]): string => {
    if (params === undefined) return path
    let out = path
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== "" && queryRedacted(name)) {
        out = out.split("/").map((segment) => (safeDecode(segment) === value ? redacted : segment)).join("/")
      }
    }
    return out
  }

  const answered: RequestLog["answered"] = (request, status, entry, durationMs) => {
    const failure = entry.failure
    // with the request log off, only 5xx are logged: build nothing for the others
    if (!logRequests && status < 500) return Effect.void
    const path = redactPath(pathOf(request.url), entry.params)
    const annotations: Record<string, unknown> = {
      requestId: entry.requestId,
      method: request.method,
      path,
      status,
      durationMs: roundMillis(durationMs)
    }
    const query = queryOf(request.url)
    if (query !== undefined) annotations.query = redactValue(query, queryRedacted, 0)
    if (entry.params !== undefined && Object.keys(entry.params).length > 0) {
      annotations.params = redactValue(entry.params, queryRedacted, 0)
    }
    if (entry.body !== undefined) annotations.body = redactValue(entry.body, bodyRedacted, 0)
    if (logHeaders) annotations.headers = redactValue(request.headers, headerRedacted, 0)
    if (failure !== undefined) Object.assign(annotations, annotationsOf(failure))
    const message = `${request.method} ${path} ${status}${failure !== undefined ? ` ${failure.problem.tag}` : ""}`
    const log = failure !== undefined && status >= 500 && isRejection(failure.cause)
      ? Effect.logWithLevel(rejectionLogLevel)(message).pipe(Effect.andThen(ErrorReporter.report(failure.cause)))
      : failure !== undefined && status >= 500
      ? Effect.logError(message, failure.cause).pipe(Effect.andThen(ErrorReporter.report(failure.cause)))
      : entry.unanswered !== undefined && status >= 500
      ? Effect.logError(message, entry.unanswered) // effect answered (and reported) it; the line keeps the cause
      : status >= 500
      ? Effect.logWarning(message)
      : Effect.logInfo(message)
    return Effect.annotateLogs(log, annotations)
  }

  const interrupted: RequestLog["interrupted"] = (request, entry, durationMs) => {
    const path = redactPath(pathOf(request.url), entry.params)
    return Effect.logInfo(`${request.method} ${path} interrupted`).pipe(
      Effect.annotateLogs({
        requestId: entry.requestId,
        method: request.method,
        path,
        status: 499,
        durationMs: roundMillis(durationMs)
      })
    )
  }

  const failureLine: RequestLog["failure"] = (request, failure) => {
    const { problem, cause } = failure
    const subject = `${request.method} ${pathOf(request.url)}`
    const line = problem.status >= 500 && isRejection(cause)
      ? Effect.logWithLevel(rejectionLogLevel)(`${subject} rejected: ${problem.status} ${problem.tag}`).pipe(
        Effect.andThen(ErrorReporter.report(cause))
      )
      : problem.status >= 500
      ? Effect.logError(`${subject} failed: ${problem.status} ${problem.tag}`, cause).pipe(
        Effect.andThen(ErrorReporter.report(cause))
      )
      : Effect.logInfo(`${subject} refused: ${problem.status} ${problem.tag}`)
    return Effect.annotateLogs(line, { requestId: problem.requestId, ...annotationsOf(failure) })
  }

  return { answered, interrupted, failure: failureLine }
}

// The error keys of a failure's line: the answered problem's tag and code (what the client was told, overrides
// included), the kind and severity of the error it was made from.
const annotationsOf = (failure: Failure): ErrorLogger.Annotations => {
  const info = ErrorFamily.infoOf(failure.error)
  return ErrorLogger.annotationsOfInfo({
    tag: failure.problem.tag,
    code: failure.problem.code,
    kind: info.kind,
    severity: info.severity
  })
}

const roundMillis = (millis: number): number => Math.round(millis * 1000) / 1000

const safeDecode = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * Options of the request log (part of `HttpEdge`'s options).
 *
 * - `redact`: names of headers, query keys and body keys to redact, added to {@link defaults}.
 * - `logRequests`: whether to log one line per request (default `true`); without it, only 5xx are logged.
 * - `logHeaders`: adds the (redacted) request headers to each line (default `false`).
 * - `rejectionTags`: tags of errors that are fast rejections (an open breaker, a full bulkhead, a rate limit,
 *   see {@link defaultRejectionTags}), added to {@link defaultRejectionTags}. A 5xx answering only rejections is logged at
 *   `rejectionLogLevel` (default `"Warn"`) without its cause: it is the service protecting itself, not an
 *   incident. Every other 5xx stays at `"Error"` with its full cause.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly redact?: Redaction | undefined
  readonly logRequests?: boolean | undefined
  readonly logHeaders?: boolean | undefined
  readonly rejectionTags?: ReadonlyArray<string> | undefined
  readonly rejectionLogLevel?: LogLevel.Severity | undefined
}

/**
 * What the request log knows of a request when its line is written, as the edge collects it while the request
 * runs: its id, the matched route's parameters, the parsed body, and the failure it was answered with.
 *
 * @since 0.2.0
 * @category models
 */
export interface Entry {
  readonly requestId: string
  readonly params?: Readonly<Record<string, string | undefined>> | undefined
  readonly body?: unknown
  readonly failure?: Failure | undefined
  /** A failure left to effect to answer (an `HttpApi` error declared with effect's own schema). */
  readonly unanswered?: Cause.Cause<unknown> | undefined
}

/**
 * A failure the edge answered: the problem it answered with, the whole cause, and the error the problem was made
 * from (`undefined` when it answers a defect).
 *
 * @since 0.2.0
 * @category models
 */
export interface Failure {
  readonly problem: Problem.Problem
  readonly cause: Cause.Cause<unknown>
  readonly error: unknown
}

/**
 * The tags of the errors that are rejections by default, calls refused without running: `BreakerOpenError` (an
 * open breaker), `BulkheadFullError` (a full bulkhead, a queue timeout, an eviction) and `RateLimitedError` (a
 * rate limiter). A 5xx answering only rejections is logged at the `rejectionLogLevel` (`"Warn"` by default),
 * without its cause, and still reported to effect's `ErrorReporter` like every 5xx (the tracker counts the
 * refusals). A `RateLimitedError` answers 429 by default, a client's status: logged at `Info` like any 4xx and
 * not reported; it is listed for an edge that overrides it to a 5xx.
 *
 * **Example**
 *
 * ```ts
 * import { HttpEdge, RequestLog } from "@effect-resilience/http"
 *
 * RequestLog.defaultRejectionTags // ["BreakerOpenError", "BulkheadFullError", "RateLimitedError"]
 * // a service's own fast refusal joins them
 * const Edge = HttpEdge.make({ rejectionTags: ["QuotaExceeded"], statuses: { QuotaExceeded: 503 } })
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultRejectionTags: ReadonlyArray<string> = ["BreakerOpenError", "BulkheadFullError", "RateLimitedError"]

/**
 * The fields whose values are replaced by `"<redacted>"` in request logs, by where they appear. Names are
 * compared after normalising to lowercase letters and digits (`Access-Token` and `access_token` both read
 * `accesstoken`, `user[password]` reads `userpassword`), body keys at any depth. A name is
 * redacted when it equals a listed name or contains one of the {@link sensitiveStems}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Redaction {
  readonly headers?: ReadonlyArray<string> | undefined
  readonly query?: ReadonlyArray<string> | undefined
  readonly body?: ReadonlyArray<string> | undefined
}

/**
 * What is redacted when nothing else is said: credentials in headers (`authorization`, `cookie`, `x-api-key`,
 * ...), and `password`, `token`, `secret`, `api_key`, `apiKey`, `access_token` in the query and the body.
 * {@link merge} adds to these.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Required<{ readonly [K in keyof Redaction]: ReadonlyArray<string> }> = {
  headers: ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"],
  query: ["password", "token", "secret", "api_key", "apikey", "access_token", "pwd", "signature", "sig"],
  body: ["password", "token", "secret", "api_key", "apikey", "access_token", "credit_card", "card_number", "pwd", "cvv"]
}

/**
 * Parts of names that are always redacted, wherever they appear in a (normalised) name: `newPassword`,
 * `refresh_token`, `client_secret`, `X-Session-Cookie`.
 *
 * @since 0.1.0
 * @category constants
 */
export const sensitiveStems: ReadonlyArray<string> = [
  "password",
  "passwd",
  "secret",
  "token",
  "apikey",
  "credential",
  "authorization",
  "cookie",
  "cardnumber",
  "creditcard",
  "privatekey"
]

const normalise = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, "")

const matcherOf = (names: ReadonlyArray<string>) => {
  const exact = new Set(names.map(normalise))
  return (name: string): boolean => {
    const n = normalise(name)
    return exact.has(n) || sensitiveStems.some((stem) => n.includes(stem))
  }
}

/**
 * Whether a field name is redacted under the given names (see {@link Redaction} for how names are compared).
 *
 * **Example**
 *
 * ```ts
 * import { RequestLog } from "@effect-resilience/http"
 *
 * RequestLog.isRedacted("user[password]", []) // true
 * RequestLog.isRedacted("iban", ["IBAN"]) // true
 * RequestLog.isRedacted("page", RequestLog.defaults.query) // false
 * ```
 *
 * @since 0.1.0
 * @category redaction
 */
export const isRedacted = (name: string, names: ReadonlyArray<string>): boolean => matcherOf(names)(name)

/**
 * The default names plus the given ones.
 *
 * **Example**
 *
 * ```ts
 * import { RequestLog } from "@effect-resilience/http"
 *
 * const redaction = RequestLog.merge({ body: ["iban"], query: ["session"] })
 * redaction.body.includes("password") // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const merge = (extra: Redaction = {}): typeof defaults => ({
  headers: [...defaults.headers, ...(extra.headers ?? [])],
  query: [...defaults.query, ...(extra.query ?? [])],
  body: [...defaults.body, ...(extra.body ?? [])]
})

/**
 * The placeholder a redacted value becomes.
 *
 * @since 0.1.0
 * @category constants
 */
export const redacted = "<redacted>"
const redactedValue = redacted

const maxDepth = 8
const maxString = 200
const maxKey = 100
const maxEntries = 50

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text)

const redactValue = (value: unknown, redacted: (name: string) => boolean, depth: number): unknown => {
  if (typeof value === "string") return cut(value, maxString)
  if (value === null || typeof value !== "object") return value
  if (depth >= maxDepth) return "…"
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => redactValue(v, redacted, depth + 1))
  const out: Record<string, unknown> = {}
  const entries = Object.entries(value)
  for (const [name, v] of entries.slice(0, maxEntries)) {
    const key = cut(name, maxKey)
    // defineProperty: a key such as `__proto__` (JSON.parse makes it an own key) stays a plain entry
    Object.defineProperty(out, key, {
      value: redacted(name) ? redactedValue : redactValue(v, redacted, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  if (entries.length > maxEntries) out["…"] = `${entries.length - maxEntries} more keys`
  return out
}

/**
 * A copy of `value` fit for a log: values under the given names (see {@link Redaction}; at any depth) become
 * `"<redacted>"`; strings over 200 characters, keys over 100, arrays over 20 items and objects over 50 keys are
 * cut, and nesting past 8 levels is elided.
 *
 * **Example**
 *
 * ```ts
 * import { RequestLog } from "@effect-resilience/http"
 *
 * RequestLog.redact({ user: "ada", Password: "hunter2", card: { token: "t" } }, ["password", "token"])
 * // { user: "ada", Password: "<redacted>", card: { token: "<redacted>" } }
 * ```
 *
 * @since 0.1.0
 * @category redaction
 */
export const redact = (value: unknown, names: ReadonlyArray<string>): unknown =>
  redactValue(value, matcherOf(names), 0)
