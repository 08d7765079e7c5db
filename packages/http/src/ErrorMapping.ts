/**
 * The one place errors become HTTP statuses and problems. Defaults come from an error's classification
 * (`ErrorFamily.infoOf`); a user overrides the status (and title, type, detail, code) per tag. The mapping's type
 * lists the tags it was given, so an edge can refuse at compile time a handler whose error channel holds an error
 * it cannot map.
 *
 * **Gotchas**
 *
 * - A cause holding a defect is answered as the defect (500, generic detail), even beside a typed failure that
 *   would answer 4xx: answering the failure would hide the bug.
 * - An error that is not from a declared family, without an override, is answered as a defect would be: 500,
 *   `resilience.E0000`, tag `UnknownError`, whatever its own `_tag`. effect's `Cause.TimeoutError` is the
 *   exception: it is described as the common `TimeoutError` (504, `resilience.E0006`).
 * - An override of an unclassified error that gives no `code` answers with the tag itself as the code
 *   (`PaymentDeclined`), never `resilience.E0000`.
 * - A refusal (`BreakerOpenError`, `BulkheadFullError`, `RateLimitedError`) answers with its public message and a
 *   `Retry-After` only: never the breaker's, bulkhead's or limiter's name, its figures, or a rate limit's key (a
 *   tenant id, a client's address).
 * - A `RateLimitedError` answers 429 wherever it comes from, a limiter on an outgoing call (`protect({ rateLimit
 *   })`) included; when that limiter protects a dependency rather than the service from its clients, override it
 *   (`statuses: { RateLimitedError: 503 }`): the client did nothing wrong.
 *
 * @since 0.1.0
 */
import type { Cause } from "effect"
import type { HttpServerError } from "effect/http"
import { Bulkhead, CircuitBreaker, CommonErrors, ErrorFamily, RateLimiter } from "@effect-resilience/core"
import { answerOf } from "./internal/answer.js"
import { boundInstance } from "./internal/url.js"
import * as Problem from "./Problem.js"

/**
 * A mapping from errors to problems.
 *
 * - `problem(error, request)` maps one typed failure.
 * - `fromCause(cause, request)` maps a whole cause: a defect (500 with a generic detail) when it holds one, even
 *   beside typed failures (a defect is never hidden behind a typed error); else its first typed failure; or
 *   `undefined` when the cause holds only interruptions.
 * - `statusOf(error)` is the status alone; `statusOfFamily(Family.family)` the status of a whole family, as API
 *   documents need it.
 * - `isMappable(error)` is the run-time side of {@link Mappable}: whether the error is answered as itself (a
 *   declared family, effect's `TimeoutError`, a tag with an override) rather than as a defect.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorMapping<Tags extends string = never> {
  readonly options: Options<Overrides>
  readonly problem: (error: unknown, request: RequestInfo) => Problem.Problem
  readonly fromCause: (cause: Cause.Cause<unknown>, request: RequestInfo) => Problem.Problem | undefined
  readonly statusOf: (error: unknown) => number
  readonly isMappable: (error: unknown) => boolean
  /** The status every error of a declared family gets (families are mapped by tag and kind, never by fields). */
  readonly statusOfFamily: (family: Pick<ErrorFamily.FamilyInfo, "tag" | "kind">) => number
  /** Type-level only: the tags of the overrides. */
  readonly "~tags"?: Tags | undefined
}

/**
 * Builds a mapping. The tags of `statuses` become part of its type, so `HttpEdge` accepts handlers failing with
 * those (possibly unclassified) errors and no others.
 *
 * **Example**
 *
 * ```ts
 * import { Data } from "effect"
 * import { CommonErrors } from "@effect-resilience/core"
 * import { ErrorMapping } from "@effect-resilience/http"
 *
 * class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{}> {}
 *
 * const mapping = ErrorMapping.make({
 *   statuses: { PaymentDeclined: { status: 402, detail: "The payment was declined." }, StorageError: 502 },
 *   validationStatus: 422
 * })
 * mapping.statusOf(new PaymentDeclined()) // 402
 * // not a family and no `code` in its override: the tag is its code
 * mapping.problem(new PaymentDeclined(), { path: "/pay", requestId: "r1" }).code // "PaymentDeclined"
 * mapping.statusOf(new CommonErrors.StorageError({ operation: "save" })) // 502
 * mapping.problem(new CommonErrors.ValidationError({ issues: [{ path: ["name"], message: "is missing" }] }),
 *   { path: "/save", requestId: "r1" }).errors // [{ pointer: "#/name", detail: "is missing" }]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const O extends Overrides = {}>(options: Options<O> = {}): ErrorMapping<TagsOf<O>> => {
  const opts: Options<Overrides> = options
  const statusOf = (error: unknown): number =>
    overrideOf(opts, ErrorFamily.tagOf(error))?.status ?? defaultStatus(error, opts)

  const problem = (error: unknown, request: RequestInfo): Problem.Problem => {
    const info = ErrorFamily.infoOf(error)
    const described = isDescribed(info)
    const tag = ErrorFamily.tagOf(error)
    const override = overrideOf(opts, tag)
    const status = override?.status ?? statusOfInfo(info, opts)
    // an override that makes an unclassified error mappable: it is an answer of the API, not a defect
    const overridden = override !== undefined && !described && tag !== undefined
    const code = override?.code ?? (described ? info.code : overridden ? tag : unknownCode)
    const title = override?.title ?? Problem.reasonPhrase(status)
    // infoOf's message: the family's public message, or the generic one for anything it cannot describe
    const fullDetail = override?.detail ?? (overridden ? title : info.message)
    const detail = error instanceof CommonErrors.ValidationError && error.issues.length > limits.errors
      ? `The request is invalid: ${error.issues.length} fields failed; the first ${limits.errors} are listed.`
      : cut(fullDetail, limits.detail)
    const type = override?.type ??
      (opts.typeBase === undefined || code === unknownCode
        ? "about:blank"
        : overridden && override.code === undefined
        ? `${opts.typeBase}${slugOf(tag)}`
        : `${opts.typeBase}${code}`)
    const errors = fieldProblemsOf(error)
    const retryAfterSeconds = retryAfterSecondsOf(error)
    return {
      status,
      type,
      title,
      detail,
      // bounded here, once, so every caller gets it: a 15 kB path is not echoed in full
      instance: boundInstance(request.path),
      code,
      tag: described || overridden ? info.tag : "UnknownError",
      requestId: request.requestId,
      ...(errors !== undefined ? { errors } : {}),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {})
    }
  }

  const fromCause = (cause: Cause.Cause<unknown>, request: RequestInfo): Problem.Problem | undefined => {
    const answer = answerOf(cause)
    return answer === undefined ? undefined : problem(answer.error, request)
  }

  const isMappable = (error: unknown): boolean =>
    isDescribed(ErrorFamily.infoOf(error)) || overrideOf(opts, ErrorFamily.tagOf(error)) !== undefined

  const statusOfFamily = (family: Pick<ErrorFamily.FamilyInfo, "tag" | "kind">): number =>
    overrideOf(opts, family.tag)?.status ?? familyStatus(family.tag, family.kind, opts)

  return { options: opts, problem, fromCause, statusOf, isMappable, statusOfFamily }
}

/**
 * What an override gives for one tag: a status alone, or a status with the problem's `title`, `type` URI,
 * `detail` and `code`. For a classified error, `detail` and `code` default to its public message and its code.
 * For an unclassified one (a `Data.TaggedError` the override makes mappable), `detail` defaults to the title and
 * `code` to the tag itself (`PaymentDeclined`), never to the defect code `resilience.E0000`: give it a `code`
 * (`shop.E0402`) to fit the service's codes. `type` defaults as {@link Options} `typeBase` says.
 *
 * @since 0.1.0
 * @category models
 */
export type Override = number | {
  readonly status: number
  readonly title?: string | undefined
  readonly type?: string | undefined
  readonly detail?: string | undefined
  readonly code?: ErrorFamily.Code | undefined
}

/**
 * Overrides by `_tag`.
 *
 * @since 0.1.0
 * @category models
 */
export type Overrides = { readonly [tag: string]: Override }

/**
 * Options of {@link make}.
 *
 * - `statuses`: overrides by tag. A tag listed here may be an unclassified error (a `Data.TaggedError`, say),
 *   which then becomes mappable.
 * - `validationStatus`: the status of `ValidationError` (400, or 422 for APIs that separate syntax from
 *   semantics). Default 400.
 * - `businessStatus`: the status of business errors with no more specific default. Default 422.
 * - `typeBase`: when set, a problem's `type` is `typeBase + code` (e.g.
 *   `https://docs.example.com/problems/shop.E0001`) for a classified error and for an override that gives a
 *   `code`, and `typeBase` + the tag in kebab case (`.../payment-declined`) for an unclassified error whose
 *   override gives none; defects and unmapped errors stay `about:blank`. Without it, `type` is `about:blank`
 *   (the reason phrase as title, as RFC 9457 asks), unless an override gives one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<O extends Overrides = {}> {
  readonly statuses?: O | undefined
  readonly validationStatus?: 400 | 422 | undefined
  readonly businessStatus?: number | undefined
  readonly typeBase?: string | undefined
}

/**
 * The errors a mapping with override tags `Tags` can turn into a response: any classified error (every
 * `ErrorFamily`), effect's own `TimeoutError` (from `Effect.timeout`; it shares its tag with the common
 * `TimeoutError`), and any error whose `_tag` has an override.
 *
 * @since 0.1.0
 * @category models
 */
export type Mappable<Tags extends string = never> =
  | ErrorFamily.Classified
  | Cause.TimeoutError
  | HttpServerError.HttpServerError
  | { readonly _tag: Tags }

/**
 * The override tags of an overrides object, as its type knows them. A widened record (`Record<string, ...>`, as a
 * config loader gives) names no tag for sure, so it makes no error mappable.
 *
 * @since 0.1.0
 * @category models
 */
export type TagsOf<O> = string extends keyof O ? never : Extract<keyof O, string>

/**
 * What a problem needs from the request it answers.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestInfo {
  /** The request's path, without the query; the problem's `instance` is it, bounded (1000 characters). */
  readonly path: string
  readonly requestId: string
}

// the code infoOf gives whatever it cannot describe: no family, not effect's TimeoutError
const unknownCode = ErrorFamily.infoOf(undefined).code
const isDescribed = (info: ErrorFamily.Info): boolean => info.classified || info.code !== unknownCode

/**
 * The tag of an error in kebab case, as a problem type URI ends for an override of an unclassified error that
 * gives no code: `PaymentDeclined` is `payment-declined`, `HTTPFailure` `http-failure`. Characters other than
 * ASCII letters and digits become `-`; a tag with none of them is percent-encoded as it is.
 *
 * **Example**
 *
 * ```ts
 * import { ErrorMapping } from "@effect-resilience/http"
 *
 * ErrorMapping.slugOf("PaymentDeclined") // "payment-declined"
 * ErrorMapping.slugOf("HTTPFailure") // "http-failure"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const slugOf = (tag: string): string => {
  const slug = tag
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
  return slug === "" ? encodeURIComponent(tag) : slug
}

const byTag = (tag: string, options: Options<Overrides>): number | undefined => {
  switch (tag) {
    case "ValidationError":
      return options.validationStatus ?? 400
    case "NotFoundError":
    case "RouteNotFoundError":
      return 404
    case "ConflictError":
      return 409
    case "MalformedBodyError":
      return 400
    case "UnsupportedMediaTypeError":
      return 415
    case "PayloadTooLargeError":
      return 413
    case "RateLimitedError":
      return 429
    case "BreakerOpenError":
    case "BulkheadFullError":
    case "UnavailableError":
      return 503
    case "TimeoutError":
      return 504
    default:
      return undefined
  }
}

const isErrorStatus = (status: unknown): status is number =>
  typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 599

const overrideOf = (
  options: Options<Overrides>,
  tag: string | undefined
): Exclude<Override, number> | undefined => {
  if (tag === undefined || options.statuses === undefined || !Object.hasOwn(options.statuses, tag)) return undefined
  const o = options.statuses[tag]
  const normalized = typeof o === "number" ? { status: o } : o
  // an invalid override is a config error at layer build (HttpEdge.validate); at request time it is ignored
  return normalized !== undefined && isErrorStatus(normalized.status) ? normalized : undefined
}

/**
 * The default status of an error, with no overrides:
 *
 * | error | status |
 * | --- | --- |
 * | `ValidationError`, `MalformedBodyError` | 400 |
 * | `NotFoundError`, `RouteNotFoundError` | 404 |
 * | `ConflictError` | 409 |
 * | `PayloadTooLargeError` / `UnsupportedMediaTypeError` | 413 / 415 |
 * | other business errors | 422 |
 * | `RateLimitedError` (a rate limiter refused the call) | 429, with `Retry-After` |
 * | `BreakerOpenError`, `BulkheadFullError`, `UnavailableError` | 503, with `Retry-After` |
 * | `TimeoutError` (ours and effect's) | 504 |
 * | other recoverable errors (they reach the edge once their policy is exhausted) | 503 |
 * | unrecoverable errors, unclassified errors, defects | 500 |
 *
 * **Example**
 *
 * ```ts
 * import { Bulkhead, CommonErrors, RateLimiter } from "@effect-resilience/core"
 * import { ErrorMapping } from "@effect-resilience/http"
 *
 * ErrorMapping.defaultStatus(new CommonErrors.StorageError({ operation: "save" })) // 503
 * ErrorMapping.defaultStatus(new Error("boom")) // 500
 * ErrorMapping.defaultStatus(new RateLimiter.RateLimitedError({
 *   limiter: "api", key: "tenant-7", limit: 100, windowMillis: 1000, retryAfterMillis: 250
 * })) // 429
 * ErrorMapping.defaultStatus(new Bulkhead.BulkheadFullError({
 *   bulkhead: "search", reason: "full", limit: 10, inFlight: 10, queued: 0, retryAfterMillis: 1000
 * })) // 503
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const defaultStatus = (error: unknown, options: Options<Overrides> = {}): number =>
  statusOfInfo(ErrorFamily.infoOf(error), options)

const statusOfInfo = (info: ErrorFamily.Info, options: Options<Overrides>): number =>
  isDescribed(info) ? familyStatus(info.tag, info.kind, options) : 500

const familyStatus = (tag: string, kind: ErrorFamily.Kind, options: Options<Overrides>): number => {
  const known = byTag(tag, options)
  if (known !== undefined) return known
  switch (kind) {
    case "business":
      return isErrorStatus(options.businessStatus) ? options.businessStatus : 422
    case "recoverable":
      return 503
    case "unrecoverable":
      return 500
  }
}

const retryAfterSecondsOf = (error: unknown): number | undefined => {
  if (
    error instanceof CircuitBreaker.BreakerOpenError || error instanceof CommonErrors.UnavailableError ||
    error instanceof Bulkhead.BulkheadFullError || error instanceof RateLimiter.RateLimitedError
  ) {
    const millis = error.retryAfterMillis
    if (millis === undefined || !Number.isFinite(millis)) return undefined
    return retryAfterSeconds(millis)
  }
  return undefined
}

/**
 * The `Retry-After` value (RFC 9110 delay-seconds) of a wait in milliseconds: whole seconds rounded up, at least 1
 * (a client told `0` would retry at once, into the same refusal).
 *
 * **Example**
 *
 * ```ts
 * import { ErrorMapping } from "@effect-resilience/http"
 *
 * ErrorMapping.retryAfterSeconds(250) // 1
 * ErrorMapping.retryAfterSeconds(1001) // 2
 * ErrorMapping.retryAfterSeconds(0) // 1
 * ```
 *
 * @since 0.3.0
 * @category getters
 */
export const retryAfterSeconds = (millis: number): number => Math.max(1, Math.ceil(millis / 1000))

/**
 * The most `errors` entries a problem lists, and the longest `detail`: a body of a million invalid items must not
 * become a response of tens of megabytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const limits = { errors: 50, detail: 1000 } as const

const fieldProblemsOf = (error: unknown): ReadonlyArray<Problem.FieldProblem> | undefined =>
  error instanceof CommonErrors.ValidationError
    ? error.issues.slice(0, limits.errors).map((issue) => ({
      pointer: Problem.pointer(issue.path),
      detail: cut(issue.message, 200)
    }))
    : undefined

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)
