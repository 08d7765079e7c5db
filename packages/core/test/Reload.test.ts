import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Config,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FileSystem,
  Layer,
  Metric,
  PubSub,
  Schedule,
  Scope
} from "effect"
import { TestClock } from "effect/testing"
import {
  AdaptiveLimit,
  BreakerRegistry,
  BulkheadRegistry,
  CommonErrors,
  ConfigError,
  ConfigReload,
  ErrorLayer,
  Policy,
  PolicyService,
  protect,
  RetryBudgetRegistry
} from "../src/index.js"
import { attemptsOf, captureLogs, type Line, repeat, scripted } from "./utils.js"

const { NetworkError, StorageError } = CommonErrors
const storage = () => new StorageError({ operation: "items.save" })

const base: ErrorLayer.Options = {
  logFormat: false,
  defaultPolicy: { maxAttempts: 2, baseDelay: "10 millis" },
  policies: [Policy.forFamily(StorageError, { maxAttempts: 3, baseDelay: "100 millis", factor: 1 })],
  bulkheads: { default: { limit: 5 }, bulkheads: { search: { limit: 2, queue: 0 } } }
}

// each test its own layer (its own registry and metrics), so nothing leaks from one to the next
const Rules = (options: ErrorLayer.Options = base, lines: Array<Line> = []) =>
  ConfigReload.layer.pipe(
    Layer.provideMerge(ErrorLayer.layer(options)),
    Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
    Layer.provideMerge(captureLogs(lines))
  )


const issuesOf = (error: { readonly issues: ReadonlyArray<{ readonly path: ReadonlyArray<string | number> }> }) =>
  error.issues.map((issue) => issue.path.join("."))

/** Lets other fibers run until `done` holds (bounded). */
const settle = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    if (!done()) return yield* Effect.die("condition never held")
  })

/** A call through the bulkhead that holds its place until `open`. */
const hold = (bulkhead: string) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    let started = false
    const fiber = yield* Effect.forkChild(
      Effect.exit(
        Effect.andThen(Effect.sync(() => (started = true)), Deferred.await(gate)).pipe(BulkheadRegistry.withBulkhead(bulkhead))
      )
    )
    return { fiber, open: Deferred.succeed(gate, undefined), started: () => started }
  })

/** A call holding the bulkhead's one place, and `n` calls queued behind it, in order. */
const queueUp = (bulkhead: string, n: number) =>
  Effect.gen(function*() {
    const state = (yield* BulkheadRegistry.bulkhead(bulkhead)).state
    const holder = yield* hold(bulkhead)
    yield* settle(holder.started)
    const waiters: Array<Effect.Success<ReturnType<typeof hold>>> = []
    for (let i = 0; i < n; i++) {
      waiters.push(yield* hold(bulkhead))
      yield* settle(() => Effect.runSync(state).queued === i + 1)
    }
    return { holder, waiters }
  })

const stateOf = (name: string) => Effect.flatMap(BulkheadRegistry.bulkhead(name), (b) => b.state)

const metricValues = Effect.map(Metric.snapshot, (all) =>
  all.filter((m) => m.id.startsWith("resilience_config_")).map((m) => {
    const value = m.type === "Counter" ? (m.state as { count: number }).count : (m.state as { value: number }).value
    return `${m.id}${m.attributes?.result === undefined ? "" : `{${m.attributes.result}}`}=${value}`
  }).sort())

describe("ConfigReload", () => {
  it.effect("a valid candidate is applied: the policies and the bulkheads change, generation 1", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* attemptsOf(storage()), 3)
      const applied = yield* ConfigReload.reload({
        policies: { StorageError: { maxAttempts: 5, baseDelay: "100 millis" }, NetworkError: { maxAttempts: 4 } },
        bulkheads: { bulkheads: { search: { limit: 3 } } }
      })
      assert.strictEqual(applied.generation, 1)
      assert.deepStrictEqual(applied.source, { _tag: "Call" })
      assert.deepStrictEqual(applied.changes.policies, {
        default: false,
        added: ["NetworkError"],
        updated: ["StorageError"],
        removed: []
      })
      assert.deepStrictEqual(applied.changes.bulkheads, [{ name: "search", change: "updated", state: "kept" }])
      assert.strictEqual(yield* attemptsOf(storage()), 5)
      assert.strictEqual(yield* attemptsOf(new NetworkError({ target: "bank" })), 4)
      assert.strictEqual((yield* stateOf("search")).limit, 3)
      const status = yield* ConfigReload.status
      assert.strictEqual(status.generation, 1)
      assert.strictEqual(status.lastApplied, applied)
      // the section left out is the layer's own
      assert.deepStrictEqual(status.rules.defaultPolicy, base.defaultPolicy)
      // the default policy is the layer's: a section left out of the next candidate is too
      yield* ConfigReload.reload({})
      assert.strictEqual(yield* attemptsOf(storage()), 3)
      assert.strictEqual((yield* stateOf("search")).limit, 2)
    }).pipe(Effect.provide(Rules())))

  it.effect("an invalid candidate changes nothing and names every problem with its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ConfigReload.reload({
        defaultPolicy: { maxAttempts: 0 },
        policies: { StorageError: { maxAttempts: 4, baseDelay: "soon" }, StorgeError: { maxAttempts: 2 } },
        bulkheads: { bulkheads: { search: { limit: 0, queueTimout: "1 second" } }, operatoins: {} },
        tracker: {},
        polices: {}
      }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.deepStrictEqual(issuesOf(error).sort(), [
        "bulkheads.bulkheads.search.limit",
        "bulkheads.bulkheads.search.queueTimout",
        "bulkheads.operatoins",
        "defaultPolicy.maxAttempts",
        "polices",
        "policies.StorageError.baseDelay",
        "policies.StorgeError",
        "tracker"
      ])
      assert.include(error.message, 'did you mean "StorageError"')
      assert.include(error.message, "polices: Unknown key \"polices\", did you mean \"policies\"?")
      assert.include(error.message, "tracker: Not reloadable")
      // nothing changed: not the policies (not even the valid StorageError one), not the bulkhead
      assert.strictEqual(yield* attemptsOf(storage()), 3)
      assert.strictEqual((yield* stateOf("search")).limit, 2)
      const status = yield* ConfigReload.status
      assert.strictEqual(status.generation, 0)
      assert.strictEqual(status.lastApplied, undefined)
      assert.strictEqual(status.lastEvent?._tag, "ReloadRejected")
      // and the next valid one is applied
      assert.strictEqual((yield* ConfigReload.reload({ policies: { StorageError: { maxAttempts: 1 } } })).generation, 1)
      assert.strictEqual(yield* attemptsOf(storage()), 1)
    }).pipe(Effect.provide(Rules())))

  it.effect("a call already running keeps the policies it started with; the next call follows the new ones", () =>
    Effect.gen(function*() {
      const running = scripted(repeat(20, storage))
      const fiber = yield* Effect.forkChild(Effect.exit(running.effect.pipe(protect({ operation: "items.save" }))))
      yield* TestClock.adjust("150 millis") // two attempts made, the call waits its next retry
      assert.strictEqual(running.calls(), 2)
      yield* ConfigReload.reload({ policies: { StorageError: Policy.noRetry() } })
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber)
      assert.strictEqual(running.calls(), 3) // its own policy's three attempts
      assert.strictEqual(yield* attemptsOf(storage()), 1)
      // the same for a plain `Effect.retry(PolicyService.retry)` run
      const retried = scripted(repeat(20, storage))
      yield* ConfigReload.reload({})
      const fiber2 = yield* Effect.forkChild(Effect.exit(retried.effect.pipe(Effect.retry(PolicyService.retry))))
      yield* TestClock.adjust("50 millis")
      yield* ConfigReload.reload({ policies: { StorageError: Policy.noRetry() } })
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber2)
      assert.strictEqual(retried.calls(), 3)
    }).pipe(Effect.provide(Rules())))

  it.effect("a bulkhead keeps its calls in flight and its counts under a changed limit, which applies in place", () =>
    Effect.gen(function*() {
      const a = yield* hold("search")
      const b = yield* hold("search")
      yield* settle(() => a.started() && b.started())
      // lowered below its calls in flight: they keep their places, and no new call is admitted until under it
      const lowered = yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 1, queue: 5 } } } })
      assert.deepStrictEqual(lowered.changes.bulkheads, [{ name: "search", change: "updated", state: "kept" }])
      let state = yield* stateOf("search")
      assert.deepStrictEqual([state.limit, state.inFlight, state.admitted, state.queue], [1, 2, 2, 5])
      const search = yield* BulkheadRegistry.bulkhead("search")
      const c = yield* hold("search")
      yield* settle(() => Effect.runSync(search.state).queued === 1)
      state = yield* stateOf("search")
      assert.deepStrictEqual([state.inFlight, state.queued, c.started()], [2, 1, false])
      yield* a.open
      yield* Fiber.join(a.fiber)
      state = yield* stateOf("search")
      assert.deepStrictEqual([state.inFlight, state.queued, c.started()], [1, 1, false]) // still not under 1
      // raised: the waiter is given its place at once
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 4, queue: 5 } } } })
      yield* settle(c.started)
      state = yield* stateOf("search")
      assert.deepStrictEqual([state.limit, state.inFlight, state.queued, state.admitted], [4, 2, 0, 3])
      yield* b.open
      yield* c.open
      yield* Fiber.join(b.fiber)
      yield* Fiber.join(c.fiber)
      assert.strictEqual((yield* stateOf("search")).inFlight, 0)
    }).pipe(Effect.provide(Rules())))

  it.effect("a queue switched from FIFO to LIFO keeps its waiters and serves the newest next", () =>
    Effect.gen(function*() {
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 1, queue: 5 } } } })
      const search = yield* BulkheadRegistry.bulkhead("search")
      const { holder, waiters } = yield* queueUp("search", 3)
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 1, queue: 5, order: "lifo" } } } })
      assert.deepStrictEqual([(yield* search.state).queued, (yield* search.state).order], [3, "lifo"])
      yield* holder.open
      yield* settle(() => waiters.some((w) => w.started()))
      assert.deepStrictEqual(waiters.map((w) => w.started()), [false, false, true])
      // and back: the oldest is next
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 1, queue: 5 } } } })
      yield* waiters[2]!.open
      yield* settle(() => waiters[0]!.started())
      assert.deepStrictEqual(waiters.map((w) => w.started()), [true, false, true])
      yield* waiters[0]!.open
      yield* waiters[1]!.open
      yield* Effect.forEach([holder, ...waiters], (w) => Fiber.join(w.fiber))
      assert.strictEqual((yield* search.state).inFlight, 0)
    }).pipe(Effect.provide(Rules())))

  it.effect("a LIFO queue whose capacity is lowered below its waiters: the next arrival evicts the oldest down to it", () =>
    Effect.gen(function*() {
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 1, queue: 5, order: "lifo" } } } })
      const search = yield* BulkheadRegistry.bulkhead("search")
      const { holder, waiters } = yield* queueUp("search", 5)
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 1, queue: 2, order: "lifo" } } } })
      assert.strictEqual((yield* search.state).queued, 5) // nobody is refused by the reload itself
      const arrival = yield* hold("search")
      yield* settle(() => Effect.runSync(search.state).queued === 2)
      // the four oldest evicted (refused with BulkheadFullError), the newest waiter and the arrival queued
      const evicted = yield* Effect.forEach(waiters.slice(0, 4), (w) => Fiber.join(w.fiber))
      assert.isTrue(evicted.every((exit) => Exit.isFailure(exit)))
      assert.strictEqual((yield* search.state).rejected.evicted, 4)
      yield* holder.open
      yield* settle(arrival.started)
      yield* arrival.open
      yield* settle(waiters[4]!.started)
      yield* waiters[4]!.open
      yield* Effect.forEach([holder, arrival, waiters[4]!], (w) => Fiber.join(w.fiber))
      assert.strictEqual((yield* search.state).inFlight, 0)
    }).pipe(Effect.provide(Rules())))

  it.effect("a PolicyService that cannot be reloaded is named, and nothing changes", () =>
    Effect.gen(function*() {
      const fixed = yield* PolicyService.make()
      const Fixed = ConfigReload.layer.pipe(
        Layer.provideMerge(Layer.succeed(PolicyService.PolicyService, PolicyService.PolicyService.of({
          defaultPolicy: fixed.defaultPolicy,
          policies: fixed.policies,
          families: fixed.families,
          policyFor: fixed.policyFor
        }))),
        Layer.provideMerge(BulkheadRegistry.layer())
      )
      const error = yield* Effect.flip(
        ConfigReload.reload({ policies: { StorageError: { maxAttempts: 4 } }, bulkheads: { default: { limit: 3 } } })
          .pipe(Effect.provide(Fixed))
      )
      assert.deepStrictEqual(issuesOf(error), ["policies"])
      assert.include(error.message, "The PolicyService in the context cannot be reloaded")
    }).pipe(Effect.provide(captureLogs([]))))

  it.effect("says which state is new or reset: a renamed bulkhead, an adaptive limit changed", () =>
    Effect.gen(function*() {
      yield* BulkheadRegistry.bulkhead("reports") // built on first use, with the default options
      const renamed = yield* ConfigReload.reload({
        bulkheads: {
          default: { limit: 5 },
          bulkheads: { find: { limit: 2 }, reports: { limit: AdaptiveLimit.aimd({ initial: 4, max: 8 }) } }
        }
      })
      assert.deepStrictEqual(renamed.changes.bulkheads, [
        { name: "find", change: "added", state: "new" },
        {
          name: "reports",
          change: "added",
          state: "reset",
          reason: "the limit became adaptive (Aimd): it starts from its initial limit, 4"
        },
        { name: "search", change: "removed", state: "kept" }
      ])
      assert.strictEqual((yield* stateOf("search")).limit, 5) // the default options now
      assert.strictEqual((yield* stateOf("reports")).limit, 4)
      const same = yield* ConfigReload.reload({
        bulkheads: {
          default: { limit: 5 },
          bulkheads: { find: { limit: 2 }, reports: { limit: AdaptiveLimit.aimd({ initial: 4, max: 8 }) } }
        }
      })
      assert.deepStrictEqual(same.changes.bulkheads, []) // an equal adaptive limit keeps its controller
      const changed = yield* ConfigReload.reload({
        bulkheads: {
          default: { limit: 5 },
          bulkheads: { find: { limit: 2 }, reports: { limit: AdaptiveLimit.aimd({ initial: 6, max: 8 }) } },
          operations: { "reports.build": "reports" }
        }
      })
      assert.deepStrictEqual(changed.changes.bulkheads, [{
        name: "reports",
        change: "updated",
        state: "reset",
        reason: "the adaptive limit changed: its controller starts again from its initial limit, 6"
      }])
      assert.deepStrictEqual(changed.changes.operations, ["reports.build"])
    }).pipe(Effect.provide(Rules())))

  it.effect("a changed operation mapping reaches a protect call site already built", () =>
    Effect.gen(function*() {
      const call = Effect.succeed(1).pipe(protect({ operation: "items.find", bulkhead: true }))
      yield* call
      assert.strictEqual((yield* stateOf("items.find")).admitted, 1)
      yield* ConfigReload.reload({ bulkheads: { bulkheads: { search: { limit: 2 } }, operations: { "items.find": "search" } } })
      yield* call
      assert.strictEqual((yield* stateOf("search")).admitted, 1)
      assert.strictEqual((yield* stateOf("items.find")).admitted, 1)
    }).pipe(Effect.provide(Rules())))

  it.effect("with a PolicyService that is not reloadable, a remapping still reaches the call sites already built", () =>
    Effect.gen(function*() {
      const fixed = yield* PolicyService.make()
      const Fixed = ConfigReload.layer.pipe(
        Layer.provideMerge(Layer.succeed(PolicyService.PolicyService, PolicyService.PolicyService.of({
          defaultPolicy: fixed.defaultPolicy,
          policies: fixed.policies,
          families: fixed.families,
          policyFor: fixed.policyFor
        }))),
        Layer.provideMerge(BulkheadRegistry.layer()),
        Layer.provideMerge(BreakerRegistry.layer()),
        Layer.provideMerge(RetryBudgetRegistry.layer())
      )
      yield* Effect.gen(function*() {
        const call = Effect.succeed(1).pipe(
          protect({ operation: "items.find", bulkhead: true, breaker: true, budget: true })
        )
        yield* call
        const calls = Effect.gen(function*() {
          const bulkheads = yield* BulkheadRegistry.BulkheadRegistry
          const breakers = yield* BreakerRegistry.BreakerRegistry
          const budgets = yield* RetryBudgetRegistry.RetryBudgetRegistry
          const admitted = (yield* bulkheads.states).map((s) => `${s.name}:${s.admitted}`)
          const breakerCalls = (yield* breakers.states).map((s) => `${s.breaker}:${s.calls.success}`)
          const budgetStates = (yield* budgets.states).map((s) => `${s.name}:${s.requests}`)
          return { admitted, breakerCalls, budgetStates }
        })
        assert.deepStrictEqual(yield* calls, {
          admitted: ["items.find:1"],
          breakerCalls: ["items.find:1"],
          budgetStates: ["items.find:1"]
        })
        // a reload of the mappings alone: the policy set in force is the same object, the routes are not
        yield* ConfigReload.reload({
          bulkheads: { operations: { "items.find": "search" } },
          breakers: { operations: { "items.find": "search" } },
          budgets: { operations: { "items.find": "search" } }
        })
        yield* call
        assert.deepStrictEqual(yield* calls, {
          admitted: ["items.find:1", "search:1"],
          breakerCalls: ["items.find:1", "search:1"],
          budgetStates: ["items.find:1", "search:1"]
        })
      }).pipe(Effect.provide(Fixed))
    }).pipe(Effect.provide(captureLogs([]))))

  const lines: Array<Line> = []
  it.effect("every outcome is an event and counted in the metrics, with the generation as a gauge", () =>
    Effect.gen(function*() {
      const reloader = yield* ConfigReload.ConfigReload
      const subscription = yield* reloader.subscribe
      assert.deepStrictEqual(yield* metricValues, [
        "resilience_config_generation=0",
        "resilience_config_reloads_total{applied}=0",
        "resilience_config_reloads_total{rejected}=0"
      ])
      yield* reloader.reload({ policies: { StorageError: { maxAttempts: 4 } } })
      yield* Effect.ignore(reloader.reload({ policies: { StorageError: { maxAttempts: -1 } } }))
      yield* reloader.reload({ defaultPolicy: { maxAttempts: 1 } })
      const events = yield* PubSub.takeAll(subscription)
      assert.deepStrictEqual(events.map((e) => [e._tag, e.generation]), [
        ["ReloadApplied", 1],
        ["ReloadRejected", 1],
        ["ReloadApplied", 2]
      ])
      const rejected = events[1]!
      assert.deepStrictEqual(
        rejected._tag === "ReloadRejected" ? rejected.issues.map((i) => i.path.join(".")) : [],
        ["policies.StorageError.maxAttempts"]
      )
      assert.deepStrictEqual(yield* metricValues, [
        "resilience_config_generation=2",
        "resilience_config_reloads_total{applied}=2",
        "resilience_config_reloads_total{rejected}=1"
      ])
      // and a log line each
      const logged = lines.filter((line) => line.annotations.module === "effect-resilience/reload")
      assert.deepStrictEqual(logged.map((line) => line.level), ["INFO", "WARN", "INFO"])
      assert.include(String(logged[1]!.message), "generation 1 stays in force")
      assert.include(String(logged[1]!.message), "policies.StorageError.maxAttempts")
    }).pipe(Effect.provide(Rules(base, lines))))

  it.effect("the metric series leave with the layer", () =>
    Effect.gen(function*() {
      const registry = new Map()
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(Rules(), scope).pipe(Effect.provideService(Metric.MetricRegistry, registry))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* metricValues.pipe(Effect.provideService(Metric.MetricRegistry, registry)), [])
    }))

  it.effect("a Config polled on a schedule: applied when it changes, refused when invalid, skipped when the same", () => {
    const env: Record<string, string> = { RULES: JSON.stringify({ policies: { StorageError: { maxAttempts: 4 } } }) }
    const Polled = ConfigReload.fromConfig(Config.String("RULES"), Schedule.spaced("10 seconds")).pipe(
      Layer.provideMerge(Rules()),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
    )
    return Effect.gen(function*() {
      const generation = Effect.map(ConfigReload.status, (s) => s.generation)
      assert.strictEqual(yield* generation, 1) // read as the layer is built
      assert.strictEqual(yield* attemptsOf(storage()), 4)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* generation, 1) // the same value: nothing reloaded
      env.RULES = "{ not json"
      yield* TestClock.adjust("10 seconds")
      const status = yield* ConfigReload.status
      assert.strictEqual(status.lastEvent?._tag, "ReloadRejected")
      assert.strictEqual(status.generation, 1)
      env.RULES = JSON.stringify({ policies: { StorageError: { maxAttempts: 2 } } })
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* generation, 2)
      assert.strictEqual(yield* attemptsOf(storage()), 2)
      delete env.RULES
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* ConfigReload.status).lastEvent?._tag, "ReloadRejected")
      assert.strictEqual(yield* attemptsOf(storage()), 2)
    }).pipe(Effect.provide(Polled))
  })
})

describe("ConfigReload.fromFile", () => {
  // real files, real time: each wait is bounded
  const waitFor = <A>(read: Effect.Effect<A, never, ConfigReload.ConfigReload>, done: (a: A) => boolean) =>
    Effect.gen(function*() {
      for (let i = 0; i < 200; i++) {
        const value = yield* read
        if (done(value)) return value
        yield* Effect.sleep("25 millis")
      }
      return yield* Effect.die("the reload never came (5 seconds)")
    })

  const withFile = <A, E>(
    body: (
      path: string,
      write: (rules: unknown) => Effect.Effect<void, unknown>
    ) => Effect.Effect<A, E, ConfigReload.ConfigReload | PolicyService.PolicyService | FileSystem.FileSystem | Scope.Scope>,
    name = "resilience.json",
    first: unknown = { policies: { StorageError: { maxAttempts: 4 } } }
  ) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped({ prefix: "reload-" })
      const path = `${directory}/${name}`
      let n = 0
      // as editors save: a new file renamed over the old one
      const write = (rules: unknown) =>
        Effect.gen(function*() {
          const temporary = `${directory}/.${name}.${n++}`
          yield* fs.writeFileString(temporary, typeof rules === "string" ? rules : JSON.stringify(rules))
          yield* fs.rename(temporary, path)
        })
      yield* write(first)
      const Watched = ConfigReload.fromFile(path, { debounce: "20 millis", rewatch: "100 millis" }).pipe(
        Layer.provideMerge(Rules())
      )
      return yield* body(path, write).pipe(Effect.provide(Watched))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))

  const storagePolicy = PolicyService.policyFor(storage())

  it.live("reads the file at start, then each change; an invalid one is refused and the watch goes on", () =>
    withFile((_path, write) =>
      Effect.gen(function*() {
        const status = ConfigReload.status
        assert.strictEqual((yield* status).generation, 1)
        const first = yield* storagePolicy
        yield* write({ policies: { StorageError: { maxAttempts: "many" } } })
        const refused = yield* waitFor(status, (s) => s.lastEvent?._tag === "ReloadRejected")
        assert.strictEqual(refused.generation, 1)
        assert.deepStrictEqual(
          refused.lastEvent?._tag === "ReloadRejected" ? refused.lastEvent.issues.map((i) => i.path.join(".")) : [],
          ["policies.StorageError.maxAttempts"]
        )
        assert.strictEqual(yield* storagePolicy, first) // unchanged
        yield* write("{ broken")
        const broken = yield* waitFor(
          status,
          (s) => s.lastEvent?._tag === "ReloadRejected" && s.lastEvent.issues[0]!.message.startsWith("Invalid JSON")
        )
        assert.strictEqual(broken.generation, 1)
        yield* write({ policies: { StorageError: { maxAttempts: 6 } } })
        const applied = yield* waitFor(status, (s) => s.generation === 2)
        assert.deepStrictEqual(applied.lastApplied?.source, { _tag: "File", path: _path })
        assert.deepStrictEqual(applied.lastApplied?.changes.policies.updated, ["StorageError"])
      })
    ))

  it.live("a file deleted then restored: refused while missing, applied when back", () =>
    withFile((path) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const status = ConfigReload.status
        yield* fs.remove(path)
        const missing = yield* waitFor(status, (s) => s.lastEvent?._tag === "ReloadRejected")
        assert.include(missing.lastEvent?._tag === "ReloadRejected" ? missing.lastEvent.issues[0]!.message : "", "Cannot read")
        assert.strictEqual(missing.generation, 1) // the rules in force stay
        yield* fs.writeFileString(path, JSON.stringify({ policies: { StorageError: { maxAttempts: 7 } } }))
        const back = yield* waitFor(status, (s) => s.generation === 2)
        assert.deepStrictEqual(back.rules.policies, { StorageError: { maxAttempts: 7 } })
      })
    ))

  it.live("a ConfigMap-style update (a symlink swapped in the directory, the file's name untouched) is read", () =>
    withFile((path) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const status = ConfigReload.status
        const directory = path.slice(0, path.lastIndexOf("/"))
        // as the kubelet mounts it: resilience.json -> ..data/resilience.json, ..data -> a dated directory
        yield* fs.makeDirectory(`${directory}/..v1`)
        yield* fs.writeFileString(`${directory}/..v1/resilience.json`, JSON.stringify({ policies: { StorageError: { maxAttempts: 4 } } }))
        yield* fs.symlink("..v1", `${directory}/..data`)
        yield* fs.remove(path)
        yield* fs.symlink("..data/resilience.json", path)
        yield* Effect.sleep("200 millis")
        const before = (yield* status).generation
        // the update: a new dated directory, and ..data swapped to it by a rename of a new symlink
        yield* fs.makeDirectory(`${directory}/..v2`)
        yield* fs.writeFileString(`${directory}/..v2/resilience.json`, JSON.stringify({ policies: { StorageError: { maxAttempts: 9 } } }))
        yield* fs.symlink("..v2", `${directory}/..data_tmp`)
        yield* fs.rename(`${directory}/..data_tmp`, `${directory}/..data`)
        const applied = yield* waitFor(status, (s) => s.generation > before)
        assert.deepStrictEqual(applied.rules.policies, { StorageError: { maxAttempts: 9 } })
      })
    ))

  it.live("a YAML file (by its extension): applied, and an invalid one or a duplicate key refused with its line", () =>
    withFile(
      (_path, write) =>
        Effect.gen(function*() {
          const status = ConfigReload.status
          assert.strictEqual((yield* status).generation, 1)
          assert.deepStrictEqual((yield* status).rules.policies, { StorageError: { maxAttempts: 5, baseDelay: "50 millis" } })
          assert.deepStrictEqual((yield* status).rules.bulkheads, { bulkheads: { search: { limit: 3, queue: 0 } } })
          assert.strictEqual(yield* attemptsOf(storage()).pipe(Effect.provide(TestClock.layer())), 5)
          yield* write("policies:\n  StorageError:\n    maxAttempts: [oops\n")
          const broken = yield* waitFor(status, (s) => s.lastEvent?._tag === "ReloadRejected")
          const brokenMessage = broken.lastEvent?._tag === "ReloadRejected" ? broken.lastEvent.issues[0]!.message : ""
          assert.match(brokenMessage, /^Invalid YAML: Flow sequence .* at line 4, column 1$/)
          yield* write("policies:\n  StorageError:\n    maxAttempts: 2\n    maxAttempts: 3\n")
          const duplicate = yield* waitFor(
            status,
            (s) => s.lastEvent?._tag === "ReloadRejected" && s.lastEvent.issues[0]!.message !== brokenMessage
          )
          assert.include(duplicate.lastEvent?._tag === "ReloadRejected" ? duplicate.lastEvent.issues[0]!.message : "", "unique")
          assert.strictEqual(duplicate.generation, 1)
          // a field named in YAML is named as in JSON
          yield* write("policies:\n  StorageError:\n    maxAttempts: many\n")
          const named = yield* waitFor(
            status,
            (s) => s.lastEvent?._tag === "ReloadRejected" && s.lastEvent.issues[0]!.path.length > 0
          )
          assert.deepStrictEqual(
            named.lastEvent?._tag === "ReloadRejected" ? named.lastEvent.issues.map((i) => i.path.join(".")) : [],
            ["policies.StorageError.maxAttempts"]
          )
          yield* write("policies:\n  StorageError: { maxAttempts: 2 }\n")
          const applied = yield* waitFor(status, (s) => s.generation === 2)
          assert.deepStrictEqual(applied.rules.policies, { StorageError: { maxAttempts: 2 } })
        }),
      "resilience.yaml",
      "# the rules\npolicies:\n  StorageError:\n    maxAttempts: 5\n    baseDelay: 50 millis\nbulkheads:\n  bulkheads:\n    search: { limit: 3, queue: 0 }\n"
    ))

  it.live("after another source changed the rules, the next save of the file applies it again", () =>
    withFile((path, write) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const status = ConfigReload.status
        assert.strictEqual((yield* status).generation, 1)
        // an operator's call overrides the file
        yield* ConfigReload.reload({ policies: { StorageError: { maxAttempts: 8 } } })
        assert.strictEqual((yield* status).generation, 2)
        // a write of another file in the directory says nothing about this one: the override stays
        yield* fs.writeFileString(`${path.slice(0, path.lastIndexOf("/"))}/app.log`, "x")
        yield* Effect.sleep("300 millis")
        assert.strictEqual((yield* status).generation, 2)
        // the file saved again with the content it already had: applied again, as the rules in force are not its
        yield* write({ policies: { StorageError: { maxAttempts: 4 } } })
        const back = yield* waitFor(status, (s) => s.generation === 3)
        assert.deepStrictEqual(back.lastApplied?.source, { _tag: "File", path })
        assert.deepStrictEqual(back.rules.policies, { StorageError: { maxAttempts: 4 } })
        // while the file's rules are in force, saving it unchanged reloads nothing
        yield* write({ policies: { StorageError: { maxAttempts: 4 } } })
        yield* Effect.sleep("300 millis")
        assert.strictEqual((yield* status).generation, 3)
      })
    ))

  it.effect("a YAML file's options and the file options are checked: unknown keys and bad durations named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(
          ConfigReload.fromFile("/nonexistent/rules.yaml", {
            format: "toml" as "yaml",
            debounce: "soon" as Duration.Input,
            rewatch: -1,
            ...({ interval: 1 } as {})
          }).pipe(Layer.provideMerge(Rules()), Layer.provide(NodeFileSystem.layer))
        )
      )
      assert.isTrue(ConfigError.isConfigError(error))
      const issues = ConfigError.isConfigError(error) ? error.issues : []
      assert.deepStrictEqual(issues.map((i) => i.path.join(".")).sort(), ["debounce", "format", "interval", "rewatch"])
      assert.include(error.message, "Expected a positive duration such as \"50 millis\", got \"soon\"")
    }).pipe(Effect.scoped))

  it.effect("a null section is refused by name, not read as empty", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ConfigReload.reload({ bulkheads: null, breakers: null }))
      assert.deepStrictEqual(error.issues.map((i) => i.path.join(".")), ["bulkheads", "breakers"])
      assert.strictEqual((yield* ConfigReload.status).generation, 0)
    }).pipe(Effect.provide(Rules())))

  it.live("rapid successive changes: the last valid one wins", () =>
    withFile((_path, write) =>
      Effect.gen(function*() {
        // valid and invalid candidates in a burst, some a few milliseconds apart, the last one valid
        for (let i = 1; i <= 12; i++) {
          yield* write({ policies: { StorageError: { maxAttempts: i % 3 === 0 ? -i : i } } })
          if (i % 4 === 0) yield* Effect.sleep("5 millis")
        }
        yield* write({ policies: { StorageError: { maxAttempts: 9 } } })
        const last = { StorageError: { maxAttempts: 9 } }
        const settled = yield* waitFor(
          ConfigReload.status,
          (s) => JSON.stringify(s.rules.policies) === JSON.stringify(last)
        )
        // nothing read earlier is applied after it
        yield* Effect.sleep("200 millis")
        const after = yield* ConfigReload.status
        assert.deepStrictEqual(after.rules.policies, last)
        assert.strictEqual(after.generation, settled.generation)
        assert.strictEqual(after.lastEvent, settled.lastApplied)
      })
    ))
})
