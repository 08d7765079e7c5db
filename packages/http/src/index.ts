/**
 * @effect-resilience/http: the HTTP edge of a service built on @effect-resilience/core. Typed errors become
 * RFC 9457 problem responses through one mapping; requests get ids, log lines and 5xx reports; ops endpoints
 * expose metrics, health and the error summary.
 *
 * @since 0.1.0
 */

/**
 * The one place errors become HTTP statuses and problems.
 *
 * @since 0.1.0
 */
export * as ErrorMapping from "./ErrorMapping.js"

/**
 * Effect's `HttpApi` at the edge: error families as documented endpoint errors, answered as problems.
 *
 * @since 0.1.0
 */
export * as HttpApiEdge from "./HttpApiEdge.js"

/**
 * The edge: `handle` for routes, the global middleware, JSON bodies with typed errors, and option checks.
 *
 * @since 0.1.0
 */
export * as HttpEdge from "./HttpEdge.js"

/**
 * The problem model and JSON pointers.
 *
 * @since 0.1.0
 */
export * as Problem from "./Problem.js"

/**
 * Body formats for problems: RFC 9457 and the `{"error": {...}}` envelope.
 *
 * @since 0.1.0
 */
export * as ProblemFormat from "./ProblemFormat.js"

/**
 * Errors for requests refused before any handler logic runs.
 *
 * @since 0.1.0
 */
export * as RequestErrors from "./RequestErrors.js"

/**
 * Request ids.
 *
 * @since 0.1.0
 */
export * as RequestId from "./RequestId.js"

/**
 * The request log: one redacted line per request, and the report of every 5xx.
 *
 * @since 0.1.0
 */
export * as RequestLog from "./RequestLog.js"

/**
 * Operations endpoints: `/metrics`, `/health`, `/errors`.
 *
 * @since 0.1.0
 */
export * as OpsRoutes from "./OpsRoutes.js"
