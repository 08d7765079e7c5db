/**
 * The problem a failed request becomes, before a {@link ProblemFormat} renders it as a body: status, RFC 9457
 * members and the project's extensions (`code`, `requestId`, `errors`).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One failing input field: where it is, as a JSON Pointer in URI fragment form (`#/items/0/name`, RFC 6901 and
 * the `errors` example of RFC 9457), and what is wrong with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface FieldProblem {
  readonly pointer: string
  readonly detail: string
}

/**
 * A failed request as the client will see it.
 *
 * - `status` is the HTTP status of the response; the body's `status` is always this value.
 * - `type` is the problem type URI (`about:blank` unless a type base or an override gives one); `title` is the
 *   short summary of that type (by default the status's reason phrase).
 * - `detail` is the error's public message only, never its internal detail.
 * - `instance` is the request path (without the query, which may hold secrets).
 * - `code` is the error family's stable code; for an unclassified error an override makes mappable, the
 *   override's `code`, else the error's tag; `resilience.E0000` for defects and anything else unclassified.
 *   `tag` is the error's `_tag` (for logs; the standard formats leave it out of the body).
 * - `errors` lists the failing fields of invalid input.
 * - `retryAfterSeconds` becomes the `Retry-After` header.
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly status: number
  readonly type: string
  readonly title: string
  readonly detail: string
  readonly instance: string
  readonly code: string
  readonly tag: string
  readonly requestId: string
  readonly errors?: ReadonlyArray<FieldProblem> | undefined
  readonly retryAfterSeconds?: number | undefined
}

/**
 * Schema of a {@link FieldProblem}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FieldProblem = Schema.Struct({
  pointer: Schema.String,
  detail: Schema.String
})

/**
 * The JSON Pointer, in URI fragment form, of a path into a request body: `["items", 0, "name"]` is
 * `#/items/0/name`, and the empty path (the body itself) is `#`. `~` and `/` inside a key are escaped as RFC 6901
 * says, and the rest is percent-encoded as a URI fragment requires.
 *
 * **Example**
 *
 * ```ts
 * import { Problem } from "@effect-resilience/http"
 *
 * Problem.pointer(["items", 0, "name"]) // "#/items/0/name"
 * Problem.pointer(["a/b"]) // "#/a~1b"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const pointer = (path: ReadonlyArray<PropertyKey>): string => {
  let out = "#"
  for (const segment of path) {
    const raw = typeof segment === "symbol" ? segment.description ?? "" : String(segment)
    // a lone surrogate (a client can send one as a JSON key) cannot be percent-encoded: it becomes U+FFFD
    const wellFormed = raw.replace(loneSurrogate, "\uFFFD")
    out += "/" + encodeURIComponent(wellFormed.replaceAll("~", "~0").replaceAll("/", "~1")).replaceAll("%7E", "~")
  }
  return out
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

const reasonPhrases: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  412: "Precondition Failed",
  413: "Content Too Large",
  411: "Length Required",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  418: "I'm a teapot",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  423: "Locked",
  424: "Failed Dependency",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  506: "Variant Also Negotiates",
  507: "Insufficient Storage",
  508: "Loop Detected",
  511: "Network Authentication Required"
}

/**
 * The reason phrase of an HTTP status (RFC 9110), used as a problem's default `title`; `"Error"` for a status
 * it does not know.
 *
 * **Example**
 *
 * ```ts
 * import { Problem } from "@effect-resilience/http"
 *
 * Problem.reasonPhrase(503) // "Service Unavailable"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const reasonPhrase = (status: number): string => reasonPhrases[status] ?? "Error"
