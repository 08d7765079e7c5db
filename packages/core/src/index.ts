/**
 * @effect-resilience/core: typed error families, Schedule-based retry policies held by a Layer-provided
 * service, `protect`, circuit breakers, bulkheads and rate limiters, the error tracker and its metrics, and error
 * logging for Effect programs.
 *
 * @since 0.1.0
 */

/**
 * Adaptive concurrency limits (AIMD, Gradient2, Vegas) for bulkheads, set from each call's latency.
 *
 * @since 0.3.0
 */
export * as AdaptiveLimit from "./AdaptiveLimit.js"

/**
 * Named circuit breakers shared by a program, with their state changes as one stream, recorded by the tracker and
 * exported as metrics.
 *
 * @since 0.1.0
 */
export * as BreakerRegistry from "./BreakerRegistry.js"

/**
 * Bulkheads: a limit on calls at once, with a bounded queue and typed refusals.
 *
 * @since 0.3.0
 */
export * as Bulkhead from "./Bulkhead.js"

/**
 * Named bulkheads shared by a program, exported as metrics.
 *
 * @since 0.3.0
 */
export * as BulkheadRegistry from "./BulkheadRegistry.js"

/**
 * The one error for invalid options: every problem, as a path from the options root and a message.
 *
 * @since 0.2.0
 */
export * as ConfigError from "./ConfigError.js"

/**
 * Hot reload of the rules (retry policies, bulkhead limits) from a call, a watched JSON file or a polled `Config`:
 * each candidate validated whole, swapped atomically, and reported as an event and a metric.
 *
 * @since 0.6.0
 */
export * as ConfigReload from "./ConfigReload.js"

/**
 * A circuit breaker on a transactional state machine (`TxRef`), with a per-call path that runs no transaction.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * Faults injected into protected calls on purpose (typed failures, defects, latency, interruptions), at a
 * seeded rate or every Nth attempt, to rehearse failures: provide the layer, remove it, and they are gone.
 *
 * @since 0.6.0
 */
export * as Chaos from "./Chaos.js"

/**
 * @since 0.1.0
 */
export * as CommonErrors from "./CommonErrors.js"

/**
 * @since 0.1.0
 */
export * as ErrorFamily from "./ErrorFamily.js"

/**
 * @since 0.1.0
 */
export * as ErrorLayer from "./ErrorLayer.js"

/**
 * @since 0.1.0
 */
export * as ErrorLogger from "./ErrorLogger.js"

/**
 * @since 0.1.0
 */
export * as ErrorRegistry from "./ErrorRegistry.js"

/**
 * The error tracker: a background fiber, owned by the layer's scope, that keeps a bounded history of error events,
 * exact totals per tag and per severity, per-minute rates over a sliding window, recovery outcomes, and feeds
 * subscribers. Callers only enqueue, so recording never slows, blocks or fails them.
 *
 * @since 0.1.0
 */
export * as ErrorTracker from "./ErrorTracker.js"

/**
 * The live view: the service's figures as compact frames about twice a second, with breaker transitions and
 * alert-worthy errors as they happen, for `/events` and `/dashboard`; a fleet's replicas share theirs on Redis.
 *
 * @since 0.5.0
 */
export * as LiveView from "./LiveView.js"

/**
 * How options objects name a key they do not know, with the nearest known name.
 *
 * @since 0.1.0
 */
export * as OptionKeys from "./OptionKeys.js"

/**
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"

/**
 * @since 0.1.0
 */
export * as PolicyService from "./PolicyService.js"

/**
 * @since 0.1.0
 */
export * as Protect from "./Protect.js"

/**
 * Server pushback: the retry-after hint an error carries, and reading it from response headers.
 *
 * @since 0.4.0
 */
export * as Pushback from "./Pushback.js"

/**
 * Rate limiters: token bucket, sliding window and fixed window, per key, with typed refusals.
 *
 * @since 0.3.0
 */
export * as RateLimiter from "./RateLimiter.js"

/**
 * Named rate limiters shared by a program, and across a fleet with a shared store.
 *
 * @since 0.3.0
 */
export * as RateLimiterRegistry from "./RateLimiterRegistry.js"

/**
 * Retry budgets: a cap on the retries and hedges made to a dependency, relative to the calls made to it
 * (Finagle's ratio or gRPC's tokens).
 *
 * @since 0.4.0
 */
export * as RetryBudget from "./RetryBudget.js"

/**
 * Named retry budgets shared by the call sites of one dependency.
 *
 * @since 0.4.0
 */
export * as RetryBudgetRegistry from "./RetryBudgetRegistry.js"

/**
 * Circuit breakers shared by every replica of a service on Redis: local-first (no Redis round trip on the hot
 * path), transitions as compare-and-set scripts, one probe for the fleet, degraded to local breakers while Redis
 * is unreachable.
 *
 * @since 0.2.0
 */
export * as RedisBreakerStore from "./RedisBreakerStore.js"

/**
 * `retry`: `Effect.retry` for policies, with a success path that costs one node.
 *
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * `ResilienceMetrics`: the figures users inspect. `snapshot` returns the tracker's summary plus the outcome of
 * every protected call per operation; the same figures are effect `Metric`s, so effect's `PrometheusMetrics` and
 * `Otlp` exporters publish them with no extra code.
 *
 * @since 0.1.0
 */
export * as ResilienceMetrics from "./ResilienceMetrics.js"

/**
 * Trip rules: consecutive failures, failure rate and slow-call rate over a count or time window.
 *
 * @since 0.1.0
 */
export * as TripRule from "./TripRule.js"

/**
 * `protect`, re-exported at the top level: the one call that applies the whole rule set to an operation.
 *
 * @since 0.1.0
 */
export { protect } from "./Protect.js"

/**
 * `retry`, re-exported at the top level: `Effect.retry` for policies, free on the success path.
 *
 * @since 0.1.0
 */
export { retry } from "./Retry.js"
