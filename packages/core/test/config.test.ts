import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import {
  BreakerRegistry,
  type Bulkhead,
  CircuitBreaker,
  CommonErrors,
  ConfigError,
  ErrorFamily,
  ErrorLayer,
  ErrorTracker,
  Policy,
  PolicyService,
  type RateLimiter,
  TripRule
} from "../src/index.js"
import { fieldIssues } from "../src/internal/issues.js"
import { editDistance, knownKeys, schemaIssues, suggest, unknownKeys } from "../src/internal/unknownKeys.js"
import { repeat, scripted } from "./utils.js"

class Legacy extends Data.TaggedError("Legacy")<{}> {}
class OutOfStock extends ErrorFamily.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }, {
  code: "test.E0101",
  kind: "recoverable"
}) {}

const built = <E>(layer: Layer.Layer<any, E>) => Effect.flip(Layer.build(layer))

// a layer's config error, as path strings and messages
const issuesOf = (error: unknown): Array<[string, string]> => {
  assert.isTrue(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
  return (error as ConfigError.ConfigError).issues.map((i) => [i.path.join("."), i.message])
}

describe("unknown keys", () => {
  it("edit distance counts a swap of adjacent characters as one edit", () => {
    assert.strictEqual(editDistance("openDuraton", "openDuration"), 1)
    assert.strictEqual(editDistance("defualt", "default"), 1)
    assert.strictEqual(editDistance("", "abc"), 3)
    assert.strictEqual(editDistance("kitten", "sitting"), 3)
  })

  it("suggests the nearest known name only when it is close, ignoring case", () => {
    assert.strictEqual(suggest("openDuraton", ["trip", "openDuration", "closeAfter"]), "openDuration")
    assert.strictEqual(suggest("OPENDURATION", ["openDuration"]), "openDuration")
    assert.strictEqual(suggest("timeout", ["trip", "openDuration", "closeAfter"]), undefined)
    assert.strictEqual(suggest("ab", ["cd"]), undefined)
  })

  it("reports each unknown key with its path, and lists the known keys when none is near", () => {
    assert.deepStrictEqual(unknownKeys({ trip: 1, openDuraton: 2, zzz: 3 }, ["trip", "openDuration"], ["storage"]), [
      { path: ["storage", "openDuraton"], message: "Unknown key \"openDuraton\", did you mean \"openDuration\"?" },
      { path: ["storage", "zzz"], message: "Unknown key \"zzz\", expected one of \"trip\", \"openDuration\"" }
    ])
    assert.deepStrictEqual(unknownKeys([1, 2], ["a"]), [])
    assert.deepStrictEqual(unknownKeys("text", ["a"]), [])
    assert.deepStrictEqual(knownKeys<{ a?: number; b: string }>({ a: true, b: true }), ["a", "b"])
  })

  it("gives Schema's excess properties the same message, with the struct's keys", () => {
    const Struct = Schema.Struct({ maxAttempts: Schema.optional(Schema.Number), nested: Schema.optional(Schema.Struct({ depth: Schema.Number })) })
    const exit = Schema.decodeUnknownExit(Struct)({ maxAtempts: 1, nested: { dept: 1, depth: "x" } }, {
      errors: "all",
      onExcessProperty: "error"
    })
    assert.isTrue(exit._tag === "Failure")
    if (exit._tag !== "Failure") return
    const reason = exit.cause.reasons.find(Cause.isFailReason)
    const messages = schemaIssues(reason!.error.issue).map((i) => `${i.path.join(".")}: ${i.message}`).sort()
    assert.deepStrictEqual(messages, [
      "maxAtempts: Unknown key \"maxAtempts\", did you mean \"maxAttempts\"?",
      "nested.dept: Unknown key \"dept\", did you mean \"depth\"?",
      "nested.depth: Expected number"
    ])
    // every other issue reads as the module's other Schema issues do
    const others = fieldIssues(reason!.error.issue).filter((i) => i.message !== "Expected no excess property")
    assert.deepStrictEqual(
      schemaIssues(reason!.error.issue).filter((i) => !i.message.startsWith("Unknown key")),
      others.map((i) => ({ path: i.path, message: i.message }))
    )
  })
})

describe("breaker options refuse unknown keys", () => {
  it.effect("CircuitBreaker.validate names the key and the nearest option, in code and in JSON", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(CircuitBreaker.validate({ openDuraton: "10 seconds" } as CircuitBreaker.Options))
      assert.deepStrictEqual(error.issues, [{
        path: ["openDuraton"],
        message: "Unknown key \"openDuraton\", did you mean \"openDuration\"?"
      }])
      assert.strictEqual(
        error.message,
        "Invalid options: openDuraton: Unknown key \"openDuraton\", did you mean \"openDuration\"?"
      )
      const fromJson: CircuitBreaker.Options = JSON.parse(`{ "halfOpenProbes": 2, "closeAftr": 2, "colour": "red" }`)
      const json = yield* Effect.flip(CircuitBreaker.validate(fromJson))
      assert.deepStrictEqual(json.issues.map((i) => [i.path.join("."), i.message]), [
        ["closeAftr", "Unknown key \"closeAftr\", did you mean \"closeAfter\"?"],
        [
          "colour",
          "Unknown key \"colour\", expected one of \"trip\", \"openDuration\", \"halfOpenProbes\", \"closeAfter\", \"counts\", \"share\""
        ]
      ])
    }))

  it.effect("an unknown key is reported with the other problems, and nothing is built", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(CircuitBreaker.make("payments", {
        halfOpenProbes: 0,
        openDuraton: "1 second"
      } as CircuitBreaker.Options)))
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["openDuraton", "halfOpenProbes"])
    }))

  it.effect("options read from JSON that are not an object are refused, not read", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(CircuitBreaker.validate(JSON.parse("null")))
      assert.deepStrictEqual(error.issues, [{ path: [], message: "Expected an object, got null" }])
      const registry = yield* Effect.flip(Effect.scoped(BreakerRegistry.make(JSON.parse(`{ "breakers": "storage" }`))))
      assert.deepStrictEqual(issuesOf(registry).map(([path]) => path), ["breakers"])
      const layer = yield* built(ErrorLayer.layer(JSON.parse("[]")))
      assert.deepStrictEqual(issuesOf(layer).map(([path]) => path), [""])
      const policies = yield* built(PolicyService.layer(JSON.parse("null")))
      assert.deepStrictEqual(issuesOf(policies), [["", "Expected an object, got null"]])
    }))


  it.effect("BreakerRegistry: a breaker's issues are under its name, the registry's own at its root", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(BreakerRegistry.make({
        default: { trip: TripRule.consecutive(3) },
        breakers: { storage: { openDuraton: "1 second" } as CircuitBreaker.Options },
        operation: { "items.save": "storage" }
      } as BreakerRegistry.Options)))
      assert.sameDeepMembers(issuesOf(error), [
        ["operation", "Unknown key \"operation\", did you mean \"operations\"?"],
        ["breakers.storage.openDuraton", "Unknown key \"openDuraton\", did you mean \"openDuration\"?"]
      ])
      assert.include(error.message, "breakers.storage.openDuraton: Unknown key")
    }))

  it.effect("ErrorLayer: the breakers section's paths start at the layer's options", () =>
    Effect.gen(function*() {
      const breakers: BreakerRegistry.Options = JSON.parse(
        `{ "defualt": { "halfOpenProbes": 2 }, "breakers": { "storage": { "openDuraton": 1000 } } }`
      )
      const error = yield* built(ErrorLayer.layer({ logFormat: false, breakers }))
      assert.sameDeepMembers(issuesOf(error), [
        ["breakers.defualt", "Unknown key \"defualt\", did you mean \"default\"?"],
        ["breakers.breakers.storage.openDuraton", "Unknown key \"openDuraton\", did you mean \"openDuration\"?"]
      ])
    }))
})

describe("ErrorLayer options refuse unknown keys", () => {
  it.effect("a misspelt top-level key fails the build, before any section is built", () =>
    Effect.gen(function*() {
      const error = yield* built(ErrorLayer.layer({
        logFormat: false,
        polices: [Policy.forFamily(CommonErrors.StorageError, { maxAttempts: 5 })],
        tracker: { historySize: 0 }
      } as ErrorLayer.Options))
      assert.deepStrictEqual(issuesOf(error), [["polices", "Unknown key \"polices\", did you mean \"policies\"?"]])
      assert.strictEqual(error.message, "Invalid options: polices: Unknown key \"polices\", did you mean \"policies\"?")
    }))

  it.effect("the same from JSON config; alertCapacity is no option any more", () =>
    Effect.gen(function*() {
      const options: ErrorLayer.Options = JSON.parse(`{ "logFormat": false, "alertCapacity": 10, "trackr": {} }`)
      const error = yield* built(ErrorLayer.layer(options))
      assert.deepStrictEqual(issuesOf(error).map(([path]) => path), ["alertCapacity", "trackr"])
      assert.include(error.message, "trackr: Unknown key \"trackr\", did you mean \"tracker\"?")
    }))
})

describe("policy options refuse unknown keys", () => {
  it.effect("Policy.fromConfig names the nearest field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Policy.fromConfig({ maxAtempts: 3, baseDelay: 10 }))
      assert.deepStrictEqual(error.issues, [{
        path: ["maxAtempts"],
        message: "Unknown key \"maxAtempts\", did you mean \"maxAttempts\"?"
      }])
    }))

  it.effect("PolicyService options: an unknown key is at the root", () =>
    Effect.gen(function*() {
      const error = yield* built(PolicyService.layer({ polices: { StorageError: { maxAttempts: 2 } } } as PolicyService.Options))
      assert.deepStrictEqual(issuesOf(error), [["polices", "Unknown key \"polices\", did you mean \"policies\"?"]])
      assert.strictEqual(error.message, "Invalid options: polices: Unknown key \"polices\", did you mean \"policies\"?")
    }))

  it.effect("through ErrorLayer, the default policy's issues are under defaultPolicy", () =>
    Effect.gen(function*() {
      const error = yield* built(ErrorLayer.layer({ logFormat: false, defaultPolicy: { maxAttempts: 0 } }))
      assert.deepStrictEqual(issuesOf(error).map(([path]) => path), ["defaultPolicy.maxAttempts"])
    }))
})

describe("a policy for a tag no declared family has", () => {
  it.effect("is refused at layer build, naming the tag and the nearest declared tag, with nothing built", () =>
    Effect.gen(function*() {
      const error = yield* built(ErrorLayer.layer({
        logFormat: false,
        policies: { StorageEror: { maxAttempts: 5 }, NetworkError: { maxAttempts: 0 } }
      }))
      const issues = issuesOf(error)
      assert.deepStrictEqual(issues.map(([path]) => path), ["policies.StorageEror", "policies.NetworkError.maxAttempts"])
      assert.include(issues[0]![1], "No declared error family has the tag \"StorageEror\", did you mean \"StorageError\"?")
      assert.include(issues[0]![1], "Policy.forTag(\"StorageEror\", policy, { undeclared: true })")
      assert.include(error.message, "policies.StorageEror: No declared error family has the tag")
    }))

  it.effect("is refused by PolicyService alone too, and from a list of forTag entries", () =>
    Effect.gen(function*() {
      const record = yield* built(PolicyService.layer({ policies: { Legacy: { maxAttempts: 2 } } }))
      assert.deepStrictEqual(issuesOf(record).map(([path]) => path), ["policies.Legacy"])
      assert.include(issuesOf(record)[0]![1], "list its family in `errors`")
      const list = yield* built(PolicyService.layer({ policies: [Policy.forTag("OutOfStok", { maxAttempts: 2 })], errors: [OutOfStock] }))
      assert.deepStrictEqual(issuesOf(list).map(([path]) => path), ["policies.0"])
      assert.include(issuesOf(list)[0]![1], "did you mean \"OutOfStock\"?")
    }))

  it.effect("is accepted for declared families: common, listed in errors, bound with forFamily, BreakerOpenError", () =>
    Effect.gen(function*() {
      const service = yield* PolicyService.make({
        policies: {
          StorageError: { maxAttempts: 2 },
          OutOfStock: { maxAttempts: 3 },
          BreakerOpenError: { maxAttempts: 2 }
        },
        errors: [OutOfStock]
      })
      assert.deepStrictEqual([...service.policies.keys()], ["StorageError", "OutOfStock", "BreakerOpenError"])
      yield* Layer.build(ErrorLayer.layer({
        logFormat: false,
        errors: [OutOfStock],
        policies: [Policy.forTag("OutOfStock", { maxAttempts: 3 }), Policy.forFamily(CommonErrors.NetworkError, {})]
      }))
    }))

  it.effect("applies when said to be for an undeclared error type", () =>
    Effect.gen(function*() {
      const op = scripted(repeat(9, () => new Legacy()))
      const fiber = yield* op.effect.pipe(
        Effect.retry(PolicyService.retry),
        Effect.result,
        Effect.forkChild,
        Effect.provide(ErrorLayer.layer({
          logFormat: false,
          policies: [
            Policy.forTag<Legacy>("Legacy", { maxAttempts: 3, baseDelay: 50, factor: 1 }, { undeclared: true })
          ]
        }))
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(op.times, [0, 50, 100])
    }))
})

describe("trip rules refuse unknown keys", () => {
  // the problems TripRule's Schema finds in a rule
  const ruleIssues = (rule: unknown) => {
    const exit = Schema.decodeUnknownExit(TripRule.TripRule)(rule, { errors: "all", onExcessProperty: "error" })
    if (Exit.isSuccess(exit)) return []
    const error = Cause.findErrorOption(exit.cause)
    return error._tag === "Some" ? ConfigError.fromSchemaIssue(error.value.issue) : []
  }

  it("a misspelt key of a rule's options is reported by the rule's Schema, with the nearest name", () => {
    const fromConfig = JSON.parse('{ "threshold": 0.5, "lastCalls": 20, "minimumCall": 5 }')
    assert.deepStrictEqual(ruleIssues(TripRule.failureRate(fromConfig)), [
      { path: ["minimumCall"], message: "Unknown key \"minimumCall\", did you mean \"minimumCalls\"?" }
    ])
    const slow = JSON.parse('{ "slowerThan": "1 second", "threshold": 0.5, "lastDuration": "10 seconds", "bucket": 5 }')
    assert.deepStrictEqual(ruleIssues(TripRule.slowCallRate(slow)).map((i) => i.path), [["bucket"]])
    // a well-formed rule is unchanged: equal to one built without the check, and valid
    assert.deepStrictEqual(ruleIssues(TripRule.failureRate({ threshold: 0.5, lastCalls: 20 })), [])
  })

  it("a rule value written by hand (or read from JSON) is checked against its kind's keys", () => {
    const rule = JSON.parse('{ "_tag": "Consecutive", "failures": 3, "failurs": 4 }')
    assert.deepStrictEqual(ruleIssues(rule), [
      { path: ["failurs"], message: "Unknown key \"failurs\", did you mean \"failures\"?" }
    ])
    const windowed = JSON.parse('{ "_tag": "FailureRate", "threshold": 0.5, "minimumCalls": 2, "window": { "_tag": "Calls", "size": 5, "sise": 1 } }')
    assert.deepStrictEqual(ruleIssues(windowed).map((i) => i.path), [["window", "sise"]])
  })

  it("a breaker given such a rule fails with a config error naming the key", () => {
    const rule = TripRule.failureRate(JSON.parse('{ "treshold": 0.5, "lastCalls": 20 }'))
    const exit = Effect.runSyncExit(Effect.scoped(CircuitBreaker.make("storage", { trip: rule })))
    assert.isTrue(exit._tag === "Failure")
    assert.include(String(Cause.squash((exit as any).cause)), "did you mean \"threshold\"?")
  })
})


describe("tracker options refuse unknown keys with the nearest name", () => {
  it("a misspelt tracker key fails ErrorLayer with did you mean, under tracker", async () => {
    const options = JSON.parse('{ "tracker": { "histroySize": 10 } }') as ErrorLayer.Options
    const error = await Effect.runPromise(Effect.scoped(built(ErrorLayer.layer({ ...options, logFormat: false }))))
    assert.deepStrictEqual(issuesOf(error), [
      ["tracker.histroySize", "Unknown key \"histroySize\", did you mean \"historySize\"?"]
    ])
  })
})

describe("malformed policy sections are config errors, not crashes", () => {
  const layerIssues = async (options: unknown) => {
    const error = await Effect.runPromise(
      Effect.scoped(built(ErrorLayer.layer({ ...(options as ErrorLayer.Options), logFormat: false })))
    )
    return issuesOf(error).map(([path, message]) => `${path}: ${message}`)
  }

  it("policies, errors and undeclaredTags of the wrong shape name the field", async () => {
    assert.match((await layerIssues({ policies: null }))[0]!, /^policies: Expected a list of Policy.forFamily/)
    assert.match((await layerIssues({ policies: "abc" }))[0]!, /^policies: Expected a list/)
    assert.match((await layerIssues({ policies: [null] }))[0]!, /^policies.0: Expected Policy.forFamily\(...\) or Policy.forTag/)
    assert.match((await layerIssues({ errors: {} }))[0]!, /^errors: Expected a list of error families/)
    assert.match((await layerIssues({ undeclaredTags: "RequestError" }))[0]!, /^undeclaredTags: Expected a list of error tags/)
    assert.match((await layerIssues({ policies: [{ family: "x", policy: {} }] }))[0]!, /^policies.0: Expected Policy.forFamily/)
    assert.match((await layerIssues({ policies: [{ tag: 5, policy: {} }] }))[0]!, /^policies.0: Expected Policy.forFamily/)
  })

  it("a malformed undeclaredTags or undeclared flag is one issue, and what is well formed of it still applies", async () => {
    assert.deepStrictEqual(
      (await layerIssues({ undeclaredTags: ["Foo", 1], policies: { Foo: { maxAttempts: 2 } } })).map((i) => i.split(":")[0]),
      ["undeclaredTags"]
    )
    assert.match((await layerIssues({ errors: null }))[0]!, /^errors: Expected a list/)
    const flag = await layerIssues({ policies: [{ ...Policy.forTag("Foo", { maxAttempts: 2 }), undeclared: "false" }] })
    assert.deepStrictEqual(flag, ["policies.0.undeclared: Expected true or false, got \"false\""])
  })

  it("every problem is reported together: a malformed section or unknown key does not hide a bad policy", async () => {
    const issues = await layerIssues({ errors: {}, defaultPolicy: { maxAttempts: -1 } })
    assert.strictEqual(issues.length, 2)
    assert.match(issues[0]!, /^errors: Expected a list of error families/)
    assert.match(issues[1]!, /^defaultPolicy.maxAttempts/)
    const direct = await Effect.runPromise(
      Effect.flip(PolicyService.make({ polcies: {}, default: { maxAttempts: -1 } } as PolicyService.Options))
    )
    assert.deepStrictEqual(direct.issues.map((i) => i.path.join(".")), ["polcies", "default.maxAttempts"])
  })

  it("a config file binds a policy to an undeclared error type by listing its tag in undeclaredTags", async () => {
    const config = JSON.parse('{ "policies": { "RequestError": { "maxAttempts": 2 } }, "undeclaredTags": ["RequestError"] }')
    const services = await Effect.runPromise(Effect.scoped(Layer.build(ErrorLayer.layer({ ...config, logFormat: false }))))
    assert.isDefined(services)
    const refused = await layerIssues({ policies: { RequestError: { maxAttempts: 2 } } })
    assert.match(refused[0]!, /No declared error family has the tag "RequestError".*undeclaredTags/)
  })

  it("ErrorLayer options that are not an object name no empty path", async () => {
    const error = await Effect.runPromise(Effect.scoped(built(ErrorLayer.layer(null as unknown as ErrorLayer.Options))))
    assert.match(error.message, /^Invalid options: Expected /)
    assert.notMatch(error.message, /^Invalid options: :/)
  })
})

describe("ErrorLayer's own values", () => {
  it.effect("an unknown log format is refused, not silently pretty", () =>
    Effect.gen(function*() {
      const error = yield* built(ErrorLayer.layer(JSON.parse(`{ "logFormat": "xml" }`)))
      assert.deepStrictEqual(issuesOf(error).map(([path]) => path), ["logFormat"])
    }))
})

describe("ErrorLayer reports every section's problems together", () => {
  it.effect("policies, tracker and breakers wrong at once: one ConfigError naming each, nothing built", () =>
    Effect.gen(function*() {
      const error = yield* built(ErrorLayer.layer({
        logFormat: false,
        defaultPolicy: { maxAttempts: 0 },
        tracker: { historySize: 0 },
        breakers: { default: { halfOpenProbes: 0 }, breakers: { storage: { openDuraton: 5 } as CircuitBreaker.Options } }
      }))
      assert.deepStrictEqual(issuesOf(error).map(([path]) => path), [
        "defaultPolicy.maxAttempts",
        "tracker.historySize",
        "breakers.default.halfOpenProbes",
        "breakers.breakers.storage.openDuraton"
      ])
    }))

  it.effect("bulkheads and rate limiters are sections too: their problems join the others', each field named", () =>
    Effect.gen(function*() {
      const error = yield* built(ErrorLayer.layer({
        logFormat: false,
        defaultPolicy: { maxAttempts: 0 },
        bulkheads: {
          default: { queue: -1 },
          bulkheads: { search: { limit: 0, queueTimout: "1 second" } as Bulkhead.Options }
        },
        rateLimiters: {
          limiters: {
            api: { limit: 10, window: "0 millis" },
            exports: { limit: 1.5, window: "1 hour", algorithm: "leaky" } as unknown as RateLimiter.Options
          }
        }
      }))
      const issues = issuesOf(error)
      // every problem of every section, at once (in no promised order within a section)
      assert.deepStrictEqual(issues.map(([path]) => path).sort(), [
        "defaultPolicy.maxAttempts",
        "bulkheads.default.queue",
        "bulkheads.bulkheads.search.limit",
        "bulkheads.bulkheads.search.queueTimout",
        "rateLimiters.limiters.api.window",
        "rateLimiters.limiters.exports.algorithm",
        "rateLimiters.limiters.exports.limit"
      ].sort())
      assert.include(issues.find(([path]) => path.endsWith("queueTimout"))![1], "did you mean \"queueTimeout\"")
    }))

  it.effect("ErrorTracker.validate and BreakerRegistry.validate check without building", () =>
    Effect.gen(function*() {
      const tracker = yield* Effect.flip(ErrorTracker.validate({ historySize: 0 }))
      assert.deepStrictEqual(issuesOf(tracker).map(([path]) => path), ["historySize"])
      const registry = yield* Effect.flip(BreakerRegistry.validate({ breakers: { storage: { halfOpenProbes: 0 } } }))
      assert.deepStrictEqual(issuesOf(registry).map(([path]) => path), ["breakers.storage.halfOpenProbes"])
      yield* ErrorTracker.validate({ historySize: 10 })
      yield* BreakerRegistry.validate({})
    }))
})
