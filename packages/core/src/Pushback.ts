/**
 * Server pushback: an error can say how long to wait before trying again (an upstream 429 or 503's
 * `Retry-After`, gRPC's `grpc-retry-pushback-ms`, an open breaker's or a full bulkhead's hint), as a numeric
 * `retryAfterMillis` field. `protect` and `PolicyService.retry` honour it: the retry waits at least the hint
 * instead of its own shorter backoff, and gives up at once when the hint is longer than the policy's
 * `maxRetryAfter` (counted in `resilience_retries_suppressed_total{reason="pushback"}`); a breaker that opens on
 * such a failure stays open at least that long.
 *
 * **Details**
 *
 * `CommonErrors.UnavailableError` carries `retryAfterMillis`, and so do the refusals of breakers, bulkheads and
 * rate limiters; a family of one's own declares the field to carry a hint too. A hint of `Infinity` (what
 * {@link fromHeaders} reads from a negative gRPC pushback) means "do not retry".
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CommonErrors, Pushback } from "@effect-resilience/core"
 *
 * // an upstream answered 503 with `Retry-After: 2`
 * const failed = (headers: Record<string, string>, now: number) =>
 *   Effect.fail(new CommonErrors.UnavailableError({ service: "search", retryAfterMillis: Pushback.fromHeaders(headers, now) }))
 * ```
 *
 * @since 0.4.0
 */
import { Duration } from "effect"

/**
 * The retry-after hint an error carries, in milliseconds: its `retryAfterMillis` when that is a number of at least
 * zero (`Infinity` included: do not retry), otherwise `undefined`.
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors, Pushback } from "@effect-resilience/core"
 *
 * Pushback.hintMillis(new CommonErrors.UnavailableError({ service: "search", retryAfterMillis: 2_000 })) // 2000
 * Pushback.hintMillis(new CommonErrors.NetworkError({ target: "bank" })) // undefined
 * ```
 *
 * @since 0.4.0
 * @category getters
 */
export const hintMillis = (error: unknown): number | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const millis = (error as { readonly retryAfterMillis?: unknown }).retryAfterMillis
  return typeof millis === "number" && millis >= 0 ? millis : undefined
}

/**
 * The retry-after hint an error carries, as a `Duration` (see {@link hintMillis}).
 *
 * **Example**
 *
 * ```ts
 * import { CommonErrors, Pushback } from "@effect-resilience/core"
 *
 * const hint = Pushback.hint(new CommonErrors.UnavailableError({ service: "search", retryAfterMillis: 500 }))
 * ```
 *
 * @since 0.4.0
 * @category getters
 */
export const hint = (error: unknown): Duration.Duration | undefined => {
  const millis = hintMillis(error)
  return millis === undefined ? undefined : Duration.millis(millis)
}

const seconds = /^\s*(\d+)\s*$/

/**
 * Reads an HTTP `Retry-After` value: a number of seconds (`"120"`) or an HTTP date, as milliseconds from `now`
 * (the `Clock`'s time in milliseconds; a date in the past gives 0). `undefined` when it is neither.
 *
 * **Example**
 *
 * ```ts
 * import { Pushback } from "@effect-resilience/core"
 *
 * Pushback.parseRetryAfter("2", 0) // 2000
 * Pushback.parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", Date.UTC(2015, 9, 21, 7, 28, 0)) // 10000
 * ```
 *
 * @since 0.4.0
 * @category parsing
 */
export const parseRetryAfter = (value: string, now: number): number | undefined => {
  const delay = seconds.exec(value)
  if (delay !== null) return Number(delay[1]) * 1000
  // an HTTP date (IMF-fixdate, or the obsolete forms Date.parse reads): only when it names a weekday or a month
  if (!/[a-z]{3}/i.test(value)) return undefined
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * The retry-after hint of a response's headers, in milliseconds from `now`: `Retry-After` (seconds or an HTTP
 * date), else gRPC's `grpc-retry-pushback-ms` (a negative or malformed value means "do not retry": `Infinity`).
 * Header names are matched without regard to case; `undefined` when neither header is there or readable.
 *
 * **Example**
 *
 * ```ts
 * import { Pushback } from "@effect-resilience/core"
 *
 * Pushback.fromHeaders({ "retry-after": "3" }, 0) // 3000
 * Pushback.fromHeaders({ "grpc-retry-pushback-ms": "-1" }, 0) // Infinity
 * ```
 *
 * @since 0.4.0
 * @category parsing
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
  now: number
): number | undefined => {
  let retryAfter: string | undefined
  let grpc: string | undefined
  for (const [name, value] of Object.entries(headers)) {
    const first = Array.isArray(value) ? value[0] : value as string | undefined
    if (first === undefined) continue
    const lower = name.toLowerCase()
    if (lower === "retry-after") retryAfter = first
    else if (lower === "grpc-retry-pushback-ms") grpc = first
  }
  if (retryAfter !== undefined) {
    const millis = parseRetryAfter(retryAfter, now)
    if (millis !== undefined) return millis
  }
  if (grpc === undefined) return undefined
  return /^\s*\d+\s*$/.test(grpc) ? Number(grpc) : Infinity
}
