import { Schema, Duration } from "effect"
import { ErrorFamily } from "@effect-resilience/core"
import { run, bench, summary } from "mitata"
class BreakerOpenError extends ErrorFamily.TaggedError()("BreakerOpenError", { breaker: Schema.String, retryAfter: Schema.Duration }, { code: "resilience.E0008" }) {}
const d = Duration.millis(100)
bench("new (validated)", () => new BreakerOpenError({ breaker: "p", retryAfter: d }))
bench("new disableChecks", () => new BreakerOpenError({ breaker: "p", retryAfter: d }, { disableChecks: true }))
bench("new stackless", () => { const l = Error.stackTraceLimit; Error.stackTraceLimit = 0; try { return new BreakerOpenError({ breaker: "p", retryAfter: d }, { disableChecks: true }) } finally { Error.stackTraceLimit = l } })
bench("create proto", () => { const e = Object.create(BreakerOpenError.prototype); e.breaker = "p"; e.retryAfter = d; return e })
await run()
