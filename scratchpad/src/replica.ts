/**
 * One replica of the multi-replica demo (`DEMO_REPLICAS=N npm run demo`, see fleet.ts), run by the demo as a child
 * process with an IPC channel: the demo service (service.ts) on a free loopback port, its breakers shared on Redis
 * through `RedisBreakerStore`, with this replica's id and the run's key prefix.
 *
 * It tells the demo, over the channel, when it is ready (its port, and whether its store is shared), every
 * transition of its breakers (with their origin), every write that reaches its storage, and the breaker store's
 * warnings; it takes the storage's failure rate from the demo, which sets it on every replica at once, as one
 * database going down would. Its own log lines (one per request and retry) are dropped: with several replicas
 * they would flood the console.
 *
 * It stops on SIGTERM or SIGINT, and on its own when the channel closes (the demo died without stopping it).
 */
import { NodeRedis, NodeRuntime } from "@effect/platform-node"
import { BreakerRegistry, type CircuitBreaker, RedisBreakerStore } from "@effect-resilience/core"
import { Cause, Config, Context, Effect, Layer, Logger, Queue, References, Schedule, Stream } from "effect"
import { HttpServer } from "effect/http"
import { ServiceLive, Storage, type Write } from "./service.js"

/** What the demo sends a replica. */
export type ToReplica = { readonly _tag: "SetFailureRate"; readonly rate: number }

/** What a replica sends the demo. */
export type FromReplica =
  | { readonly _tag: "Ready"; readonly port: number; readonly mode: "shared" | "degraded" }
  | { readonly _tag: "Transition"; readonly transition: CircuitBreaker.Transition }
  | ({ readonly _tag: "Write" } & Write)
  | { readonly _tag: "Log"; readonly at: number; readonly level: string; readonly text: string }

const send = (message: FromReplica) => {
  if (process.connected) process.send?.(message)
}

// once the replica is ready: the breaker store's own messages (degraded, reachable again, rules differ) and
// anything at Error or worse outside a request; not the request and retry lines (the demo's tally shows the answers)
let ready = false
const forwarding = Logger.make(({ cause, date, fiber, logLevel, message }) => {
  if (!ready) return
  const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
  const inRequest = fiber.getRef(References.CurrentLogAnnotations).requestId !== undefined
  const severe = (logLevel === "Error" || logLevel === "Fatal") && !inRequest
  if (!severe && !text.startsWith("breaker")) return
  const failure = cause.reasons.length > 0 ? `: ${Cause.pretty(cause).split("\n")[0]}` : ""
  send({ _tag: "Log", at: date.getTime(), level: logLevel, text: text + failure })
})

const main = Effect.gen(function*() {
  const replica = yield* Config.String("DEMO_REPLICA")
  const url = yield* Config.String("DEMO_REDIS_URL")
  const prefix = yield* Config.String("DEMO_PREFIX")

  const context = yield* Layer.build(
    ServiceLive({ port: 0, failureRate: 0, logFormat: false, onWrite: (write) => send({ _tag: "Write", ...write }) }).pipe(
      // the service's ErrorLayer finds the store in its context: every breaker of its registry is shared
      Layer.provideMerge(RedisBreakerStore.layerFrom(
        NodeRedis.layer(RedisBreakerStore.nodeRedisOptions({ url })),
        { prefix, replica }
      )),
      Layer.provide(Logger.layer([forwarding]))
    )
  )
  const { address } = Context.get(context, HttpServer.HttpServer)
  const port = "port" in address ? address.port : 0

  yield* Context.get(context, BreakerRegistry.BreakerRegistry).changes.pipe(
    Stream.runForEach((transition) => Effect.sync(() => send({ _tag: "Transition", transition }))),
    Effect.forkChild
  )

  const storage = Context.get(context, Storage)
  const orders = yield* Queue.unbounded<ToReplica>()
  process.on("message", (message: ToReplica) => Queue.offerUnsafe(orders, message))

  // ready once the store is shared (the store connects in the background), or degraded after 10 s
  const store = Context.get(context, RedisBreakerStore.RedisBreakerStore)
  const mode = yield* store.mode.pipe(
    Effect.repeat({ until: (mode) => mode === "shared", schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutOption("10 seconds"),
    Effect.map((shared) => shared._tag === "Some" ? "shared" as const : "degraded" as const)
  )
  send({ _tag: "Ready", port, mode })
  ready = true

  while (true) {
    const order = yield* Queue.take(orders)
    if (order._tag === "SetFailureRate") yield* storage.setFailureRate(order.rate)
  }
}).pipe(Effect.scoped)

// the demo died without stopping this replica: stop as on SIGTERM, and for good after 3 s whatever happens
process.once("disconnect", () => {
  setTimeout(() => process.exit(1), 3000).unref()
  process.kill(process.pid, "SIGTERM")
})

NodeRuntime.runMain(main)
