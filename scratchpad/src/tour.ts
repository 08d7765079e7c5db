/**
 * A tour of @effect-resilience/core on a small "shop",
 * ending with the error tracker's summary and the metrics effect's Prometheus exporter would publish.
 * Run it with `npm run tour` (set LOG_FORMAT=json for JSON log lines).
 */
import {
  BreakerRegistry,
  CommonErrors,
  ErrorFamily,
  ErrorLayer,
  ErrorRegistry,
  ErrorTracker,
  Policy,
  PolicyService,
  protect,
  ResilienceMetrics,
  TripRule
} from "@effect-resilience/core"
import { Console, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"

// --- the shop's own error families: one declaration each -----------------------------------------------------
class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "shop.E0001",
  kind: "business",
  severity: "low",
  publicMessage: ({ sku }) => `Item ${sku} is out of stock`
}) {}

class LedgerCorrupted extends ErrorFamily.TaggedError<LedgerCorrupted>()("LedgerCorrupted", {
  ledger: Schema.String
}, {
  code: "shop.E0002",
  kind: "unrecoverable",
  severity: "critical",
  publicMessage: "Payments are temporarily disabled."
}) {}

// --- the rules, in one place ----------------------------------------------------------------------------------
const ShopErrors = ErrorLayer.layer({
  errors: [OutOfStock],
  defaultPolicy: { maxAttempts: 2, baseDelay: "20 millis" },
  policies: [
    Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 5, baseDelay: "20 millis", maxDelay: "100 millis" }),
    Policy.forFamily(CommonErrors.NetworkError, { maxAttempts: 3, baseDelay: "30 millis", logLevel: "Warn" }),
    Policy.forFamily(LedgerCorrupted, Policy.noRetry({
      logLevel: "Error",
      cleanup: (e) => Console.log(`   cleanup: ledger ${e.ledger} set read-only`)
    }))
  ],
  breakers: {
    breakers: { inventory: { trip: TripRule.consecutive(3), openDuration: "200 millis", halfOpenProbes: 1 } }
  }
})

// --- simulated dependencies -----------------------------------------------------------------------------------
const flakyStorage = (failures: number) => {
  let calls = 0
  return Effect.suspend(() =>
    ++calls <= failures
      ? Effect.fail(new CommonErrors.StorageError({ operation: "items.insert", detail: `ECONNRESET on call ${calls}` }))
      : Effect.succeed(`saved after ${calls} calls`)
  )
}
const bank = Effect.fail(new CommonErrors.NetworkError({ target: "bank-api", detail: "connect ECONNREFUSED 10.0.0.7:443" }))
const slowSearch = Effect.sleep("1 second").pipe(Effect.as(["result"]))

const section = (title: string) => Console.log(`\n== ${title}`)

const tour = Effect.gen(function*() {
  // an unrecoverable error that ended an operation: the tracker's events, selected by kind and give-up
  yield* ErrorTracker.subscribe(
    (a) => Console.log(`   ALERT ${a.severity} ${a.code} in ${a.operation}: ${a.message}`),
    { name: "alerts", kinds: ["unrecoverable"], gaveUp: true }
  )
  // the tracker calls this for every critical error, on its own fiber: a slow or failing pager blocks nothing
  yield* ErrorTracker.subscribe(
    (event) => Console.log(`   PAGE ${event.code} ${event.tag} in ${event.operation ?? "?"}: ${event.message}`),
    { name: "pager", minSeverity: "critical" }
  )
  yield* Effect.yieldNow

  yield* section("Registry: every declared error family")
  for (const f of (yield* ErrorRegistry.ErrorRegistry).families) {
    yield* Console.log(`   ${f.code.padEnd(18)} ${f.tag.padEnd(18)} ${f.kind.padEnd(14)} ${f.severity}`)
  }

  yield* section("Storage fails twice, its policy allows 5 attempts: success")
  yield* Console.log(`   -> ${yield* flakyStorage(2).pipe(protect({ operation: "items.save" }))}`)

  yield* section("Storage keeps failing: the original typed error after exactly 5 attempts")
  const storageError = yield* Effect.flip(flakyStorage(99).pipe(protect({ operation: "items.save" })))
  yield* Console.log(`   -> ${storageError._tag}; public: "${storageError.publicMessage}"; internal: "${storageError.detail}"`)
  yield* Console.log(`   -> client view: ${JSON.stringify(ErrorFamily.publicView(storageError))}`)

  yield* section("Invalid input is a business error: never retried")
  const invalid = yield* Schema.decodeUnknownEffect(Schema.Struct({ name: Schema.NonEmptyString, qty: Schema.Int }))(
    { name: "", qty: 1.5 },
    { errors: "all" }
  ).pipe(Effect.mapError(CommonErrors.validationErrorFromSchema), protect({ operation: "items.validate" }), Effect.flip)
  yield* Console.log(`   -> ${invalid._tag} (${invalid.code}): ${invalid.publicMessage}`)

  yield* section("The bank is unreachable: 3 attempts, then the fallback")
  yield* Console.log(`   -> ${
    yield* bank.pipe(protect({
      operation: "payments.authorize",
      recover: { NetworkError: (e) => Effect.succeed(`queued for later (${e.target} unreachable)`) }
    }))
  }`)

  yield* section("Each attempt limited to 100 ms: TimeoutError after the default policy's 2 attempts")
  const timeout = yield* Effect.flip(slowSearch.pipe(protect({ operation: "search.query", timeout: "100 millis" })))
  yield* Console.log(`   -> ${timeout._tag} after ${timeout.timeoutMillis} ms per attempt`)

  yield* section("An unrecoverable error: no retry, cleanup runs, an alert is raised")
  const corrupted = yield* Effect.flip(
    Effect.fail(new LedgerCorrupted({ ledger: "2026-11", detail: "checksum mismatch at page 88" })).pipe(
      protect({ operation: "payments.settle" })
    )
  )
  yield* Console.log(`   -> ${corrupted._tag} (${corrupted.code}, ${corrupted.severity})`)

  yield* section("A business error without a policy of its own is answered at once")
  const stock = yield* Effect.flip(Effect.fail(new OutOfStock({ sku: "A-1" })).pipe(Effect.retry(PolicyService.retry)))
  yield* Console.log(`   -> ${stock.publicMessage}`)

  yield* section("A circuit breaker: the inventory service goes down, then comes back")
  const transitions = yield* BreakerRegistry.BreakerRegistry.use((r) => Effect.succeed(r.changes)).pipe(
    Stream.unwrap,
    Stream.runForEach((t) =>
      Console.log(`   breaker ${t.breaker}: ${t.from} -> ${t.to} (${t.reason}${t.openMillis ? `, ${t.openMillis} ms` : ""})`)
    ),
    Effect.forkChild
  )
  yield* Effect.yieldNow
  let inventoryUp = false
  const inventory = Effect.suspend(() =>
    inventoryUp ? Effect.succeed(7) : Effect.fail(new CommonErrors.NetworkError({ target: "inventory" }))
  )
  // NetworkError's policy allows 3 attempts: the third failure opens the breaker, so the next call is rejected
  const first = yield* Effect.flip(inventory.pipe(protect({ operation: "stock.read", breaker: "inventory" })))
  yield* Console.log(`   -> ${first._tag} after 3 attempts`)
  const rejected = yield* Effect.flip(inventory.pipe(protect({ operation: "stock.read", breaker: "inventory" })))
  yield* Console.log(
    `   -> ${rejected._tag}: rejected at once, retry after ${
      rejected._tag === "BreakerOpenError" ? rejected.retryAfterMillis : "?"
    } ms; no retries spent`
  )
  inventoryUp = true
  yield* Effect.sleep("250 millis")
  yield* Console.log(`   -> ${yield* inventory.pipe(protect({ operation: "stock.read", breaker: "inventory" }))} in stock (the probe closed it)`)
  yield* Effect.yieldNow
  yield* Fiber.interrupt(transitions)

  yield* section("A bad policy config fails the layer build, naming each field")
  const bad = yield* Effect.flip(Layer.build(ErrorLayer.layer({
    logFormat: false,
    policies: { StorageError: { maxAttempts: 0, baseDelay: "soon" } }
  })))
  yield* Console.log(`   -> ${bad._tag}: ${bad.message}`)

  // the subscribers run on their own fibers: let them print before the summary
  yield* Effect.sleep("10 millis")

  yield* section("The error tracker's summary and the calls per operation (ResilienceMetrics.snapshot)")
  const { errors, calls } = yield* ResilienceMetrics.snapshot
  yield* Console.log(`   ${errors.total} errors tracked; ${errors.rates.perMinute.toFixed(1)}/min over the last ${
    errors.rates.windowSeconds / 60
  } minutes; ${errors.dropped} dropped`)
  for (const t of errors.byTag) {
    yield* Console.log(`   ${String(t.count).padStart(4)}  ${t.tag.padEnd(18)} ${t.code}  ${t.kind}/${t.severity}`)
  }
  yield* Console.log(`   recovery: ${JSON.stringify(errors.recovery)}`)
  for (const c of calls) {
    yield* Console.log(
      `   ${c.operation.padEnd(18)} succeeded ${c.succeeded}, after retry ${c.succeeded_after_retry}; ` +
        `failed ${c.failed}, after retry ${c.failed_after_retry}`
    )
  }

  yield* section("The same figures as effect metrics (effect's PrometheusMetrics, no formatter of ours)")
  const exposition = yield* PrometheusMetrics.format()
  const shown = ["resilience_errors_total", "resilience_breaker_calls_total", "resilience_breaker_state"]
  for (const line of exposition.split("\n").filter((l) => shown.some((m) => l.startsWith(m)) && !l.endsWith(" 0"))) {
    yield* Console.log(`   ${line}`)
  }
})

await Effect.runPromise(tour.pipe(Effect.scoped, Effect.provide(ShopErrors)))
