import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import { CircuitBreaker, RedisBreakerStore, TripRule } from "../../src/index.js"
import { encode, maxEncodedLength, refusal, targetOf } from "../../src/internal/fleet/keys.js"

describe("breaker names as Redis keys", () => {
  it("keeps [A-Za-z0-9._-] and percent-encodes everything else as UTF-8", () => {
    assert.strictEqual(encode("payments.api-v2_eu"), "payments.api-v2_eu")
    assert.strictEqual(encode("a b"), "a%20b")
    assert.strictEqual(encode("{x}:y*"), "%7Bx%7D%3Ay%2A")
    assert.strictEqual(encode("é"), "%C3%A9")
    assert.strictEqual(encode("😀"), "%F0%9F%98%80")
    assert.strictEqual(encode("\n\"'"), "%0A%22%27")
  })

  it("gives distinct names distinct keys, lone surrogates included", () => {
    const names = ["a", "a}:votes", "a:votes", "a%7D", "a\uD800", "a\uFFFD", "a\uDFFF", "", " ", "%", "~D800"]
    const keys = new Set(names.map((name) => targetOf("p:", "r", name).keys[0]))
    assert.strictEqual(keys.size, names.length)
    // no encoded name holds the characters the layout uses (slot braces, separators)
    for (const name of names) assert.notMatch(encode(name), /[{}:]/)
  })

  it("keeps every key of a breaker in the slot of its encoded name, and the channel fixed", () => {
    const target = targetOf("shop:", "r1", "db {main}")
    assert.deepStrictEqual(target.keys, [
      "shop:{db%20%7Bmain%7D}",
      "shop:{db%20%7Bmain%7D}:votes",
      "shop:{db%20%7Bmain%7D}:rules"
    ])
    assert.strictEqual(target.channel, "shop:events")
  })

  it("refuses a name whose encoding is longer than the bound, and only then", () => {
    assert.isUndefined(refusal("x".repeat(maxEncodedLength)))
    assert.match(refusal("x".repeat(maxEncodedLength + 1))!, /too long to share: 513 bytes encoded, at most 512/)
    // the bound is on the encoded form: 171 characters that encode to 3 bytes each
    assert.isDefined(refusal("{".repeat(171)))
  })
})

describe("the share option", () => {
  it.effect("decodes any, off and a quorum, and hashes the rules into a fingerprint", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* CircuitBreaker.validate({})).share, { _tag: "any" })
      assert.deepStrictEqual((yield* CircuitBreaker.validate({ share: "off" })).share, { _tag: "off" })
      assert.deepStrictEqual(
        (yield* CircuitBreaker.validate({ share: { quorum: 2, within: "10 seconds" } })).share,
        { _tag: "quorum", quorum: 2, withinMillis: 10_000 }
      )
      const a = yield* CircuitBreaker.validate({ trip: TripRule.consecutive(3) })
      const same = yield* CircuitBreaker.validate({ trip: TripRule.consecutive(3) })
      const other = yield* CircuitBreaker.validate({ trip: TripRule.consecutive(4) })
      assert.strictEqual(a.fingerprint, same.fingerprint)
      assert.notStrictEqual(a.fingerprint, other.fingerprint)
      assert.notStrictEqual(a.fingerprint, (yield* CircuitBreaker.validate({ openDuration: "3 seconds" })).fingerprint)
    }))

  it.effect("refuses a bad share with its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        CircuitBreaker.validate({ share: { quorum: 0, within: "-1 seconds", extra: 1 } as never })
      )
      const paths = error.issues.map((issue) => issue.path.join("."))
      assert.includeMembers(paths, ["share.quorum", "share.within", "share.extra"])
      const word = yield* Effect.flip(CircuitBreaker.validate({ share: "all" as never }))
      assert.deepStrictEqual(word.issues.map((issue) => issue.path.join(".")), ["share"])
    }))
})

describe("RedisBreakerStore options", () => {
  it.effect("refuse unknown keys and bad values, all at once, before touching Redis", () =>
    Effect.gen(function*() {
      // the Redis layer is never built: the options are checked first
      const never = Layer.effect(Redis.Redis, Effect.die("built"))
      const layer = RedisBreakerStore.layerFrom(never, {
        prefix: "a b",
        storeTimeout: 0,
        syncIntervall: "1 second"
      } as RedisBreakerStore.Options)
      const error = yield* Effect.flip(Effect.scoped(Layer.build(layer)))
      const paths = error.issues.map((issue) => issue.path.join("."))
      assert.includeMembers(paths, ["prefix", "storeTimeout", "syncIntervall"])
    }))
})
