// The live parts of the ops routes: `GET /events` (the live view as Server-Sent Events), `GET /dashboard` (the
// self-contained page and its hash-based CSP), the bearer `token` on every data route and `layerWith`. The SSE
// tests read a real server on a random localhost port through Node's http client, a chunk at a time; the interval is
// 50 ms so a frame is never far away, and every wait is bounded.
import { createHash } from "node:crypto"
import { createServer, type IncomingMessage, request as httpRequest } from "node:http"
import { connect } from "node:net"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, type Duration, Effect, Exit, Layer, Redacted, Schedule, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { HttpRouter, HttpServer } from "effect/http"
import {
  BreakerRegistry,
  CommonErrors,
  type ConfigError,
  ErrorLayer,
  ErrorTracker,
  LiveView,
  TripRule
} from "@effect-resilience/core"
import { OpsRoutes } from "@effect-resilience/http"
import { captureLogs, type Line } from "./fixtures.js"

// test bodies are read loosely
type Json = any

// ---------------------------------------------------------------------------------------------------------------
// a real server over an error layer with live-view options
// ---------------------------------------------------------------------------------------------------------------

/** What `serve` provides to its routes: the router, the Node server's services and the error layer's. */
type ServedWith =
  | HttpRouter.HttpRouter
  | HttpRouter.Request<"Requires", ErrorLayer.Services>
  | Layer.Success<ReturnType<typeof NodeHttpServer.layer>>

/**
 * Serves `routes` on a random localhost port over an error layer whose live view has `live` (a 50 ms interval
 * unless it says otherwise) and a `storage` breaker opening after 3 consecutive failures; logs are captured.
 */
const serveLive = async <E>(
  routes: Layer.Layer<never, E, ServedWith>,
  live: LiveView.Options = {},
  options: { readonly gracefulShutdownTimeout?: Duration.Input } = {}
) => {
  const lines: Array<Line> = []
  const capture = captureLogs(lines)
  const services = ErrorLayer.layer({
    logFormat: false,
    live: { interval: "50 millis", ...live },
    breakers: { breakers: { storage: { trip: TripRule.consecutive(3), openDuration: "1 minute" } } }
  })
  const server = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1", ...options })),
    Layer.provideMerge(services),
    Layer.provide(capture)
  )
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(server, scope))
  const { address } = Context.get(context, HttpServer.HttpServer)
  if (!("port" in address)) throw new Error("expected a TCP address")
  const run = <A, E2>(effect: Effect.Effect<A, E2, ErrorLayer.Services>) =>
    Effect.runPromise(effect.pipe(Effect.provide(context), Effect.provide(capture)))
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    lines,
    run,
    stats: () => run(LiveView.LiveView.use((live) => live.stats)),
    /** Resolves once the view has `clients` clients, polling every 10 ms; fails after 3 s. */
    clientsBecome: (clients: number) =>
      run(
        LiveView.LiveView.use((live) => live.stats).pipe(
          Effect.repeat({ until: (s) => s.clients === clients, schedule: Schedule.spaced("10 millis") }),
          Effect.timeout("3 seconds")
        )
      ),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

type Served = Awaited<ReturnType<typeof serveLive>>

/** Runs `body` against a fresh server, closing it whatever happens. */
const withServer = async <E>(
  routes: Layer.Layer<never, E, ServedWith>,
  live: LiveView.Options,
  body: (server: Served) => Promise<void>
) => {
  const server = await serveLive(routes, live)
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

/** Rejects after `ms` unless `promise` settles first. */
const within = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

// ---------------------------------------------------------------------------------------------------------------
// reading Server-Sent Events
// ---------------------------------------------------------------------------------------------------------------

/** One SSE message as sent: its raw text (without the blank line ending it), event name and data. */
interface Sent {
  readonly raw: string
  readonly event: string
  readonly data: string
}

/**
 * Opens `GET url` with Node's `http` (a connection of its own, no pool) and reads its body as SSE, a chunk at a
 * time. `next` resolves with the next message (comment-only blocks, the pings, are skipped), failing after `ms`;
 * `close` destroys the request. (Not fetch: undici opens a spare connection after an abort, which the server then
 * waits for on close.)
 */
const openEvents = async (url: string, headers: Record<string, string> = {}) => {
  const req = httpRequest(url, { agent: false, headers })
  const res = await within(
    new Promise<IncomingMessage>((resolve, reject) => {
      req.on("response", resolve)
      req.on("error", reject)
      req.end()
    }),
    3000,
    `the answer of ${url}`
  )
  req.on("error", () => undefined) // the destroy of `close`
  const response = {
    status: res.statusCode,
    headers: { get: (name: string) => (res.headers[name.toLowerCase()] as string | undefined) ?? null }
  }
  const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const decoder = new TextDecoder()
  let buffer = ""
  const read = (deadline: number, what: string) =>
    within(chunks.next(), Math.max(1, deadline - Date.now()), what)
  const next = async (ms = 3000): Promise<Sent> => {
    const deadline = Date.now() + ms
    for (;;) {
      const end = buffer.indexOf("\n\n")
      if (end !== -1) {
        const raw = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const lines = raw.split("\n").filter((l) => !l.startsWith(":"))
        if (lines.length === 0) continue
        const field = (name: string) =>
          lines.filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).replace(/^ /, ""))
        return { raw, event: field("event").join(""), data: field("data").join("\n") }
      }
      const chunk = await read(deadline, "the next SSE message")
      if (chunk.done === true) throw new Error(`the stream ended; left over: ${JSON.stringify(buffer)}`)
      buffer += decoder.decode(chunk.value, { stream: true })
    }
  }
  /** The next message whose event is `event`, skipping at most `limit` others. */
  const nextOf = async (event: string, limit = 100, ms = 3000): Promise<Sent> => {
    for (let i = 0; i <= limit; i++) {
      const sent = await next(ms)
      if (sent.event === event) return sent
    }
    throw new Error(`no ${event} message in ${limit + 1}`)
  }
  /** Resolves with what is left of the body once the stream ends (failing after `ms`). */
  const end = async (ms = 3000): Promise<string> => {
    const deadline = Date.now() + ms
    for (;;) {
      const chunk = await read(deadline, "the end of the stream")
      if (chunk.done === true) return buffer
      buffer += decoder.decode(chunk.value, { stream: true })
    }
  }
  const close = () => {
    req.destroy()
  }
  return { response, next, nextOf, end, close }
}

const decodeMessage = Schema.decodeUnknownSync(LiveView.Message)

/** The `LiveView.Message` an SSE message stands for, decoded: the event names its tag, a frame's data is its view. */
const messageOf = (sent: Sent): LiveView.Message => {
  const data: Json = JSON.parse(sent.data)
  assert.notProperty(data, "_tag")
  switch (sent.event) {
    case "hello":
      return decodeMessage({ _tag: "Hello", ...data })
    case "frame":
      return decodeMessage({ _tag: "Frame", view: data })
    case "transition":
      return decodeMessage({ _tag: "Transition", ...data })
    case "alert":
      return decodeMessage({ _tag: "Alert", ...data })
    case "dropped":
      return decodeMessage({ _tag: "Dropped", ...data })
    default:
      throw new Error(`unexpected event ${sent.event}`)
  }
}

/** Each message as `OpsRoutes.events` writes it: an `event:` line, then one `data:` line of JSON. */
const assertWireFormat = (sent: Sent) => {
  assert.match(sent.raw, /^event: (hello|frame|transition|alert|dropped|refused)\ndata: \{.*\}$/)
  assert.strictEqual(sent.raw, `event: ${sent.event}\ndata: ${sent.data}`)
}

const tripStorage = Effect.gen(function*() {
  const breaker = yield* BreakerRegistry.breaker("storage")
  for (let i = 0; i < 3; i++) {
    yield* Effect.ignore(breaker.execute(Effect.fail(new CommonErrors.StorageError({ operation: "save" }))))
  }
})

const Unauthorized = {
  type: "about:blank",
  title: "Unauthorized",
  status: 401,
  detail: "These routes need a bearer token."
}

const assertUnauthorized = async (response: Response, what: string) => {
  assert.strictEqual(response.status, 401, what)
  assert.strictEqual(response.headers.get("content-type"), "application/problem+json", what)
  assert.strictEqual(response.headers.get("www-authenticate"), `Bearer realm="ops"`, what)
  assert.strictEqual(response.headers.get("cache-control"), "no-store", what)
  assert.deepStrictEqual(await response.json(), Unauthorized, what)
}

// ---------------------------------------------------------------------------------------------------------------
// GET /events
// ---------------------------------------------------------------------------------------------------------------

describe("OpsRoutes.events: the live view as Server-Sent Events", () => {
  it("answers 200 text/event-stream, uncached; hello first, then frames every interval, each decoding as a Message", () =>
    withServer(OpsRoutes.events(), {}, async (server) => {
      const events = await openEvents(`${server.url}/events`)
      try {
        const { response } = events
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
        assert.strictEqual(response.headers.get("cache-control"), "no-cache, no-store")
        assert.strictEqual(response.headers.get("x-accel-buffering"), "no")

        const hello = await events.next()
        assert.strictEqual(hello.event, "hello")
        assertWireFormat(hello)
        const greeting = messageOf(hello)
        assert.strictEqual(greeting._tag, "Hello")
        if (greeting._tag !== "Hello") return
        assert.strictEqual(greeting.v, 1)
        assert.strictEqual(greeting.replica, "local")
        assert.strictEqual(greeting.intervalMillis, 50)
        assert.strictEqual(greeting.windowMillis, 10_000)
        assert.strictEqual(greeting.historyStepMillis, 1000)
        assert.strictEqual(greeting.view.replica, "local")
        assert.strictEqual(greeting.view.frames.length, 1)
        assert.isUndefined(greeting.view.fleet)
        assert.deepStrictEqual(
          greeting.view.frames[0]!.breakers.map((b) => [b.name, b.status]),
          [["storage", "closed"]]
        )

        const frames: Array<LiveView.View> = []
        for (let i = 0; i < 3; i++) {
          const sent = await events.next()
          assert.strictEqual(sent.event, "frame", sent.raw)
          assertWireFormat(sent)
          // a frame's data is the view itself, not `{ view }`
          assert.deepStrictEqual(Object.keys(JSON.parse(sent.data)).sort(), ["at", "frames", "replica"])
          const message = messageOf(sent)
          assert.strictEqual(message._tag, "Frame")
          if (message._tag === "Frame") frames.push(message.view)
        }
        for (const view of frames) {
          assert.strictEqual(view.replica, "local")
          assert.strictEqual(view.frames[0]!.replica, "local")
          assert.strictEqual(view.frames[0]!.windowMillis, 10_000)
        }
        // about one interval apart (the default, 500 ms, would fail this)
        for (let i = 1; i < frames.length; i++) {
          const gap = frames[i]!.at - frames[i - 1]!.at
          assert.isAtLeast(gap, 25)
          assert.isBelow(gap, 450)
        }
        assert.strictEqual((await server.stats()).clients, 1)
      } finally {
        events.close()
      }
      await server.clientsBecome(0)
    }))

  it("a breaker transition made while a client watches arrives as a transition event, then in the frames", () =>
    withServer(OpsRoutes.events(), {}, async (server) => {
      const events = await openEvents(`${server.url}/events`)
      try {
        assert.strictEqual((await events.next()).event, "hello")
        // once the view is running (see the race below, right after the hello)
        assert.strictEqual((await events.next()).event, "frame")
        await server.run(tripStorage)
        const sent = await events.nextOf("transition", 20)
        assertWireFormat(sent)
        const message = messageOf(sent)
        assert.strictEqual(message._tag, "Transition")
        if (message._tag !== "Transition") return
        assert.strictEqual(message.replica, "local")
        const { transition } = message
        assert.strictEqual(transition.breaker, "storage")
        assert.strictEqual(transition.from, "closed")
        assert.strictEqual(transition.to, "open")
        assert.strictEqual(transition.reason, "consecutive_failures")
        assert.strictEqual(transition.origin, "local")
        assert.strictEqual(transition.openings, 1)
        // the next frame shows it open, with the time left
        const frame = messageOf(await events.nextOf("frame"))
        if (frame._tag !== "Frame") return assert.fail("expected a frame")
        const storage = frame.view.frames[0]!.breakers.find((b) => b.name === "storage")!
        assert.strictEqual(storage.status, "open")
        assert.strictEqual(storage.openings, 1)
        assert.isAbove(storage.remainingMillis!, 50_000)
        assert.isAtMost(storage.remainingMillis!, 60_000)
      } finally {
        events.close()
      }
    }))

  it("an alert-worthy error arrives as an alert event, with its public view only", () =>
    withServer(OpsRoutes.events(), {}, async (server) => {
      const events = await openEvents(`${server.url}/events`)
      try {
        assert.strictEqual((await events.next()).event, "hello")
        assert.strictEqual((await events.next()).event, "frame")
        await server.run(ErrorTracker.record(
          new CommonErrors.StorageError({ operation: "save", detail: "pg: ECONNRESET 10.1.2.3 (secret-host)" }),
          { operation: "items.save", gaveUp: true }
        ))
        const sent = await events.nextOf("alert")
        assertWireFormat(sent)
        assert.notInclude(sent.data, "ECONNRESET")
        assert.notInclude(sent.data, "secret")
        const message = messageOf(sent)
        if (message._tag !== "Alert") return assert.fail("expected an alert")
        assert.strictEqual(message.replica, "local")
        assert.strictEqual(message.error.tag, "StorageError")
        assert.strictEqual(message.error.code, "resilience.E0004")
        assert.strictEqual(message.error.severity, "high")
        assert.strictEqual(message.error.operation, "items.save")
        assert.strictEqual(message.error.gaveUp, true)
      } finally {
        events.close()
      }
    }))

  it("over maxClients: 503 problem with Retry-After; once the first client goes, it is released and a new one is served", () =>
    withServer(OpsRoutes.events(), { maxClients: 1 }, async (server) => {
      const first = await openEvents(`${server.url}/events`)
      try {
        assert.strictEqual(first.response.status, 200)
        assert.strictEqual((await first.next()).event, "hello")
        assert.deepStrictEqual(await server.stats(), { clients: 1, maxClients: 1, dropped: 0 })

        const second = await within(fetch(`${server.url}/events`), 3000, "the refusal")
        assert.strictEqual(second.status, 503)
        assert.strictEqual(second.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(second.headers.get("retry-after"), "5")
        assert.deepStrictEqual(await second.json(), {
          type: "about:blank",
          title: "Service Unavailable",
          status: 503,
          detail: "1 client is watching already (the limit); try again later."
        })
        // the refused one took no place, and the first still gets its frames
        assert.strictEqual((await server.stats()).clients, 1)
        assert.strictEqual((await first.next()).event, "frame")
      } finally {
        first.close()
      }
      // the server notices the abort and releases the place
      assert.strictEqual((await server.clientsBecome(0)).clients, 0)

      const third = await openEvents(`${server.url}/events`)
      try {
        assert.strictEqual(third.response.status, 200)
        assert.strictEqual((await third.next()).event, "hello")
        assert.strictEqual((await third.next()).event, "frame")
      } finally {
        third.close()
      }
      await server.clientsBecome(0)
    }))

  it("a client whose connection is destroyed mid-stream is released and holds nothing up", () =>
    withServer(
      Layer.mergeAll(OpsRoutes.events(), OpsRoutes.health()),
      { maxClients: 1 },
      async (server) => {
        // a raw connection, reset (RST) once the hello has arrived
        const received = await within(
          new Promise<string>((resolve, reject) => {
            const socket = connect(server.port, "127.0.0.1", () =>
              socket.write("GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"))
            let data = ""
            socket.on("data", (chunk) => {
              data += chunk.toString("utf8")
              if (data.includes("event: hello\n")) {
                socket.resetAndDestroy()
                resolve(data)
              }
            })
            socket.on("error", reject)
          }),
          3000,
          "the hello on a raw connection"
        )
        assert.match(received, /^HTTP\/1\.1 200 OK\r\n/)
        assert.match(received, /\r\ncontent-type: text\/event-stream\r\n/i)

        assert.strictEqual((await server.clientsBecome(0)).clients, 0)
        // the only place is free again: a new client is served, and the other routes answer
        const next = await openEvents(`${server.url}/events`)
        try {
          assert.strictEqual(next.response.status, 200)
          assert.strictEqual((await next.next()).event, "hello")
          assert.strictEqual((await next.next()).event, "frame")
          const health = await within(fetch(`${server.url}/health`), 2000, "/health")
          assert.strictEqual(health.status, 200)
        } finally {
          next.close()
        }
        await server.clientsBecome(0)
      }
    ))

  it("a client that leaves while the server closes lets it close at once", async () => {
    const server = await serveLive(OpsRoutes.events())
    const events = await openEvents(`${server.url}/events`)
    assert.strictEqual((await events.next()).event, "hello")
    const closing = server.close()
    events.close()
    await within(closing, 3000, "the server to close once its client left")
  })
})

// A stream never ends by itself: at shutdown `HttpRouter.serve`'s server closes before ErrorLayer (and its
// LiveView) and waits for open responses up to NodeHttpServer's `gracefulShutdownTimeout` (20 s by default, as
// the README says: measured 20.1 s with a client connected) before it interrupts them. With a shorter one, as the
// README advises, a connected client holds shutdown up that long and no longer.
describe("OpsRoutes.events: shutdown", () => {
  it("with a client connected, the server closes after its graceful timeout, ending the client's stream", async () => {
    const server = await serveLive(OpsRoutes.events(), {}, { gracefulShutdownTimeout: "300 millis" })
    const events = await openEvents(`${server.url}/events`)
    let closing: Promise<void> | undefined
    try {
      assert.strictEqual((await events.next()).event, "hello")
      const started = Date.now()
      closing = server.close()
      await within(closing, 3000, "the server to close with a client connected")
      assert.isAtLeast(Date.now() - started, 250)
      // the client's stream is over (cut, not ended cleanly: it is interrupted), not left hanging
      const ended = await events.end(2000).then(() => "ended", (error: Error) => error.message)
      assert.notMatch(ended, /timed out/)
    } finally {
      events.close()
      await (closing ?? server.close())
    }
  })
})

// The live view behind /events, in-process with the test clock (deterministic).
//
// The first client's `Hello` is queued right after `startWatching` forks the loops reading the breakers' changes
// and the tracker's events (packages/core/src/LiveView.ts, `startWatching` and `connect`), before those fibers
// have run and subscribed: a transition or an alert that happens after the client has its Hello, before they first
// run, never reaches it (an alert's error is missing from the frames' recent events too: it is neither in the
// history copied at start nor read by the loop). Over HTTP the window is usually closed by the time the hello has
// crossed the socket, so it shows there only now and then (it failed the HTTP transition test on its first run,
// before that test waited for a frame). Expected: the loops subscribe before the Hello is offered.
describe("OpsRoutes.events: the live view behind it", () => {
  const liveLayer = (live: LiveView.Options) =>
    ErrorLayer.layer({
      logFormat: false,
      live,
      breakers: { breakers: { storage: { trip: TripRule.consecutive(3), openDuration: "1 minute" } } }
    })

  it.effect("a client that does not read keeps its `buffer` newest messages and is told how many it lost", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const pull = yield* Stream.toPull(live.messages)
      const hello = yield* pull
      assert.deepStrictEqual(hello.map((m) => m._tag), ["Hello"])
      const start = (hello[0] as Extract<LiveView.Message, { _tag: "Hello" }>).view.at
      // ten frames while it does not read
      yield* TestClock.adjust(1000)
      const batch = yield* pull
      assert.deepStrictEqual(batch.map((m) => m._tag), ["Dropped", "Frame", "Frame", "Frame"])
      assert.strictEqual((batch[0] as Extract<LiveView.Message, { _tag: "Dropped" }>).count, 7)
      // the three newest frames, the eighth to the tenth
      const at = batch.slice(1).map((m) => (m as Extract<LiveView.Message, { _tag: "Frame" }>).view.at - start)
      assert.deepStrictEqual(at, [800, 900, 1000])
      assert.strictEqual((yield* live.stats).dropped, 7)
    }).pipe(Effect.provide(liveLayer({ interval: 100, buffer: 3 }))))

  it.effect("a transition right after the first client's hello reaches that client", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const pull = yield* Stream.toPull(live.messages)
      assert.deepStrictEqual((yield* pull).map((m) => m._tag), ["Hello"])
      yield* tripStorage
      yield* TestClock.adjust(100)
      const tags = (yield* pull).map((m) => m._tag)
      assert.deepStrictEqual(tags, ["Transition", "Frame"])
    }).pipe(Effect.provide(liveLayer({ interval: 100 }))))

  it.effect("an alert right after the first client's hello reaches that client", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const pull = yield* Stream.toPull(live.messages)
      assert.deepStrictEqual((yield* pull).map((m) => m._tag), ["Hello"])
      yield* ErrorTracker.record(new CommonErrors.StorageError({ operation: "save" }), { gaveUp: true })
      yield* TestClock.adjust(100)
      const tags = (yield* pull).map((m) => m._tag)
      assert.deepStrictEqual(tags, ["Alert", "Frame"])
    }).pipe(Effect.provide(liveLayer({ interval: 100 }))))

  it.effect("once the view runs, a transition and an alert reach the client, in order, before the next frame", () =>
    Effect.gen(function*() {
      const live = yield* LiveView.LiveView
      const pull = yield* Stream.toPull(live.messages)
      assert.deepStrictEqual((yield* pull).map((m) => m._tag), ["Hello"])
      yield* TestClock.adjust(100)
      assert.deepStrictEqual((yield* pull).map((m) => m._tag), ["Frame"])
      yield* tripStorage
      yield* ErrorTracker.record(new CommonErrors.StorageError({ operation: "save" }), { gaveUp: true })
      yield* TestClock.adjust(100)
      assert.deepStrictEqual((yield* pull).map((m) => m._tag), ["Transition", "Alert", "Frame"])
    }).pipe(Effect.provide(liveLayer({ interval: 100 }))))
})

// ---------------------------------------------------------------------------------------------------------------
// GET /dashboard
// ---------------------------------------------------------------------------------------------------------------

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`

const directivesOf = (csp: string): Record<string, string> =>
  Object.fromEntries(
    csp.split(";").map((d) => d.trim()).filter((d) => d !== "").map((d) => {
      const space = d.indexOf(" ")
      return space === -1 ? [d, ""] : [d.slice(0, space), d.slice(space + 1).trim()]
    })
  )

/** The one `<tag>…</tag>` element's exact content in `html`. */
const onlyElement = (html: string, tag: "script" | "style"): string => {
  const found = [...html.matchAll(new RegExp(`<${tag}\\b([^>]*)>([\\s\\S]*?)</${tag}>`, "g"))]
  assert.strictEqual(found.length, 1, `one <${tag}> element`)
  assert.strictEqual(found[0]![1], "", `<${tag}> has no attribute (no src)`)
  return found[0]![2]!
}

describe("OpsRoutes.dashboard: the self-contained page", () => {
  it("200 text/html with a CSP allowing exactly its inline script and style by sha256, connections to itself only", () =>
    withServer(OpsRoutes.dashboard(), {}, async (server) => {
      const response = await within(fetch(`${server.url}/dashboard`), 3000, "/dashboard")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/html; charset=utf-8")
      assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
      assert.strictEqual(response.headers.get("x-frame-options"), "DENY")
      assert.strictEqual(response.headers.get("referrer-policy"), "no-referrer")
      assert.strictEqual(response.headers.get("cache-control"), "no-cache")
      const html = await response.text()
      assert.match(html, /^<!doctype html>\n<html lang="en">/)

      const csp = directivesOf(response.headers.get("content-security-policy") ?? "")
      assert.deepStrictEqual(csp, {
        "default-src": "'none'",
        "script-src": sha256(onlyElement(html, "script")),
        "style-src": sha256(onlyElement(html, "style")),
        "connect-src": "'self'",
        "img-src": "data:",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'"
      })
      // non-ASCII text in the script or style (… – ≥) is hashed as UTF-8, as browsers do
      assert.match(html, /[^\x00-\x7f]/)

      // nothing from elsewhere: no src/href to another origin, no other element loading anything
      assert.deepStrictEqual([...html.matchAll(/\b(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?\/\//gi)], [])
      assert.notMatch(html, /<(?:iframe|object|embed|img|link\s+rel=["']?stylesheet)\b/i)
      assert.notMatch(html, /@import|url\(\s*["']?(?:https?:)?\/\//i)
      // the one absolute URL in the document is the SVG namespace (an identifier, never fetched)
      const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0])
      assert.isAbove(urls.length, 0)
      assert.deepStrictEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"])
      // the stream it reads, relative to the page
      assert.include(html, `<meta name="resilience-events" content="events">`)
    }))

  it("the title and the events URL are escaped; the hashes still match what is served", () =>
    withServer(
      OpsRoutes.dashboard({ path: "/ops/board", events: "/ops/stream?x=\"><script>", title: "<b>Shop</b> & co" }),
      {},
      async (server) => {
        const response = await within(fetch(`${server.url}/ops/board`), 3000, "/ops/board")
        assert.strictEqual(response.status, 200)
        const html = await response.text()
        assert.include(html, "<title>&lt;b&gt;Shop&lt;/b&gt; &amp; co</title>")
        assert.include(html, `<h1 id="title">&lt;b&gt;Shop&lt;/b&gt; &amp; co</h1>`)
        assert.include(html, `content="/ops/stream?x=&quot;&gt;&lt;script&gt;"`)
        assert.notInclude(html, "<b>Shop</b>")
        const csp = directivesOf(response.headers.get("content-security-policy") ?? "")
        assert.strictEqual(csp["script-src"], sha256(onlyElement(html, "script")))
        assert.strictEqual(csp["style-src"], sha256(onlyElement(html, "style")))
      }
    ))
})

// ---------------------------------------------------------------------------------------------------------------
// the bearer token
// ---------------------------------------------------------------------------------------------------------------

describe("OpsRoutes: the bearer token", () => {
  const wrong: ReadonlyArray<[string, Record<string, string>]> = [
    ["no Authorization", {}],
    ["a wrong token", { authorization: "Bearer wrong" }],
    ["a longer token", { authorization: "Bearer s3cret2" }],
    ["a shorter token", { authorization: "Bearer s3cre" }],
    ["another case", { authorization: "Bearer S3CRET" }],
    ["no scheme", { authorization: "s3cret" }],
    ["another scheme", { authorization: `Basic ${Buffer.from("ops:s3cret").toString("base64")}` }],
    ["an empty bearer", { authorization: "Bearer " }]
  ]

  for (const token of ["s3cret", Redacted.make("s3cret")]) {
    const kind = typeof token === "string" ? "a string" : "a Redacted"
    it(`layerWith({ token }) with ${kind}: every data route answers 401 without it, 200 with it`, () =>
      withServer(OpsRoutes.layerWith({ token }), {}, async (server) => {
        for (const path of ["/metrics", "/health", "/errors", "/events"]) {
          for (const [what, headers] of wrong) {
            await assertUnauthorized(
              await within(fetch(`${server.url}${path}`, { headers }), 3000, path),
              `${path}, ${what}`
            )
          }
        }
        assert.strictEqual((await server.stats()).clients, 0)

        const auth = { authorization: "Bearer s3cret" }
        const metrics = await fetch(`${server.url}/metrics`, { headers: auth })
        assert.strictEqual(metrics.status, 200)
        assert.strictEqual(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        assert.match(await metrics.text(), /^resilience_breaker_state\{breaker="storage",state="closed"\} 1$/m)
        const health = await fetch(`${server.url}/health`, { headers: auth })
        assert.strictEqual(health.status, 200)
        assert.strictEqual(((await health.json()) as Json).status, "ok")
        const errors = await fetch(`${server.url}/errors`, { headers: auth })
        assert.strictEqual(errors.status, 200)
        assert.strictEqual(((await errors.json()) as Json).total, 0)
        // the scheme is case-insensitive (RFC 9110), and spaces after the token are allowed
        for (const authorization of ["bearer s3cret", "BEARER   s3cret", "Bearer s3cret "]) {
          const res = await fetch(`${server.url}/health`, { headers: { authorization } })
          assert.strictEqual(res.status, 200, authorization)
          await res.body?.cancel()
        }
        const events = await openEvents(`${server.url}/events`, auth)
        try {
          assert.strictEqual(events.response.status, 200)
          assert.strictEqual(events.response.headers.get("content-type"), "text/event-stream")
          assert.strictEqual((await events.next()).event, "hello")
        } finally {
          events.close()
        }
        await server.clientsBecome(0)
      }))
  }

  it("the dashboard is served without the token; the page sends it as a header, read from #token=, never the query", () =>
    withServer(OpsRoutes.layerWith({ token: "s3cret" }), {}, async (server) => {
      const page = await fetch(`${server.url}/dashboard`)
      assert.strictEqual(page.status, 200)
      assert.strictEqual(page.headers.get("content-type"), "text/html; charset=utf-8")
      const html = await page.text()
      // the page holds no data and no token
      assert.notInclude(html, "s3cret")
      // what the page does with the token (its script, as served): from the fragment, sent as a bearer header
      const script = onlyElement(html, "script")
      assert.include(script, `p.slice(0, 6) === "token="`)
      assert.include(script, `headers.authorization = "Bearer " + token`)
      assert.notMatch(script, /[?&]token=/)
      // so the stream does not take the token in the query (it would end up in access logs)
      await assertUnauthorized(await fetch(`${server.url}/events?token=s3cret`), "/events?token=")
      assert.strictEqual((await server.stats()).clients, 0)
    }))

  it("each route takes a token on its own; routes without one stay open", () =>
    withServer(
      Layer.mergeAll(OpsRoutes.metrics({ token: "m" }), OpsRoutes.health(), OpsRoutes.errors({ token: "e" })),
      {},
      async (server) => {
        await assertUnauthorized(await fetch(`${server.url}/metrics`), "/metrics")
        await assertUnauthorized(
          await fetch(`${server.url}/errors`, { headers: { authorization: "Bearer m" } }),
          "/errors with the metrics token"
        )
        assert.strictEqual((await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer m" } })).status, 200)
        assert.strictEqual((await fetch(`${server.url}/errors`, { headers: { authorization: "Bearer e" } })).status, 200)
        assert.strictEqual((await fetch(`${server.url}/health`)).status, 200)
      }
    ))

  // building the routes fails; flipped, the error is the value
  const configErrorOf = (routes: Layer.Layer<never, ConfigError.ConfigError, HttpRouter.HttpRouter>) =>
    Effect.flip(HttpRouter.toHttpEffect(routes))

  it.effect("an empty or blank token fails the layer with a ConfigError naming `token`", () =>
    Effect.gen(function*() {
      const issue = { path: ["token"], message: "Expected a non-empty bearer token" }
      for (const token of ["", "   ", Redacted.make(""), Redacted.make(" \t")]) {
        const layers = [
          OpsRoutes.layerWith({ token }),
          OpsRoutes.layerWith({ token, prefix: "/ops" }),
          OpsRoutes.metrics({ token }),
          OpsRoutes.health({ token }),
          OpsRoutes.errors({ token }),
          OpsRoutes.events({ token })
        ] as ReadonlyArray<Layer.Layer<never, ConfigError.ConfigError, HttpRouter.HttpRouter>>
        for (const layer of layers) {
          const error = yield* configErrorOf(layer)
          assert.strictEqual(error._tag, "ConfigError")
          assert.deepStrictEqual(error.issues, [issue])
          assert.include(error.message, "token")
        }
      }
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// layerWith({ prefix })
// ---------------------------------------------------------------------------------------------------------------

describe("OpsRoutes.layerWith: prefix", () => {
  it("every route answers under the prefix and not at the root; the page's stream resolves under it", () =>
    withServer(OpsRoutes.layerWith({ prefix: "/ops" }), {}, async (server) => {
      for (const path of ["/metrics", "/health", "/errors", "/dashboard"]) {
        const at = await within(fetch(`${server.url}/ops${path}`), 3000, `/ops${path}`)
        assert.strictEqual(at.status, 200, `/ops${path}`)
        await at.body?.cancel()
        const root = await within(fetch(`${server.url}${path}`), 3000, path)
        assert.strictEqual(root.status, 404, path)
        await root.body?.cancel()
      }
      const rootEvents = await within(fetch(`${server.url}/events`), 3000, "/events")
      assert.strictEqual(rootEvents.status, 404)
      await rootEvents.body?.cancel()
      assert.strictEqual((await server.stats()).clients, 0)

      // the page at /ops/dashboard reads "events", relative to it: /ops/events
      const html = await (await fetch(`${server.url}/ops/dashboard`)).text()
      const events = /<meta name="resilience-events" content="([^"]*)">/.exec(html)![1]!
      const url = new URL(events, `${server.url}/ops/dashboard`).href
      assert.strictEqual(url, `${server.url}/ops/events`)
      const stream = await openEvents(url)
      try {
        assert.strictEqual(stream.response.status, 200)
        assert.strictEqual(stream.response.headers.get("content-type"), "text/event-stream")
        assert.strictEqual((await stream.next()).event, "hello")
      } finally {
        stream.close()
      }
      await server.clientsBecome(0)
    }))

  it("with a token and a prefix: under the prefix, behind the token; the page open", () =>
    withServer(OpsRoutes.layerWith({ token: "s3cret", prefix: "/internal/ops" }), {}, async (server) => {
      for (const path of ["/metrics", "/health", "/errors", "/events"]) {
        await assertUnauthorized(await fetch(`${server.url}/internal/ops${path}`), path)
        const root = await fetch(`${server.url}${path}`, { headers: { authorization: "Bearer s3cret" } })
        assert.strictEqual(root.status, 404, path)
        await root.body?.cancel()
      }
      const health = await fetch(`${server.url}/internal/ops/health`, { headers: { authorization: "Bearer s3cret" } })
      assert.strictEqual(health.status, 200)
      await health.body?.cancel()
      const page = await fetch(`${server.url}/internal/ops/dashboard`)
      assert.strictEqual(page.status, 200)
      await page.body?.cancel()
    }))
})

describe("layerWith's options, checked", () => {
  it.effect("a prefix with a trailing slash, or a token a header cannot carry, fails the layer naming it", () =>
    Effect.gen(function*() {
      const fails = (options: OpsRoutes.Options) =>
        // the layer fails before it reads anything of the context: the route requirements need not be met here
        Layer.build(
          OpsRoutes.layerWith(options).pipe(Layer.provide(HttpRouter.layer)) as Layer.Layer<never, ConfigError.ConfigError>
        ).pipe(
          Effect.scoped,
          Effect.flip,
          Effect.map((error) => (error as ConfigError.ConfigError).issues.map((i) => i.path.join(".")))
        )
      assert.deepStrictEqual(yield* fails({ prefix: "/ops/" }), ["prefix"])
      assert.deepStrictEqual(yield* fails({ prefix: "/ops?x" }), ["prefix"])
      assert.deepStrictEqual(yield* fails({ token: "two words" }), ["token"])
    }))
})
