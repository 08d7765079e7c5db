// The edge's rate limit: the limiter it takes permits from, found or built when the edge's layer is built, and the
// RateLimit / RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers.
import { Effect, Exit, Option } from "effect"
import type { HttpServerRequest } from "effect/http"
import { ConfigError, RateLimiter, RateLimiterRegistry } from "@effect-resilience/core"

/** The shape of `HttpEdge`'s `rateLimit` option (the public type is `HttpEdge.RateLimitOptions`). */
export interface RateLimitOptions {
  readonly limiter: string | RateLimiter.Options
  readonly key?: ((request: HttpServerRequest.HttpServerRequest) => string | undefined) | undefined
  readonly headers?: boolean | undefined
}

/** What the middleware needs: the limiter, how to key a request, and the fields to add (when `headers`). */
export interface Admission {
  readonly limiter: RateLimiter.RateLimiter
  readonly keyOf: (request: HttpServerRequest.HttpServerRequest) => string | undefined
  /** The `RateLimit-Policy` field, the same on every response; `undefined` when headers are off. */
  readonly policy: string | undefined
}

/** The name of the one policy the edge advertises: the draft's example name, as a client library expects it. */
export const policyName = "default"

/** The local limiter an edge builds from `RateLimiter.Options`. */
export const localLimiterName = "http"

const path = ["rateLimit", "limiter"] as const

const configError = (message: string) => new ConfigError.ConfigError({ issues: [{ path: [...path], message }] })

export const remoteAddressKey = (request: HttpServerRequest.HttpServerRequest): string =>
  Option.getOrElse(request.remoteAddress, () => "unknown")

/**
 * `"default";q=<limit>;w=<window seconds>`. The draft's `w` is whole seconds (not zero): a window that is not a
 * whole number of seconds leaves `w` out rather than misstate it.
 */
export const policyField = (limit: number, windowMillis: number): string =>
  windowMillis >= 1000 && windowMillis % 1000 === 0
    ? `"${policyName}";q=${limit};w=${windowMillis / 1000}`
    : `"${policyName}";q=${limit}`

/** `"default";r=<remaining>;t=<seconds>`. */
export const limitField = (remaining: number, seconds: number): string =>
  `"${policyName}";r=${Math.max(0, Math.floor(remaining))};t=${Math.max(0, Math.ceil(seconds))}`

/** The issues of limiter options given inline, under `rateLimit.limiter` (the decode is synchronous). */
export const limiterOptionsIssues = (options: RateLimiter.Options): ReadonlyArray<ConfigError.Issue> => {
  const exit = Effect.runSyncExit(RateLimiter.validate(options))
  if (Exit.isSuccess(exit)) return []
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure !== undefined && ConfigError.isConfigError(failure.error)
    ? ConfigError.under(failure.error, path).issues
    : [{ path: [...path], message: "Invalid rate limiter options" }]
}

/**
 * The edge's admission, when its layer is built: a name is looked up in the `RateLimiterRegistry` of the context
 * (refused when there is none, or when the registry has no options of its own for that name); options build
 * a local limiter named "http".
 */
export const make = (options: RateLimitOptions): Effect.Effect<Admission, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const limiter = yield* limiterOf(options.limiter)
    const headers = options.headers ?? true
    const state = headers ? yield* limiter.state : undefined
    return {
      limiter,
      keyOf: options.key ?? remoteAddressKey,
      policy: state === undefined ? undefined : policyField(state.limit, state.windowMillis)
    }
  })

const limiterOf = (limiter: string | RateLimiter.Options): Effect.Effect<RateLimiter.RateLimiter, ConfigError.ConfigError> =>
  typeof limiter !== "string"
    ? RateLimiter.make(localLimiterName, limiter).pipe(Effect.mapError((error) => ConfigError.under(error, path)))
    : Effect.flatMap(Effect.serviceOption(RateLimiterRegistry.RateLimiterRegistry), (registry) => {
      const name = JSON.stringify(limiter.slice(0, 80))
      if (Option.isNone(registry)) {
        return Effect.fail(configError(
          `No RateLimiterRegistry to find the rate limiter ${name} in: provide ErrorLayer (or RateLimiterRegistry.layer) ` +
            "to the edge's layer, or give RateLimiter options instead of a name"
        ))
      }
      // a name the registry has no options of its own for is refused (a misspelt name would otherwise get the
      // default options, or none)
      if (!registry.value.has(limiter)) {
        return Effect.fail(configError(
          `No rate limiter ${name} in the RateLimiterRegistry's limiters: name one configured there`
        ))
      }
      return Effect.succeed(registry.value.limiter(limiter))
    })
