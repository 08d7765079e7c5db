import { createServer, type Server } from "node:http"
import { connect } from "node:net"
import { NodeHttpServer } from "@effect/platform-node"
import { BreakerRegistry, CommonErrors, ErrorLayer, Policy, protect, TripRule } from "@effect-resilience/core"
import { Context, Effect, Exit, Layer, Logger, References, Schema, Scope } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpEdge, OpsRoutes, RequestId } from "@effect-resilience/http"

/** A log record as the tests read it. */
export interface Line {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  readonly cause: string | undefined
}

/** A logger that keeps every record in `lines` (Info and above), as the tests read them. */
export const captureLogs = (lines: Array<Line>): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([
      Logger.map(Logger.formatStructured, (r) => {
        lines.push({ level: r.level, message: r.message, annotations: r.annotations, cause: r.cause })
      })
    ]),
    Layer.succeed(References.MinimumLogLevel, "Info")
  )

/** A web request as effect's server would see it: `GET http://localhost<path>` unless `init` says otherwise. */
export const requestOf = (path: string, init?: RequestInit): HttpServerRequest.HttpServerRequest =>
  HttpServerRequest.fromWeb(new Request(`http://localhost${path}`, init))

/** A response's status, headers and body, read as the client would. */
export const readResponse = (response: HttpServerResponse.HttpServerResponse) =>
  Effect.promise(async () => {
    const web = HttpServerResponse.toWeb(response)
    return { status: web.status, headers: web.headers, text: await web.text() }
  })

/** An in-memory store whose writes fail on demand: the next `failNext` writes, or every write while `down`. */
export class FlakyStore {
  failNext = 0
  down = false
  writes = 0
  readonly items = new Map<string, { readonly name: string; readonly quantity: number }>()
  save(id: string, item: { readonly name: string; readonly quantity: number }) {
    return Effect.suspend(() => {
      this.writes++
      if (this.down || this.failNext > 0) {
        if (this.failNext > 0) this.failNext--
        return Effect.fail(
          new CommonErrors.StorageError({ operation: "items.save", detail: "pg: ECONNRESET 10.1.2.3:5432 (secret-host)" })
        )
      }
      this.items.set(id, item)
      return Effect.void
    })
  }
}

export const SaveBody = Schema.Struct({
  id: Schema.NonEmptyString,
  name: Schema.NonEmptyString,
  quantity: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

/** The edge under test: default mapping, rfc9457 format, a small body limit, `password` redacted by default. */
export const makeApp = (store: FlakyStore, edgeOptions: HttpEdge.Options = {}) => {
  const Edge = HttpEdge.make({ maxBodyBytes: 4096, ...edgeOptions })
  const Routes = Layer.mergeAll(
    HttpRouter.add(
      "POST",
      "/save",
      Edge.handle(Effect.gen(function*() {
        const body = yield* HttpEdge.json(SaveBody)
        yield* store.save(body.id, body).pipe(protect({ operation: "items.save", breaker: "storage" }))
        return HttpServerResponse.jsonUnsafe({ result: "ok" })
      }))
    ),
    HttpRouter.add(
      "GET",
      "/items/:id",
      Edge.handle(Effect.gen(function*() {
        const { id = "" } = yield* HttpRouter.params
        const item = store.items.get(id)
        if (item === undefined) return yield* Effect.fail(new CommonErrors.NotFoundError({ resource: "item", id }))
        return HttpServerResponse.jsonUnsafe({ id, ...item })
      }))
    ),
    HttpRouter.add(
      "GET",
      "/defect",
      Edge.handle(Effect.sync((): HttpServerResponse.HttpServerResponse => {
        throw new Error("invariant broken in /srv/app/items.ts: secret-token-123")
      }))
    ),
    // a route not wrapped by handle: the middleware still answers with a problem
    HttpRouter.add("GET", "/raw-defect", Effect.die(new Error("raw defect with secret-token-456"))),
    HttpRouter.add(
      "GET",
      "/reset/:token",
      Edge.handle(Effect.fail(new CommonErrors.NotFoundError({ resource: "reset link" })))
    ),
    HttpRouter.add("GET", "/request-id", Effect.map(RequestId.current, (id) => HttpServerResponse.text(id)))
  )
  return { Edge, Routes: Layer.mergeAll(Routes, Edge.layer, OpsRoutes.layer) }
}

export const errorLayer = ErrorLayer.layer({
  logFormat: false,
  policies: [Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 3, baseDelay: "1 millis" })],
  breakers: { breakers: { storage: { trip: TripRule.consecutive(6), openDuration: "1 minute" } } }
})

/** What `serve` provides to its routes: the router, the Node server's services and the error layer's. */
type ServedWith =
  | HttpRouter.HttpRouter
  | HttpRouter.Request<"Requires", ErrorLayer.Services>
  | Layer.Success<ReturnType<typeof NodeHttpServer.layer>>

/**
 * Serves `routes` on a random localhost port, with logs captured; `close` stops the server. `server` makes the
 * Node server (default `createServer()`).
 */
export const serve = async <E>(
  routes: Layer.Layer<never, E, ServedWith>,
  lines: Array<Line>,
  options: { readonly server?: () => Server } = {}
) => {
  const capture = captureLogs(lines)
  const server = HttpRouter.serve(routes, {
    disableLogger: true,
    disableListenLog: true
  }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(options.server ?? (() => createServer()), { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(errorLayer),
    Layer.provide(capture)
  )
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(server, scope))
  const { address } = Context.get(context, HttpServer.HttpServer)
  if (!("port" in address)) throw new Error("expected a TCP address")
  const registry = Context.get(context, BreakerRegistry.BreakerRegistry)
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    registry,
    run: <A>(effect: Effect.Effect<A>) => Effect.runPromise(effect.pipe(Effect.provide(capture))),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** Sends raw bytes on a new connection and resolves with everything the server wrote before closing it. */
export const sendRaw = (port: number, bytes: string | Uint8Array): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes))
    let data = ""
    socket.on("data", (chunk) => (data += chunk.toString("latin1")))
    socket.on("close", () => resolve(data))
    socket.on("error", (error) => (data === "" ? reject(error) : resolve(data)))
  })

/** A raw HTTP/1.1 response: status, lowercased headers, body. */
export const parseRaw = (raw: string) => {
  const end = raw.indexOf("\r\n\r\n")
  const [statusLine = "", ...headerLines] = raw.slice(0, end === -1 ? raw.length : end).split("\r\n")
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(":")
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { statusLine, status: Number(statusLine.split(" ")[1]), headers, body: end === -1 ? "" : raw.slice(end + 4) }
}
