import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import { createClient } from "redis"
import { acquire, answersPing, shared, start, TestRedisServer, uniquePrefix } from "./redisServer.js"

/** PING through node-redis, with no reconnection: a server that is down fails the call. */
const ping = async (url: string): Promise<string> => {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 1000 } })
  client.on("error", () => {}) // the rejected connect() reports it
  try {
    await client.connect()
    return await client.ping()
  } finally {
    client.destroy()
  }
}

const connectError = (port: number): Promise<string | undefined> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(undefined)
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code))
  })

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("redisServer", () => {
  it("starts a server of its own, which kill() takes down and restart() brings back on the same port", async () => {
    const server = await start()
    try {
      assert.match(server.url, /^redis:\/\/127\.0\.0\.1:\d+$/)
      assert.strictEqual(await ping(server.url), "PONG")
      const firstPid = server.pid

      await server.kill()
      assert.isFalse(server.running)
      assert.isFalse(pidAlive(firstPid))
      assert.strictEqual(await connectError(server.port), "ECONNREFUSED")
      const refused = await ping(server.url).then(() => "connected", (error: Error) => error.message)
      assert.include(refused, "ECONNREFUSED")

      await server.restart()
      assert.isTrue(server.running)
      assert.notStrictEqual(server.pid, firstPid)
      assert.strictEqual(await ping(server.url), "PONG")

      await server.stop()
      assert.isFalse(server.running)
      assert.strictEqual(await connectError(server.port), "ECONNREFUSED")
    } finally {
      await server.kill()
    }
  }, 20_000)

  it("starts with no data: a restarted server has forgotten every key", async () => {
    const server = await start()
    try {
      const client = createClient({ url: server.url, socket: { reconnectStrategy: false } })
      client.on("error", () => {})
      await client.connect()
      await client.set("k", "v")
      client.destroy()
      await server.restart()
      const again = createClient({ url: server.url, socket: { reconnectStrategy: false } })
      again.on("error", () => {})
      await again.connect()
      assert.isNull(await again.get("k"))
      again.destroy()
    } finally {
      await server.kill()
    }
  }, 20_000)

  it("gives every test its own key prefix", () => {
    const prefixes = new Set(Array.from({ length: 100 }, () => uniquePrefix()))
    assert.strictEqual(prefixes.size, 100)
    assert.match(uniquePrefix(), /^test:[0-9a-f]{12}:$/)
    assert.match(uniquePrefix("breaker"), /^test:breaker:[0-9a-f]{12}:$/)
  })

  it("shares one server per process (or REDIS_URL's) among the tests that only need one", async () => {
    const url = await shared()
    assert.strictEqual(await shared(), url)
    if (process.env.REDIS_URL) assert.strictEqual(url, process.env.REDIS_URL)
    assert.strictEqual(await ping(url), "PONG")
  }, 20_000)

  it.live("acquire() kills its server when the scope closes", () =>
    Effect.gen(function*() {
      const server = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* acquire()
        assert.isTrue(yield* Effect.promise(() => answersPing(server.port)))
        return server
      }))
      assert.isFalse(server.running)
      assert.isFalse(pidAlive(server.pid))
    }), 20_000)
})

// a layer built under the test services: readiness waits on timers, not on the TestClock
layer(TestRedisServer.layer)("TestRedisServer.layer", (it) => {
  it.effect("provides a running server", () =>
    Effect.gen(function*() {
      const server = yield* TestRedisServer
      assert.isTrue(server.running)
      assert.strictEqual(yield* Effect.promise(() => ping(server.url)), "PONG")
    }))
})
