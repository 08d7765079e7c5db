/**
 * The project's main job: the demo service (service.ts) on `PORT` (default 3000), driven by a built-in traffic
 * generator that stages, in a 15-second cycle, a flaky storage (retries succeed), an outage (the breaker opens and
 * requests are rejected with 503 + Retry-After), a recovery (a half-open probe closes the breaker), and an
 * overload (slow writes fill the bulkhead, which refuses the excess with 503; a greedy client is rate-limited
 * with 429).
 *
 *   npm run demo                      runs until Ctrl-C
 *   DEMO_DURATION_S=15 npm run demo   runs 15 s, prints the final summary, exits 0
 *   STORAGE_FAILURE_RATE=0.3          the storage's failure rate outside the outage (default 0.2)
 *   LOG_FORMAT=json                   JSON log lines
 *   DEMO_REPLICAS=3 npm run demo      3 replicas sharing their breakers on Redis (REDIS_URL, or a redis-server of
 *                                     its own), traffic spread over them: see fleet.ts
 *
 * The rules are reloadable: the demo writes them to a JSON file it watches (printed at start), and 2.5 s in it
 * rewrites the file (fewer storage retries, a smaller storage bulkhead); the reload is printed as it applies, and
 * GET /rules shows the rules in force. Edit the file yourself while it runs to see your own change apply (or an
 * invalid one refused, with every problem named).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { BreakerRegistry, BulkheadRegistry, ConfigReload } from "@effect-resilience/core"
import {
  Cause,
  Config,
  Console,
  Context,
  Duration,
  Effect,
  Fiber,
  Layer,
  Logger,
  Option,
  Random,
  References,
  Schema,
  Stream
} from "effect"
import { HttpServer } from "effect/http"
import * as Fleet from "./fleet.js"
import { ServiceLive, Storage } from "./service.js"

interface Phase {
  readonly name: string
  readonly seconds: number
  readonly rate: number | undefined
  readonly note: string
  /** Overload: the storage's latency, the saves per second, and a greedy client's reads per second. */
  readonly overload?: { readonly latencyMillis: number; readonly saves: number; readonly greedyReads: number }
}

const phases: ReadonlyArray<Phase> = [
  { name: "flaky storage", seconds: 4, rate: undefined, note: "some writes fail; the storage policy retries them" },
  { name: "storage outage", seconds: 3, rate: 1, note: "every write fails: retries run out, the breaker opens" },
  { name: "storage recovered", seconds: 5, rate: 0, note: "writes succeed again: a half-open probe closes the breaker" },
  {
    name: "overload",
    seconds: 3,
    rate: 0,
    note: "writes take 150 ms and 60 arrive a second: the storage bulkhead (8 at once, 8 waiting up to 100 ms) " +
      "refuses the excess with 503; a greedy client reading 40 times a second gets 429 past its 20",
    overload: { latencyMillis: 150, saves: 60, greedyReads: 40 }
  }
]

type Tally = Map<string, number>

// the reloadable rules the demo starts with (those of service.ts), and the change it makes while it runs
const startRules = {
  policies: { StorageError: { maxAttempts: 4, baseDelay: "20 millis", maxDelay: "200 millis", logLevel: "Warn" } },
  bulkheads: { bulkheads: { storage: { limit: 8, queue: 8, queueTimeout: "100 millis", retryAfter: "1 second" } } }
}
const changedRules = {
  policies: { StorageError: { maxAttempts: 2, baseDelay: "20 millis", maxDelay: "200 millis", logLevel: "Warn" } },
  bulkheads: { bulkheads: { storage: { limit: 4, queue: 8, queueTimeout: "100 millis", retryAfter: "1 second" } } }
}
const reloadAfter = Duration.millis(2500)

/** Each reload's outcome, as it happens: what changed, or every problem of a refused file. */
const reloads = (context: Context.Context<ConfigReload.ConfigReload | BulkheadRegistry.BulkheadRegistry>) =>
  ConfigReload.events.pipe(
    Stream.runForEach((event) =>
      Effect.gen(function*() {
        if (event._tag === "ReloadRejected") {
          const problems = event.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`).join("; ")
          return yield* Console.log(`   rules refused (generation ${event.generation} stays): ${problems}`)
        }
        const { policies, bulkheads } = event.changes
        const changed = [
          ...(policies.default ? ["the default policy"] : []),
          ...[...policies.added, ...policies.updated, ...policies.removed].map((tag) => `policy ${tag}`),
          ...bulkheads.map((b) => `bulkhead ${b.name} (${b.change}, state ${b.state})`)
        ]
        const storage = (yield* BulkheadRegistry.states).find((b) => b.name === "storage")
        yield* Console.log(
          `   rules reloaded, generation ${event.generation}: ${changed.join(", ") || "nothing changed"}` +
            (storage === undefined ? "" : `; storage bulkhead now ${storage.limit} at once, ${storage.inFlight} in flight kept`)
        )
      })
    ),
    Effect.provideContext(context)
  )

/**
 * One request of the generated traffic: mostly saves, some reads (known and unknown ids), some invalid saves,
 * from four well-behaved clients; `kind` forces a save, or a read by the greedy client.
 */
const oneRequest = (base: string, n: number, tally: Tally, kind?: "save" | "greedy read") =>
  Effect.gen(function*() {
    const pick = kind === "save" ? 0 : kind === "greedy read" ? 0.75 : yield* Random.next
    const id = `item-${n % 50}`
    const client = kind === "greedy read" ? "greedy" : `client-${n % 4}`
    const headers = { "x-request-id": `demo-${n}`, "x-client-id": client }
    const [label, request] = pick < 0.7
      ? ["save", fetch(`${base}/save`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ id, name: `Item ${n % 50}`, quantity: n % 7 })
      })] as const
      : pick < 0.85
      ? [kind ?? "read", fetch(`${base}/items/${pick < 0.8 ? id : `missing-${n}`}`, { headers })] as const
      : ["invalid save", fetch(`${base}/save`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ id, quantity: -1 })
      })] as const
    const response = yield* Effect.promise(() => request)
    const body = yield* Effect.promise(() => response.text())
    let code = ""
    if (response.status >= 400) {
      try {
        code = ` ${JSON.parse(body).code}`
      } catch {
        code = ""
      }
    }
    const key = `${label} ${response.status}${code}`
    tally.set(key, (tally.get(key) ?? 0) + 1)
  })

/** Sends about 12 requests a second through the phases (100 in the overload), in a cycle, printing a tally every second. */
const traffic = (base: string, normalRate: number) =>
  Effect.gen(function*() {
    const storage = yield* Storage
    let n = 0
    for (let cycle = 1;; cycle++) {
      for (const phase of phases) {
        yield* storage.setFailureRate(phase.rate ?? normalRate)
        yield* storage.setLatency(phase.overload?.latencyMillis ?? 0)
        yield* Console.log(`\n-- ${phase.name} (storage failure rate ${phase.rate ?? normalRate}): ${phase.note}`)
        for (let second = 0; second < phase.seconds; second++) {
          const tally: Tally = new Map()
          // the second's requests spread over it (12, or the overload's); it lasts at least one second
          const spread = (count: number, kind?: "save" | "greedy read") =>
            Effect.forEach(Array.from({ length: count }, () => n++), (i) =>
              oneRequest(base, i, tally, kind).pipe(Effect.delay(Duration.millis(((i % count) * 960) / count))), {
              concurrency: "unbounded"
            })
          const load = phase.overload === undefined
            ? [spread(12)]
            : [spread(phase.overload.saves, "save"), spread(phase.overload.greedyReads, "greedy read")]
          yield* Effect.all([...load, Effect.sleep(Duration.seconds(1))], { concurrency: "unbounded" })
          const line = [...tally.entries()].sort().map(([k, v]) => `${v}× ${k}`).join(", ")
          yield* Console.log(`   client: ${line}`)
        }
      }
    }
  })

/** The final summary, read through the service's own ops endpoints. */
const summary = (base: string) =>
  Effect.gen(function*() {
    const get = (path: string) => Effect.promise(() => fetch(base + path).then(async (r) => ({ status: r.status, text: await r.text() })))
    const errors = JSON.parse((yield* get("/errors")).text)
    const health = yield* get("/health")
    const metrics = (yield* get("/metrics")).text
    const rules = JSON.parse((yield* get("/rules")).text)
    const { attempted, failed } = yield* (yield* Storage).writes
    yield* Console.log("\n== summary")
    yield* Console.log(`   storage writes: ${attempted} attempted, ${failed} failed on purpose`)
    yield* Console.log(`   GET /health -> ${health.status} ${health.text}`)
    yield* Console.log(`   GET /errors -> ${errors.total} errors tracked; recovery ${JSON.stringify(errors.recovery)}`)
    for (const t of errors.byTag) {
      yield* Console.log(`      ${String(t.count).padStart(5)}  ${t.tag.padEnd(20)} ${t.code}  ${t.kind}/${t.severity}`)
    }
    yield* Console.log(`      breaker transitions: ${errors.breakers.transitions}`)
    yield* Console.log(
      `   GET /rules -> generation ${rules.generation}; StorageError maxAttempts ` +
        `${rules.rules.policies?.StorageError?.maxAttempts ?? "?"}, storage bulkhead limit ` +
        `${rules.rules.bulkheads?.bulkheads?.storage?.limit ?? "?"}`
    )
    yield* Console.log("   GET /metrics (breaker, call, bulkhead, rate-limiter and retry-budget series, non-zero):")
    const shown = [
      "resilience_breaker_state",
      "resilience_breaker_transitions_total",
      "resilience_calls_total",
      "resilience_bulkhead_rejections_total",
      "resilience_bulkhead_admitted_total",
      "resilience_rate_limiter_rejections_total",
      "resilience_retries_suppressed_total",
      "resilience_retry_budget_available",
      "resilience_config_generation",
      "resilience_config_reloads_total"
    ]
    for (const line of metrics.split("\n").filter((l) => shown.some((m) => l.startsWith(m)) && !l.endsWith(" 0"))) {
      yield* Console.log(`      ${line}`)
    }
  })

/**
 * One line per log record, for reading the demo in a terminal: time, level, message, the request id and the
 * figures that matter, and the first line of a cause. `LOG_FORMAT=pretty|json` gives the library's formats.
 */
const compactLogger = Logger.make(({ cause, date, fiber, logLevel, message }) => {
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  const keys = ["requestId", "durationMs", "code"] as const
  const pairs = keys.flatMap((k) => (annotations[k] === undefined ? [] : [`${k}=${String(annotations[k])}`]))
  const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
  const failure = cause.reasons.length > 0 ? `  cause: ${Cause.pretty(cause).split("\n")[0]}` : ""
  globalThis.console.log(`${date.toISOString().slice(11, 23)} ${logLevel.toUpperCase().padEnd(5)} ${text}  ${pairs.join(" ")}${failure}`)
})

const main = Effect.gen(function*() {
  // PORT=0 picks a free port
  const port = yield* Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })), "PORT").pipe(
    Config.withDefault(3000)
  )
  const normalRate = yield* Config.schema(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })), "STORAGE_FAILURE_RATE")
    .pipe(Config.withDefault(0.2))
  const duration = yield* Config.option(Config.schema(Schema.Int.check(Schema.isGreaterThan(0)), "DEMO_DURATION_S"))
  const logFormat = yield* Config.option(Config.String("LOG_FORMAT"))
  // the reloadable rules, in a file of the demo's own
  const dir = mkdtempSync(join(tmpdir(), "effect-resilience-demo-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const rulesFile = join(dir, "rules.json")
  writeFileSync(rulesFile, JSON.stringify(startRules, null, 2) + "\n")
  const context = yield* Layer.build(
    Option.isSome(logFormat)
      ? ServiceLive({ port, failureRate: normalRate, rulesFile })
      : ServiceLive({ port, failureRate: normalRate, logFormat: false, rulesFile }).pipe(
        Layer.provide(Logger.layer([compactLogger]))
      )
  )
  const { address } = Context.get(context, HttpServer.HttpServer)
  const base = `http://localhost:${"port" in address ? address.port : port}`
  yield* Console.log(
    `demo service listening on ${base}  (POST /save, GET /items/:id, GET /metrics, /health, /errors, /events, /rules)`
  )
  yield* Console.log(`dashboard: ${base}/dashboard  (live: open it in a browser)`)
  const { generation } = yield* ConfigReload.status.pipe(Effect.provideContext(context))
  yield* Console.log(
    `rules: ${rulesFile}  (generation ${generation}, read at start; watched: edit it to reload; GET ${base}/rules)`
  )
  yield* Console.log(
    Option.isSome(duration) ? `running for ${duration.value} s (DEMO_DURATION_S)` : "running until Ctrl-C"
  )

  // breaker state changes, as they happen
  const registry = Context.get(context, BreakerRegistry.BreakerRegistry)
  yield* registry.changes.pipe(
    Stream.runForEach((t) =>
      Console.log(`   breaker ${t.breaker}: ${t.from} -> ${t.to} (${t.reason}${t.openMillis ? `, open ${t.openMillis} ms` : ""})`)
    ),
    Effect.forkChild
  )

  yield* reloads(context).pipe(Effect.forkChild)
  // the demo's own change of the rules, a little after the start
  yield* Effect.sleep(reloadAfter).pipe(
    Effect.andThen(Console.log(
      "\n-- rules file rewritten: storage writes get 2 attempts instead of 4, the storage bulkhead 4 places instead of 8"
    )),
    Effect.andThen(Effect.sync(() => writeFileSync(rulesFile, JSON.stringify(changedRules, null, 2) + "\n"))),
    Effect.forkChild
  )

  const generator = yield* traffic(base, normalRate).pipe(Effect.provideContext(context), Effect.forkChild)
  if (Option.isSome(duration)) {
    yield* Effect.sleep(Duration.seconds(duration.value))
    yield* Fiber.interrupt(generator)
    yield* summary(base).pipe(Effect.provideContext(context))
  } else {
    yield* Fiber.join(generator).pipe(
      Effect.onInterrupt(() => summary(base).pipe(Effect.provideContext(context), Effect.ignore))
    )
  }
}).pipe(Effect.scoped)

/** `DEMO_REPLICAS`, when set: the number of replicas of the multi-replica demo (2 to 16). */
const replicas = Effect.flatMap(Config.option(Config.String("DEMO_REPLICAS")), (raw) => {
  if (Option.isNone(raw) || raw.value === "") return Effect.succeed(Option.none<number>())
  const n = Number(raw.value)
  return Number.isInteger(n) && n >= 2 && n <= 16
    ? Effect.succeed(Option.some(n))
    : Effect.fail(
      new Fleet.FleetDemoError({ message: `DEMO_REPLICAS must be a whole number from 2 to 16, got ${JSON.stringify(raw.value)}` })
    )
})

const program = Effect.gen(function*() {
  const fleet = yield* replicas
  if (Option.isNone(fleet)) return yield* main
  const duration = yield* Config.option(Config.schema(Schema.Int.check(Schema.isGreaterThan(0)), "DEMO_DURATION_S"))
  return yield* Fleet.run(fleet.value, duration)
}).pipe(
  // the demo's own set-up failures in one line (missing redis-server, unreachable REDIS_URL), exit code 1
  Effect.tapError((error) => error instanceof Fleet.FleetDemoError ? Console.error(error.message) : Effect.void)
)

NodeRuntime.runMain(program)
