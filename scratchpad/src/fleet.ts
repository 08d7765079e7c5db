/**
 * The multi-replica demo, `DEMO_REPLICAS=N npm run demo` (N from 2 to 16): N replicas of the demo service
 * (replica.ts, one child process each, on free loopback ports) whose breakers are shared on one Redis, and a
 * traffic generator here spreading requests over them round-robin.
 *
 * Redis is `REDIS_URL` when it is set, otherwise a `redis-server` of the demo's own (`scripts/redis-server.mjs`),
 * stopped with the demo: in a process group of its own, so that a Ctrl-C reaches only the demo, which stops its
 * replicas before the server they use, and watched, so that it dies with the demo however the demo ends. The run
 * uses a key prefix of its own (`demo:<random>:`), so a shared Redis is not disturbed.
 *
 * In a 12-second cycle the storage of every replica (standing for one database they all use) works, then fails
 * every write, then works again; the demo sets it on all replicas at the same moment. What to watch:
 *
 * - one replica trips its `storage` breaker (origin `local`), and the others open from its message (`remote`);
 * - once the opening is over, one replica probes for the whole fleet (the others turn half-open from its claim and
 *   reject meanwhile): while the storage still fails the probe fails and the fleet opens again, and once it works
 *   the probe closes every replica's breaker;
 * - the summary counts, per replica, the writes that reached the storage while the fleet's breaker was open
 *   (probes aside) and the probes of each half-open period.
 *
 * Bounded by `DEMO_DURATION_S` as the main demo; Ctrl-C prints the summary too. The replicas and the Redis it
 * started are stopped either way (and a replica stops on its own if this process dies).
 */
import { type ChildProcess, fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"
import { NodeRedis } from "@effect/platform-node"
import { CircuitBreaker, CommonErrors, ErrorFamily } from "@effect-resilience/core"
import { Clock, Config, Console, Data, Duration, Effect, Fiber, Option, Runtime } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisServer from "../../scripts/redis-server.mjs"
import type { FromReplica, ToReplica } from "./replica.js"

/** A failure of the demo's own set-up, said in one line (no stack trace), exit code 1. */
export class FleetDemoError extends Data.TaggedError("FleetDemoError")<{ readonly message: string }> {
  override readonly [Runtime.errorReported] = false
  override readonly [Runtime.errorExitCode] = 1
}

const phases = [
  { name: "storage healthy", seconds: 3, rate: 0, note: "every replica's writes succeed" },
  {
    name: "storage outage",
    seconds: 4,
    rate: 1,
    note: "every write fails on every replica: one replica trips, its opening reaches the others"
  },
  {
    name: "storage recovered",
    seconds: 5,
    rate: 0,
    note: "writes succeed again: one probe for the whole fleet closes every replica's breaker"
  }
] as const

// ---------------------------------------------------------------------------------------------------------------
// the replicas

interface Replica {
  readonly id: string
  readonly child: ChildProcess
  readonly base: string
}

/** One message of replica number `replica` (from 0), in the order it sent them. */
export interface Event {
  readonly replica: number
  readonly message: FromReplica
}

const replicaScript = fileURLToPath(new URL("./replica.js", import.meta.url))

/**
 * Starts replica `index` as a child process with an IPC channel, and waits until it says it is ready with its
 * store shared; stopped (SIGTERM, SIGKILL after 3 s) when the scope closes. Its messages go to `onEvent`.
 */
const startReplica = (
  index: number,
  env: { readonly url: string; readonly prefix: string },
  onEvent: (event: Event) => void
) =>
  Effect.gen(function*() {
    const id = `replica-${index + 1}`
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        fork(replicaScript, [], {
          env: { ...process.env, DEMO_REPLICA: id, DEMO_REDIS_URL: env.url, DEMO_PREFIX: env.prefix },
          stdio: ["ignore", "pipe", "pipe", "ipc"],
          // its own process group: a Ctrl-C reaches only the demo, which stops the replicas itself
          detached: true
        })
      ),
      (child) => Effect.promise(() => RedisServer.stopProcess(child, 3000))
    )
    // what a replica prints itself (a crash) is shown, with its id
    const relay = (data: Buffer) => {
      for (const line of data.toString("utf8").split("\n")) if (line !== "") process.stderr.write(`${id} | ${line}\n`)
    }
    child.stdout?.on("data", relay)
    child.stderr?.on("data", relay)
    const ready = yield* Effect.callback<Extract<FromReplica, { _tag: "Ready" }>, FleetDemoError>((resume) => {
      child.on("message", (message: FromReplica) => {
        if (message._tag === "Ready") resume(Effect.succeed(message))
        else onEvent({ replica: index, message })
      })
      child.once("exit", (code, signal) =>
        resume(Effect.fail(new FleetDemoError({ message: `${id} exited at start-up (${code ?? signal})` }))))
    }).pipe(
      Effect.timeoutOrElse({
        duration: "20 seconds",
        orElse: () => Effect.fail(new FleetDemoError({ message: `${id} did not start within 20 s` }))
      })
    )
    if (ready.mode !== "shared") {
      return yield* new FleetDemoError({ message: `${id} could not reach Redis at ${env.url} within 10 s` })
    }
    child.once("exit", (code, signal) => {
      onEvent({ replica: index, message: { _tag: "Log", at: Date.now(), level: "Error", text: `exited (${code ?? signal})` } })
    })
    return { id, child, base: `http://127.0.0.1:${ready.port}` } satisfies Replica
  })

const tell = (replicas: ReadonlyArray<Replica>, order: ToReplica) =>
  Effect.sync(() => {
    for (const { child } of replicas) if (child.connected) child.send(order)
  })

// ---------------------------------------------------------------------------------------------------------------
// the traffic: POST /save only (each replica has its own in-memory items, so reads would mostly miss)

type Tally = Map<string, number>

const label = (() => {
  const names = new Map([
    [ErrorFamily.infoOf(new CommonErrors.StorageError({ operation: "", detail: "" })).code, "storage"],
    [
      ErrorFamily.infoOf(new CircuitBreaker.BreakerOpenError({ breaker: "", status: "open", retryAfterMillis: 0 })).code,
      "breaker"
    ]
  ])
  return (status: number, code: string | undefined) =>
    status < 400 ? `${status}` : `${status} ${code === undefined ? "" : names.get(code) ?? code}`.trim()
})()

const save = (replica: Replica, n: number, tallies: ReadonlyArray<Tally>) =>
  Effect.promise(async (signal) => {
    const response = await fetch(`${replica.base}/save`, {
      signal,
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": `fleet-${n}` },
      body: JSON.stringify({ id: `item-${n % 50}`, name: `Item ${n % 50}`, quantity: n % 7 })
    })
    const body = await response.text()
    let code: string | undefined
    try {
      code = response.status >= 400 ? JSON.parse(body).code : undefined
    } catch {
      code = undefined
    }
    return label(response.status, code)
  }).pipe(
    Effect.catchDefect((error) => Effect.succeed(`no answer (${String(error).slice(0, 40)})`)),
    Effect.map((key) => {
      for (const tally of tallies) tally.set(key, (tally.get(key) ?? 0) + 1)
    })
  )

/**
 * 12 requests a second, request n to replica n mod N, through the phases in a cycle; a tally every second, and the
 * answers of the whole run in `totals` (one per replica).
 */
const traffic = (replicas: ReadonlyArray<Replica>, totals: ReadonlyArray<Tally>) =>
  Effect.gen(function*() {
    let n = 0
    while (true) {
      for (const phase of phases) {
        yield* tell(replicas, { _tag: "SetFailureRate", rate: phase.rate })
        yield* Console.log(`\n-- ${phase.name} (storage failure rate ${phase.rate} on every replica): ${phase.note}`)
        for (let second = 0; second < phase.seconds; second++) {
          const tallies = replicas.map((): Tally => new Map())
          yield* Effect.all([
            Effect.forEach(Array.from({ length: 12 }, () => n++), (i) =>
              save(replicas[i % replicas.length]!, i, [tallies[i % replicas.length]!, totals[i % replicas.length]!]).pipe(
                Effect.delay(Duration.millis((i % 12) * 80))
              ), { concurrency: "unbounded" }),
            Effect.sleep(Duration.seconds(1))
          ], { concurrency: "unbounded" })
          const parts = replicas.map((r, i) =>
            `${r.id}: ${[...tallies[i]!.entries()].sort().map(([k, v]) => `${v}× ${k}`).join(", ")}`
          )
          yield* Console.log(`   client  ${parts.join("   ")}`)
        }
      }
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// what the console shows of the replicas: their transitions (and the store's warnings), in time order

const clock = (millis: number) => new Date(millis).toISOString().slice(11, 23)

type TransitionEvent = Event & { readonly message: Extract<FromReplica, { _tag: "Transition" }> }

const isTransition = (event: Event): event is TransitionEvent => event.message._tag === "Transition"

/**
 * Prints the replicas' transitions a moment after they arrive (messages from different processes may arrive out of
 * order), sorted by time. A transition adopted from another replica (`remote`, `sync`) is shown with the replica
 * that decided it (the transition's `replica`), and how long after that replica's own transition it arrived.
 */
const makePrinter = (replicas: ReadonlyArray<string>) => {
  const pending: Array<Event> = []
  const lastLocal = new Map<string, { readonly replica: number; readonly at: number }>()
  const width = Math.max(...replicas.map((id) => id.length))
  const lineOf = (event: Event): string => {
    const id = replicas[event.replica]!.padEnd(width)
    const message = event.message
    if (message._tag === "Log") return `${clock(message.at)}  ${id}  ${message.level.toUpperCase()} ${message.text}`
    if (message._tag !== "Transition") return ""
    const t = message.transition
    const change = `${t.breaker}  ${t.from} → ${t.to}`.padEnd(28)
    let detail: string
    if (t.origin === "local") {
      lastLocal.set(t.to, { replica: event.replica, at: t.at })
      detail = `local: ${t.reason}${t.openMillis !== undefined ? `, open ${t.openMillis} ms` : ""}`
    } else {
      const decided = lastLocal.get(t.to)
      const lag = decided !== undefined && replicas[decided.replica] === t.replica && decided.at <= t.at
        ? `, +${t.at - decided.at} ms`
        : ""
      detail = t.replica !== undefined ? `${t.origin}, from ${t.replica}${lag}` : t.origin
    }
    return `${clock(t.at)}  ${id}  ${change}(${detail})`
  }
  const atOf = (event: Event) =>
    isTransition(event) ? event.message.transition.at : event.message._tag === "Log" ? event.message.at : 0
  return {
    add: (event: Event) => {
      if (event.message._tag === "Transition" || event.message._tag === "Log") pending.push(event)
    },
    /** Prints what arrived (all of it when `all`, else what is older than 100 ms). */
    flush: (all: boolean) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const cutoff = now - 100
        const ready = pending.filter((e) => all || atOf(e) <= cutoff)
        if (ready.length === 0) return Effect.void
        pending.splice(0, pending.length, ...pending.filter((e) => !ready.includes(e)))
        // stable: a replica's own messages keep their order
        ready.sort((a, b) => atOf(a) - atOf(b))
        return Effect.forEach(ready, (e) => Console.log(lineOf(e)), { discard: true })
      })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the summary

interface Period {
  readonly kind: "open" | "half_open"
  readonly start: number
  /** The replica whose local transition began it. */
  readonly by: number
  readonly reason: string
  end?: number
  /** How a half-open period ended: its probe closed the breaker, or failed and opened it again. */
  outcome?: "closed" | "open"
  /** Other replicas that decided the same change themselves (two trips at once). */
  readonly alsoBy: Array<number>
  readonly probes: Array<{ readonly replica: number; readonly failed: boolean }>
}

interface ReplicaFigures {
  writes: number
  writesWhileOpen: number
  probes: number
  local: number
  remote: number
  sync: number
  status: string
}

/**
 * The fleet's periods from the replicas' transitions, and each write placed in them. The fleet's breaker changes
 * when a replica decides a change itself (a `local` transition); the others adopt it. Each replica's messages are
 * in the order it sent them, so a write made while that replica was half-open is one of its probes, and a write
 * of the replica that tripped, made before its trip, is not counted as made while open.
 */
export const analyse = (replicas: number, events: ReadonlyArray<Event>) => {
  const transitions = events.filter(isTransition)
    .map((e, order) => ({ e, order }))
    .sort((a, b) => a.e.message.transition.at - b.e.message.transition.at || a.order - b.order)
    .map(({ e }) => e)
  const periods: Array<Period> = []
  const fleet: { status: "closed" | "open" | "half_open" } = { status: "closed" }
  const begin = (kind: Period["kind"], event: TransitionEvent) => {
    const current = periods.at(-1)
    if (current !== undefined && current.end === undefined) current.end = event.message.transition.at
    if (current !== undefined && current.kind === "half_open") current.outcome = kind === "open" ? "open" : "closed"
    const t = event.message.transition
    periods.push({ kind, start: t.at, by: event.replica, reason: t.reason, alsoBy: [], probes: [] })
    fleet.status = kind
  }
  for (const event of transitions) {
    const t = event.message.transition
    if (t.origin !== "local") continue
    if (t.to === "open" && fleet.status !== "open") begin("open", event)
    else if (t.to === "open") periods.at(-1)!.alsoBy.push(event.replica)
    else if (t.to === "half_open" && fleet.status === "open") begin("half_open", event)
    else if (t.to === "closed" && fleet.status !== "closed") {
      const current = periods.at(-1)!
      current.end = t.at
      if (current.kind === "half_open") current.outcome = "closed"
      fleet.status = "closed"
    }
  }
  const latest = (test: (p: Period) => boolean) => [...periods].reverse().find(test)
  const within = (at: number) => latest((p) => p.start <= at && (p.end === undefined || at < p.end))
  const figures = Array.from({ length: replicas }, (): ReplicaFigures => ({
    writes: 0,
    writesWhileOpen: 0,
    probes: 0,
    local: 0,
    remote: 0,
    sync: 0,
    status: "closed"
  }))
  for (const event of events) {
    const mine = figures[event.replica]!
    const message = event.message
    if (message._tag === "Transition") {
      mine.status = message.transition.to
      mine[message.transition.origin]++
    } else if (message._tag === "Write") {
      mine.writes++
      if (mine.status === "half_open") {
        mine.probes++
        latest((p) => p.kind === "half_open" && p.start <= message.at)?.probes.push({
          replica: event.replica,
          failed: message.failed
        })
      } else {
        const period = within(message.at)
        if (period !== undefined && !(period.by === event.replica && mine.status === "closed")) mine.writesWhileOpen++
      }
    }
  }
  return { periods, figures }
}

const summary = (replicas: ReadonlyArray<Replica>, events: ReadonlyArray<Event>, requests: ReadonlyArray<Tally>) =>
  Effect.gen(function*() {
    const ids = replicas.map((r) => r.id)
    const { figures, periods } = analyse(replicas.length, events)
    const openings = periods.filter((p) => p.kind === "open")
    const halfOpen = periods.filter((p) => p.kind === "half_open")
    yield* Console.log(`\n== summary (${replicas.length} replicas, one Redis)`)
    if (openings.length === 0) yield* Console.log("   the fleet's breaker never opened")
    for (const p of openings) {
      const also = p.alsoBy.length > 0 ? `; ${p.alsoBy.map((i) => ids[i]).join(", ")} tripped too, at once` : ""
      const how = p.reason === "probe_failed" ? `again: ${ids[p.by]}'s probe failed` : `by ${ids[p.by]} (${p.reason})`
      yield* Console.log(
        `   ${clock(p.start)}  fleet opened ${how}${also}, open ${
          p.end === undefined ? "until the end" : `${p.end - p.start} ms`
        }`
      )
    }
    if (halfOpen.length > 0) yield* Console.log("   half-open periods, and the probes the whole fleet made in each:")
    for (const p of halfOpen) {
      const probes = p.probes.map((probe) => `${ids[probe.replica]} ${probe.failed ? "failed" : "succeeded"}`)
      const ended = p.outcome === undefined ? "still half-open at the end" : p.outcome === "closed" ? "closed" : "open again"
      yield* Console.log(
        `      ${clock(p.start)}  ${p.probes.length} probe${p.probes.length === 1 ? "" : "s"} (${
          probes.join(", ") || "none"
        }) → ${ended}`
      )
    }
    const width = Math.max(...ids.map((id) => id.length))
    yield* Console.log(
      `   ${"".padEnd(width)}  requests  writes  writes while open  probes  transitions local/remote/sync  now`
    )
    for (const [i, f] of figures.entries()) {
      const sent = [...requests[i]!.values()].reduce((a, b) => a + b, 0)
      yield* Console.log(
        `   ${ids[i]!.padEnd(width)}  ${String(sent).padStart(8)}  ${String(f.writes).padStart(6)}  ${
          String(f.writesWhileOpen).padStart(16)
        }  ${String(f.probes).padStart(6)}  ${`${f.local}/${f.remote}/${f.sync}`.padStart(30)}  ${f.status}`
      )
    }
    yield* Console.log(
      "   (writes: calls that reached the storage; while open: those made while the fleet's breaker was open or " +
        "half-open, probes aside)"
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// the run

/** Deletes the run's keys from a Redis the demo did not start (`REDIS_URL`): every key begins with the prefix. */
const removeKeys = (url: string, prefix: string) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    let cursor = "0"
    let removed = 0
    do {
      const [next, keys] = yield* redis.send<[string, Array<string>]>("SCAN", cursor, "MATCH", `${prefix}*`, "COUNT", "100")
      if (keys.length > 0) removed += yield* redis.send<number>("DEL", ...keys)
      cursor = next
    } while (cursor !== "0")
    return removed
  }).pipe(
    Effect.provide(NodeRedis.layer({ url })),
    Effect.timeoutOption("3 seconds"),
    Effect.flatMap((removed) =>
      Console.log(
        removed._tag === "Some"
          ? `   removed the run's ${removed.value} key(s) (${prefix}*) from REDIS_URL`
          : `   could not remove the run's keys (${prefix}*) from REDIS_URL in time`
      )
    ),
    Effect.catch((error) => Console.log(`   could not remove the run's keys (${prefix}*) from REDIS_URL: ${error.message}`))
  )

/** The demo with `replicas` replicas, for `duration` seconds or until interrupted. */
export const run = (replicas: number, duration: Option.Option<number>) =>
  Effect.gen(function*() {
    const fromEnv = Option.filter(yield* Config.option(Config.String("REDIS_URL")), (url) => url !== "")
    let url: string
    if (Option.isSome(fromEnv)) {
      url = fromEnv.value
      yield* Console.log(`fleet demo: ${replicas} replicas sharing their breakers on Redis at ${url} (REDIS_URL)`)
    } else {
      // stopped (SIGTERM, SIGKILL after 5 s) when the scope closes, after the replicas that use it
      const server = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => RedisServer.start({ detached: true, label: "demo" }),
          catch: (error) =>
            new FleetDemoError({ message: `DEMO_REPLICAS needs Redis: ${error instanceof Error ? error.message : error}` })
        }),
        (server) => Effect.promise(() => server.stop())
      )
      url = server.url
      yield* Console.log(
        `fleet demo: ${replicas} replicas sharing their breakers on Redis at ${url} (redis-server pid ${server.pid}, ` +
          `stopped at the end)`
      )
    }
    const prefix = `demo:${randomBytes(4).toString("hex")}:`
    // run after the replicas are stopped (finalizers run in reverse order)
    if (Option.isSome(fromEnv)) yield* Effect.addFinalizer(() => removeKeys(url, prefix))

    const events: Array<Event> = []
    const ids = Array.from({ length: replicas }, (_, i) => `replica-${i + 1}`)
    const printer = makePrinter(ids)
    // what the replicas say once the summary is made (their exit, as they are stopped) is not shown
    let closing = false
    const onEvent = (event: Event) => {
      if (closing) return
      events.push(event)
      printer.add(event)
    }
    const started = yield* Effect.forEach(ids, (_, i) => startReplica(i, { url, prefix }, onEvent), {
      concurrency: "unbounded"
    })
    yield* Console.log(`   key prefix ${prefix} (this run's keys and channel)`)
    for (const replica of started) {
      yield* Console.log(`   ${replica.id} on ${replica.base} (pid ${replica.child.pid}), breaker store shared`)
    }
    yield* Console.log(
      `dashboard: ${started[0]!.base}/dashboard  (the whole fleet, from any replica's: while one is watched, each publishes its figures on Redis)`
    )
    yield* Console.log(
      Option.isSome(duration) ? `running for ${duration.value} s (DEMO_DURATION_S)` : "running until Ctrl-C"
    )
    yield* Console.log("breaker transitions, per replica: time, replica, breaker, change (origin: who decided it)")

    yield* Effect.forever(Effect.andThen(Effect.sleep("50 millis"), printer.flush(false))).pipe(Effect.forkChild)
    const requests = started.map((): Tally => new Map())
    const generator = yield* traffic(started, requests).pipe(Effect.forkChild)
    const finish = Effect.gen(function*() {
      yield* Fiber.interrupt(generator)
      // the last messages of the replicas, then everything still waiting to be printed
      yield* Effect.sleep("300 millis")
      yield* printer.flush(true)
      closing = true
      yield* summary(started, events, requests)
    })
    if (Option.isSome(duration)) {
      yield* Effect.sleep(Duration.seconds(duration.value))
      yield* finish
    } else {
      yield* Fiber.join(generator).pipe(Effect.onInterrupt(() => Effect.ignore(finish)))
    }
  }).pipe(Effect.scoped)
