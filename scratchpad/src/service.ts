/**
 * The demo service: a small item store behind the HTTP edge, built only from the public packages.
 *
 * - `POST /save` takes `{ id, name, quantity }` (validated by Schema) and writes it to an in-memory storage that
 *   fails on purpose at a configurable rate, and answers after a configurable latency. Writes are protected by the
 *   storage policy (retries with backoff), the `storage` circuit breaker and the `storage` bulkhead (8 writes at
 *   once, 8 more may wait 100 ms: past that, 503 with `Retry-After`).
 * - Every request carrying `x-client-id` takes a permit of the `clients` rate limiter for that client (20 a
 *   second, bursts of 20): past that, 429 with `Retry-After` and `RateLimit` headers.
 * - `GET /items/:id` answers the item, or a 404 problem (a business error: not retried, not alerting).
 * - `GET /metrics`, `/health`, `/errors`, `/events`, `/dashboard`: the ops endpoints; `GET /rules`: the reloadable
 *   rules in force (from `rulesFile` when given, watched).
 */
import { createServer } from "node:http"
import { NodeFileSystem, NodeHttpServer } from "@effect/platform-node"
import { CommonErrors, ConfigReload, ErrorLayer, protect, TripRule } from "@effect-resilience/core"
import { HttpEdge, OpsRoutes, RequestErrors } from "@effect-resilience/http"
import { Clock, Context, Effect, Layer, Random, Ref, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/** An item as stored and returned. */
export const Item = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^[a-z0-9-]{1,64}$/)),
  name: Schema.NonEmptyString.check(Schema.isMaxLength(100)),
  quantity: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))
})
export type Item = typeof Item.Type

/** One write that reached the storage, as `Storage.layer`'s `onWrite` receives it: when, and whether it failed. */
export interface Write {
  readonly at: number
  readonly failed: boolean
}

/**
 * The in-memory storage. `failureRate` is the share of writes that fail with a `StorageError` (0 to 1); the demo's
 * traffic generator changes it to stage an outage and a recovery. `onWrite` sees every write that reaches it (the
 * multi-replica demo counts those made while the fleet's breaker was open).
 */
export class Storage extends Context.Service<Storage, {
  readonly save: (item: Item) => Effect.Effect<void, CommonErrors.StorageError>
  readonly get: (id: string) => Effect.Effect<Item | undefined>
  readonly setFailureRate: (rate: number) => Effect.Effect<void>
  /** How long each write takes (milliseconds). */
  readonly setLatency: (millis: number) => Effect.Effect<void>
  /** Makes the next `n` writes fail, whatever the rate (for scripted checks). */
  readonly failNext: (n: number) => Effect.Effect<void>
  readonly writes: Effect.Effect<{ readonly attempted: number; readonly failed: number }>
}>()("demo/Storage") {
  static readonly layer = (failureRate: number, onWrite?: (write: Write) => void) =>
    Layer.effect(
      Storage,
      Effect.gen(function*() {
        const items = new Map<string, Item>()
        const rate = yield* Ref.make(failureRate)
        const forced = yield* Ref.make(0)
        const latency = yield* Ref.make(0)
        const counts = yield* Ref.make({ attempted: 0, failed: 0 })
        return Storage.of({
          save: (item) =>
            Effect.gen(function*() {
              const millis = yield* Ref.get(latency)
              if (millis > 0) yield* Effect.sleep(millis)
              const failing = (yield* Ref.modify(forced, (n) => [n > 0, Math.max(0, n - 1)])) ||
                (yield* Random.next) < (yield* Ref.get(rate))
              yield* Ref.update(counts, (c) => ({ attempted: c.attempted + 1, failed: c.failed + (failing ? 1 : 0) }))
              if (onWrite !== undefined) {
                const at = yield* Clock.currentTimeMillis
                onWrite({ at, failed: failing })
              }
              if (failing) {
                return yield* Effect.fail(
                  new CommonErrors.StorageError({ operation: "items.save", detail: `write of ${item.id}: connection reset` })
                )
              }
              items.set(item.id, item)
            }),
          get: (id) => Effect.sync(() => items.get(id)),
          setFailureRate: (r) => Ref.set(rate, Math.min(1, Math.max(0, r))),
          setLatency: (millis) => Ref.set(latency, Math.max(0, millis)),
          failNext: (n) => Ref.set(forced, n),
          writes: Ref.get(counts)
        })
      })
    )
}

/**
 * The service's edge: RFC 9457 problems with the default mapping; `password` and `token` redacted in logs; each
 * client that says who it is (`x-client-id`) rate-limited by the `clients` limiter (requests without the header
 * are not limited).
 */
export const Edge = HttpEdge.make({
  maxBodyBytes: 16 * 1024,
  rateLimit: {
    limiter: "clients",
    key: (request) => {
      const id = request.headers["x-client-id"]
      return id === undefined || id === "" ? undefined : id.slice(0, 64)
    }
  }
})

/** The routes: the two endpoints, the ops endpoints and the edge's middleware. */
export const Routes = Layer.mergeAll(
  HttpRouter.add(
    "POST",
    "/save",
    Edge.handle(Effect.gen(function*() {
      const item = yield* HttpEdge.json(Item)
      const storage = yield* Storage
      yield* storage.save(item).pipe(protect({ operation: "items.save", breaker: "storage", bulkhead: "storage", budget: "storage" }))
      return HttpServerResponse.jsonUnsafe({ result: "ok" })
    }))
  ),
  HttpRouter.add(
    "GET",
    "/items/:id",
    Edge.handle(Effect.gen(function*() {
      const { id = "" } = yield* HttpRouter.params
      const item = yield* (yield* Storage).get(id)
      if (item === undefined) return yield* Effect.fail(new CommonErrors.NotFoundError({ resource: "item", id }))
      return HttpServerResponse.jsonUnsafe(item)
    }))
  ),
  OpsRoutes.layer,
  OpsRoutes.rules(),
  Edge.layer
)

/**
 * The resilience rules, in one place: storage writes get 4 attempts with exponential backoff (20 ms doubling,
 * capped at 200 ms); the `storage` breaker opens when 60 % of the last 20 calls failed (at least 10 calls), stays
 * open 2 s, then lets one probe through; the `storage` bulkhead runs 8 writes at once and lets 8 more wait up to
 * 100 ms; the `clients` limiter gives each client 20 requests a second; the `storage` retry budget lets retries
 * number at most 20 % of the writes of the last 10 s plus 5 a second, so an outage does not get four times the load.
 */
export const Resilience = (logFormat?: ErrorLayer.Options["logFormat"]) => ErrorLayer.layer({
  logFormat,
  errors: RequestErrors.families,
  policies: {
    StorageError: { maxAttempts: 4, baseDelay: "20 millis", maxDelay: "200 millis", logLevel: "Warn" }
  },
  breakers: {
    breakers: {
      storage: {
        trip: TripRule.failureRate({ threshold: 0.6, lastCalls: 20, minimumCalls: 10 }),
        openDuration: "2 seconds",
        halfOpenProbes: 1
      }
    }
  },
  bulkheads: {
    bulkheads: { storage: { limit: 8, queue: 8, queueTimeout: "100 millis", retryAfter: "1 second" } }
  },
  rateLimiters: {
    limiters: { clients: { limit: 20, window: "1 second" } }
  },
  budgets: {
    budgets: { storage: { percent: 0.2, minPerSecond: 5, ttl: "10 seconds" } }
  }
})

/**
 * The whole service on `port` (0 for a random one), with the storage failing at `failureRate`. `logFormat` is
 * passed to `ErrorLayer` (`false` leaves the logger to the caller). `onWrite` sees every write that reaches the
 * storage. Provided with a `RedisBreakerStore` layer, the service shares its breakers with the other replicas using
 * the same Redis and prefix (replica.ts).
 */
export const ServiceLive = (options: {
  readonly port: number
  readonly failureRate: number
  readonly logFormat?: ErrorLayer.Options["logFormat"]
  readonly onWrite?: (write: Write) => void
  /** A JSON file of reloadable rules (`ConfigReload.Rules`), watched: each valid change applies at once. */
  readonly rulesFile?: string | undefined
}) =>
  HttpRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
    // requests Node's parser refuses (raw non-ASCII bytes, oversized headers) are answered as problems too
    // an open /events stream (a dashboard left open) is a response that never ends by itself: at shutdown the server
    // waits for open responses up to gracefulShutdownTimeout (20 s by default), then interrupts them. 2 s here.
    Layer.provideMerge(NodeHttpServer.layer(() => HttpEdge.answerClientErrors(createServer(), Edge), {
      port: options.port,
      gracefulShutdownTimeout: "2 seconds"
    })),
    Layer.provideMerge(Storage.layer(options.failureRate, options.onWrite)),
    // the rules can be reloaded while the service runs (GET /rules shows those in force), from `rulesFile`
    Layer.provideMerge(
      options.rulesFile === undefined
        ? ConfigReload.layer
        : ConfigReload.fromFile(options.rulesFile).pipe(
          Layer.provideMerge(ConfigReload.layer),
          Layer.provide(NodeFileSystem.layer)
        )
    ),
    Layer.provideMerge(Resilience(options.logFormat))
  )
