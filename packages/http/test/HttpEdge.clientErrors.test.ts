// Requests Node's HTTP parser refuses before effect sees them, sent as raw bytes to a real server: with
// `HttpEdge.answerClientErrors` they get the edge's problem (status, body, request id, Connection: close)
// instead of Node's bare status line.
import { createServer } from "node:http"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { HttpEdge, ProblemFormat, RequestId } from "@effect-resilience/http"
import { type Line, parseRaw, sendRaw, serve } from "./fixtures.js"

// test bodies are read loosely
type Json = any

const appOf = (Edge: HttpEdge.HttpEdge<any>) =>
  Layer.mergeAll(
    HttpRouter.add("GET", "/ok", Effect.succeed(HttpServerResponse.text("ok"))),
    HttpRouter.add("POST", "/ok", Effect.succeed(HttpServerResponse.text("ok"))),
    Edge.layer
  )

const Edge = HttpEdge.make()
const lines: Array<Line> = []
let server: Awaited<ReturnType<typeof serve>>

beforeAll(async () => {
  server = await serve(appOf(Edge), lines, { server: () => HttpEdge.answerClientErrors(createServer(), Edge) })
})
afterAll(() => server.close())

const bytes = (...parts: Array<string | ReadonlyArray<number>>): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...p].map((c) => c.charCodeAt(0)) : [...p])))

/** The answer to raw bytes, checked as a problem: JSON body of the edge's format, ids agreeing, connection closed. */
const problemFor = async (request: string | Uint8Array, port = server.port) => {
  const raw = await sendRaw(port, request)
  const response = parseRaw(raw)
  assert.strictEqual(response.headers["connection"], "close", raw)
  assert.strictEqual(Number(response.headers["content-length"]), response.body.length)
  const body: Json = JSON.parse(response.body)
  return { ...response, body }
}

describe("HttpEdge.answerClientErrors: requests Node's parser refuses", () => {
  it("raw non-ASCII bytes in the path: 400 problem, generated request id, the path percent-encoded", async () => {
    const res = await problemFor(bytes("GET /caf", [0xc3, 0xa9], " HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert.strictEqual(res.statusLine, "HTTP/1.1 400 Bad Request")
    assert.strictEqual(res.headers["content-type"], "application/problem+json")
    assert.deepStrictEqual(res.body, {
      type: "about:blank",
      title: "Bad Request",
      status: 400,
      detail: "The request could not be parsed.",
      instance: "/caf%C3%A9",
      code: "resilience.E0105",
      requestId: res.headers["x-request-id"]
    })
    assert.isTrue(RequestId.isWellFormed(res.body.requestId))
  })

  it("raw non-ASCII bytes in the query: 400, the instance is the path alone", async () => {
    const res = await problemFor(bytes("GET /ok?q=", [0xff], "&password=hunter2 HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert.deepStrictEqual([res.status, res.body.status, res.body.instance], [400, 400, "/ok"])
    assert.notInclude(JSON.stringify(res), "hunter2")
  })

  it("a control character in a header value: 400 problem", async () => {
    const res = await problemFor("GET /ok HTTP/1.1\r\nHost: x\r\nX-Note: a\u0001b\r\n\r\n")
    assert.deepStrictEqual([res.status, res.body.code, res.body.instance], [400, "resilience.E0105", "/ok"])
    assert.strictEqual(res.body.requestId, res.headers["x-request-id"])
  })

  it("headers over the server's limit: 431 problem", async () => {
    const res = await problemFor(`GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)
    assert.strictEqual(res.statusLine, "HTTP/1.1 431 Request Header Fields Too Large")
    assert.deepStrictEqual([res.body.status, res.body.title, res.body.detail, res.body.code], [
      431,
      "Request Header Fields Too Large",
      "The request's header fields are too large.",
      "resilience.E0105"
    ])
    assert.isBelow(res.body.instance.length, 1001)
  })

  it("conflicting Content-Length headers: 400 problem", async () => {
    const res = await problemFor("POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
    assert.deepStrictEqual([res.status, res.body.status, res.body.code], [400, 400, "resilience.E0105"])
  })

  it("a request line that is not HTTP: 400 problem with an empty instance", async () => {
    const res = await problemFor("HELLO\r\n\r\n")
    assert.deepStrictEqual([res.status, res.body.instance], [400, ""])
  })

  it("a well-formed request on the same server is served as usual", async () => {
    const res = parseRaw(await sendRaw(server.port, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert.deepStrictEqual([res.status, res.body], [200, "ok"])
    assert.isTrue(RequestId.isWellFormed(res.headers["x-request-id"] ?? ""))
  })

  it("a bad request after a good one on a kept-alive connection never crashes the server", async () => {
    const raw = await sendRaw(server.port, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /caf\u0001 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.match(raw, /^HTTP\/1\.1 (200|400) /)
    const after = parseRaw(await sendRaw(server.port, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert.strictEqual(after.status, 200)
  })

  it("the edge's format and request id header are used; an override of the tag sets the status", async () => {
    const Custom = HttpEdge.make({
      format: ProblemFormat.envelope,
      requestIdHeader: "X-Trace",
      statuses: { UnreadableRequestError: 422 }
    })
    const other = await serve(appOf(Custom), [], { server: () => HttpEdge.answerClientErrors(createServer(), Custom) })
    try {
      const res = await problemFor(bytes("GET /caf", [0xc3, 0xa9], " HTTP/1.1\r\nHost: x\r\n\r\n"), other.port)
      assert.strictEqual(res.headers["content-type"], "application/json")
      assert.deepStrictEqual(res.body, {
        error: {
          code: "resilience.E0105",
          message: "The request could not be parsed.",
          request_id: res.headers["x-trace"],
          status: 422
        }
      })
      assert.strictEqual(res.status, 422)
    } finally {
      await other.close()
    }
  })

  it("applying it twice answers once", async () => {
    const node = HttpEdge.answerClientErrors(HttpEdge.answerClientErrors(createServer(), Edge), Edge)
    assert.strictEqual(node.listenerCount("clientError"), 1)
  })
})
