/**
 * The request log: one line per request with method, path, query, route parameters, status and duration, and
 * the names of sensitive fields whose values never reach the log.
 *
 * @since 0.1.0
 */

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
