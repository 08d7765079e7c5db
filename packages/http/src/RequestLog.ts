/**
 * The request log: one line per request with method, path, query, route parameters, status and duration, and
 * the names of sensitive fields whose values never reach the log.
 *
 * @since 0.1.0
 */

/**
 * The fields whose values are replaced by `"<redacted>"` in request logs, by where they appear. Names are
 * compared case-insensitively; body keys are matched at any depth.
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
  query: ["password", "token", "secret", "api_key", "apikey", "access_token"],
  body: ["password", "token", "secret", "api_key", "apikey", "access_token", "credit_card", "card_number"]
}

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

const maxDepth = 8
const maxString = 200

const redactValue = (value: unknown, names: ReadonlySet<string>, depth: number): unknown => {
  if (typeof value === "string") return value.length > maxString ? `${value.slice(0, maxString)}…` : value
  if (value === null || typeof value !== "object") return value
  if (depth >= maxDepth) return "…"
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => redactValue(v, names, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    // defineProperty: a key such as `__proto__` (JSON.parse makes it an own key) stays a plain entry
    Object.defineProperty(out, key, {
      value: names.has(key.toLowerCase()) ? redacted : redactValue(v, names, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

/**
 * A copy of `value` fit for a log: values under the given names (case-insensitive, at any depth) become
 * `"<redacted>"`, long strings and arrays are cut, deep nesting is elided.
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
  redactValue(value, new Set(names.map((n) => n.toLowerCase())), 0)
