/**
 * A retry budget: a cap on the retries (and hedges) made to one dependency, relative to the calls made to it, so
 * that retries cannot multiply the load on a dependency exactly when it is weakest. With three attempts, a
 * dependency failing half its calls receives up to 1.75 times the traffic without a budget; with the default
 * budget, at most about 1.2 times (plus a small floor).
 *
 * **Details**
 *
 * Two rules, as the anchors define them:
 *
 * - `"ratio"` (Finagle's `RetryBudget`, the default): over the last `ttl`, retries may number
 *   `minPerSecond × ttl + percent × calls`. Defaults: 20 %, 10 per second, 10 seconds. Every call deposits one
 *   request; every retry withdraws one. Calls and retries older than `ttl` no longer count (counted in ten
 *   slices of the window that leave whole, so an entry counts for between nine tenths of `ttl` and `ttl`).
 * - `"tokens"` (gRPC's `retryThrottling`): a token count starting at `maxTokens`; each failed attempt takes one
 *   token, each successful attempt gives `tokenRatio` back (kept within `[0, maxTokens]`); retries and hedges are
 *   allowed only while the count is above `maxTokens / 2`.
 *
 * When the budget has nothing left, the retry is not made: the call fails at once with its original typed error
 * (no new error type), the give-up is logged and recorded by the tracker as suppressed (reason `"budget"`), and
 * `resilience_retries_suppressed_total{reason="budget"}` counts it (a hedge refused counts in
 * `resilience_hedges_total{result="suppressed"}`). Budgets are named and held by the
 * `RetryBudgetRegistry`; `protect`'s `budget` option, `RetryBudgetRegistry.withBudget` (for
 * `Effect.retry(PolicyService.retry)`) and `protect`'s hedges spend them.
 *
 * **Gotchas**
 *
 * - A budget only knows the calls that deposit into it: those of `protect` call sites naming it, and those run
 *   through `RetryBudgetRegistry.withBudget`. A budget nobody deposits into allows its floor alone
 *   (`minPerSecond × ttl` retries per `ttl`).
 * - The floor matters at low traffic: at 50 calls per second, the default's 10 per second is another 20 %.
 *
 * @since 0.4.0
 */
import { Duration, Effect, Schema } from "effect"
import * as ConfigError from "./ConfigError.js"
import { guarded, objectOf, show } from "./internal/unknownKeys.js"

/**
 * The figures of a budget at one instant: `available` (retries it would allow now), `requests` and `retries` in
 * its window (ratio; for tokens, since it was made), `granted` and `refused` since it was made, and for a tokens
 * budget its `tokens`.
 *
 * @since 0.4.0
 * @category schemas
 */
export const State = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literals(["ratio", "tokens"]),
  available: Schema.Number,
  requests: Schema.Number,
  retries: Schema.Number,
  granted: Schema.Number,
  refused: Schema.Number,
  tokens: Schema.optional(Schema.Number)
})

/**
 * @since 0.4.0
 * @category models
 */
export type State = typeof State.Type

/**
 * Options of a budget: Finagle's ratio (the default kind) or gRPC's tokens.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `kind` | `"ratio"` or `"tokens"` | `"ratio"` |
 * | `percent` | ratio: retries allowed per call, as a share (0 to 10) | `0.2` |
 * | `minPerSecond` | ratio: retries allowed per second regardless of calls (at least 0) | `10` |
 * | `ttl` | ratio: the window calls and retries count in (1 to 60 seconds) | `"10 seconds"` |
 * | `maxTokens` | tokens: the count's ceiling (above 0, at most 1000) | `10` |
 * | `tokenRatio` | tokens: tokens a successful attempt gives back (above 0, at most three decimals) | `0.1` |
 *
 * A key of the other kind, or an unknown key, is refused with the nearest option name.
 *
 * **Example**
 *
 * ```ts
 * import type { RetryBudget } from "@effect-resilience/core"
 *
 * const finagle: RetryBudget.Options = { percent: 0.1, minPerSecond: 5, ttl: "10 seconds" }
 * const grpc: RetryBudget.Options = { kind: "tokens", maxTokens: 10, tokenRatio: 0.1 }
 * ```
 *
 * @since 0.4.0
 * @category models
 */
export type Options =
  | {
    readonly kind?: "ratio" | undefined
    readonly percent?: number | undefined
    readonly minPerSecond?: number | undefined
    readonly ttl?: Duration.Input | undefined
    readonly maxTokens?: never
    readonly tokenRatio?: never
  }
  | {
    readonly kind: "tokens"
    readonly maxTokens?: number | undefined
    readonly tokenRatio?: number | undefined
    readonly percent?: never
    readonly minPerSecond?: never
    readonly ttl?: never
  }

/**
 * A budget's options, validated, with the defaults applied.
 *
 * @since 0.4.0
 * @category models
 */
export type Config =
  | { readonly kind: "ratio"; readonly percent: number; readonly minPerSecond: number; readonly ttlMillis: number }
  | { readonly kind: "tokens"; readonly maxTokens: number; readonly tokenRatio: number }

const ttlMillisOf = (u: unknown): number | undefined => {
  if (typeof u === "number" && !Number.isFinite(u)) return undefined
  const duration = Duration.fromInput(u as Duration.Input)
  if (duration._tag === "None") return undefined
  const millis = Duration.toMillis(duration.value)
  return millis >= 1000 && millis <= 60_000 ? millis : undefined
}

const number = (is: (n: number) => boolean, expected: string) =>
  guarded((u: unknown): u is number => typeof u === "number" && is(u), (u) => `Expected ${expected}, got ${show(u)}`)

const RatioSchema = objectOf(Schema.Struct({
  kind: Schema.optional(Schema.Literal("ratio")),
  percent: Schema.optional(number((n) => n >= 0 && n <= 10, "a share between 0 and 10 (0.2 is 20 %)")),
  minPerSecond: Schema.optional(number((n) => Number.isFinite(n) && n >= 0, "a number of at least 0")),
  ttl: Schema.optional(guarded(
    (u: unknown): u is Duration.Input => ttlMillisOf(u) !== undefined,
    (u) => `Expected a duration between 1 second and 60 seconds, got ${show(u)}`
  ))
}))

const TokensSchema = objectOf(Schema.Struct({
  kind: Schema.Literal("tokens"),
  maxTokens: Schema.optional(number((n) => n > 0 && n <= 1000, "a number above 0 and at most 1000")),
  tokenRatio: Schema.optional(number(
    (n) => n > 0 && Number.isFinite(n) && Math.abs(Math.round(n * 1000) - n * 1000) < 1e-9,
    "a number above 0 with at most three decimals"
  ))
}))

const decodeRatio = Schema.decodeUnknownEffect(RatioSchema)
const decodeTokens = Schema.decodeUnknownEffect(TokensSchema)

const invalid = (issue: Parameters<typeof ConfigError.fromSchemaIssue>[0]) =>
  new ConfigError.ConfigError({ issues: ConfigError.fromSchemaIssue(issue) })

/**
 * Checks options and applies the defaults: every problem at once in a `ConfigError`, paths from the options.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "@effect-resilience/core"
 *
 * // fails with "Invalid options: ttl: Expected a duration between 1 second and 60 seconds, got "2 minutes""
 * const invalid = RetryBudget.validate({ ttl: "2 minutes" }).pipe(Effect.flip)
 * ```
 *
 * @since 0.4.0
 * @category constructors
 */
export const validate = (options: Options = {}): Effect.Effect<Config, ConfigError.ConfigError> =>
  typeof options === "object" && options !== null && (options as { readonly kind?: unknown }).kind === "tokens"
    ? decodeTokens(options, { errors: "all", onExcessProperty: "error" }).pipe(
      Effect.mapError((error) => invalid(error.issue)),
      Effect.map((decoded): Config => ({
        kind: "tokens",
        maxTokens: decoded.maxTokens ?? 10,
        tokenRatio: decoded.tokenRatio ?? 0.1
      }))
    )
    : decodeRatio(options, { errors: "all", onExcessProperty: "error" }).pipe(
      Effect.mapError((error) => invalid(error.issue)),
      Effect.map((decoded): Config => ({
        kind: "ratio",
        percent: decoded.percent ?? 0.2,
        minPerSecond: decoded.minPerSecond ?? 10,
        ttlMillis: decoded.ttl === undefined ? 10_000 : ttlMillisOf(decoded.ttl)!
      }))
    )

/**
 * A budget of the `RetryBudgetRegistry`.
 *
 * - `tryWithdraw` takes one retry from it if it has one, and says whether it had (what `protect` asks before a
 *   retry or a hedge).
 * - `deposit` counts one call (what `protect` does once per call of a site naming the budget).
 * - `record` counts an attempt's outcome (only the `"tokens"` kind uses it).
 * - `state` is its figures now.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudgetRegistry } from "@effect-resilience/core"
 *
 * const left = RetryBudgetRegistry.budget("payments").pipe(
 *   Effect.flatMap((budget) => budget.state),
 *   Effect.map((state) => state.available)
 * )
 * ```
 *
 * @since 0.4.0
 * @category models
 */
export interface RetryBudget {
  readonly name: string
  readonly config: Config
  readonly tryWithdraw: Effect.Effect<boolean>
  readonly deposit: Effect.Effect<void>
  readonly record: (failed: boolean) => Effect.Effect<void>
  readonly state: Effect.Effect<State>
}
