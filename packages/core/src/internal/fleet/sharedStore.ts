// A breaker store shared between replicas through Redis, local first: every call decides from the local copy
// (a TxRef, exactly as the memory store), and Redis is touched only on transitions. A trip opens locally at once
// and is confirmed in the background; a probe claim waits for the fleet's lease (the one call per opening that
// waits on Redis, within the store timeout); the end of a probe period is settled with the fleet before it is
// applied, so a holder whose lease lapsed is fenced off. Changes other replicas make arrive as messages or on a
// resync and are adopted when newer than the fleet generation known.
//
// While Redis cannot be reached the fleet is degraded and this store is a plain local breaker (one probe per
// replica at most); an opening made then is re-asserted once Redis is back.
import type { Clock } from "effect"
import { Deferred, Effect, TxRef } from "effect"
import type * as CircuitBreaker from "../../CircuitBreaker.js"
import type { Observer } from "../observation.js"
import type { Committed, MakeStore } from "../breaker/store.js"
import { monotonicMillis } from "../breaker/store.js"
import * as State from "../breaker/state.js"
import type { Reply, Target } from "./scripts.js"
import * as Scripts from "./scripts.js"

/** What a shared store needs of the fleet it belongs to (see `fleet.ts`). */
export interface Fleet {
  readonly replica: string
  readonly leaseMillis: number
  /** Whether Redis is reachable (the fleet is not degraded). */
  readonly sharing: () => boolean
  /**
   * Runs a script under the store timeout: its reply, or undefined when Redis failed or did not answer in time (the
   * fleet is then degraded, and says so once).
   */
  readonly run: (script: (redis: RedisLike) => Effect.Effect<Reply, unknown>) => Effect.Effect<Reply | undefined>
  /** Runs an effect in the background, for as long as the fleet lives. */
  readonly fork: (effect: Effect.Effect<unknown>) => void
}

/** The part of effect's `Redis` service the scripts use. */
export interface RedisLike {
  readonly eval: typeof import("effect/persistence/Redis").Redis.Service["eval"]
}

/** A shared store as the fleet sees it: how it receives changes, and how it is resynced. */
export interface Member {
  readonly name: string
  /** A change another replica published. */
  readonly receive: (record: Record) => Effect.Effect<void>
  /** Reads the fleet's record and repairs this replica's state from it (or the fleet's from this replica's). */
  readonly sync: Effect.Effect<void>
  /** The fleet became unreachable: a probe lease another replica holds no longer holds this replica back. */
  readonly degraded: Effect.Effect<void>
}

/** The fleet's record of one breaker, from a script's reply or a message. */
export interface Record {
  readonly status: string
  readonly generation: number
  readonly remaining: number
  readonly openings: number
  readonly epoch: number
  readonly lastOpen: number
  readonly holder: string
  readonly leaseRemaining: number
  readonly by: string
  readonly reason: string
}

export const recordOf = (reply: Reply): Record => ({
  status: reply[1],
  generation: Number(reply[2]),
  remaining: Number(reply[3]),
  openings: Number(reply[4]),
  epoch: Number(reply[5]),
  lastOpen: Number(reply[6]),
  holder: reply[7],
  leaseRemaining: Number(reply[8]),
  by: reply[9],
  reason: reply[10]
})

const statuses: ReadonlySet<string> = new Set(["closed", "open", "half_open", "forced_open", "forced_closed", "disabled"])
const reasons: ReadonlySet<string> = new Set([
  "consecutive_failures",
  "failure_rate",
  "slow_call_rate",
  "open_elapsed",
  "probe_failed",
  "probes_succeeded",
  "isolated",
  "forced_closed",
  "disabled",
  "reset"
])

const manualReason = { forced_open: "isolated", forced_closed: "forced_closed", disabled: "disabled" } as const

/**
 * The store of the breaker `name` shared through `fleet`; `register` adds it to the fleet's members (messages and
 * resyncs), and `observer` receives its resync results.
 */
export const make = (options: {
  readonly fleet: Fleet
  readonly target: Target
  readonly name: string
  readonly config: CircuitBreaker.Config
  readonly fingerprintFreshMillis: number
  readonly observer: Observer
  readonly register: (member: Member) => void
}): MakeStore =>
(adopted) => {
  const { config, fleet, name, observer, target } = options
  const { replica } = fleet
  const share = config.share
  const quorum = share._tag === "quorum" ? share.quorum : 0
  const withinMillis = share._tag === "quorum" ? share.withinMillis : 0
  const ref = TxRef.makeUnsafe(State.initial)

  // the fleet's generation of this breaker as last known (-1: not read yet), and who holds its probe lease
  let fleetGeneration = -1
  let holder = ""
  // the local state is ahead of the fleet by an opening of this replica's: one being confirmed, one the quorum
  // has not reached yet, or one made while Redis was unreachable (re-asserted once it is back)
  let unshared = false
  // fleet commands of this store in flight: a resync does not undo a change they are making
  let pending = 0
  let claiming: Deferred.Deferred<void> | undefined
  let rulesMismatch: string | undefined
  // the reason of this replica's last trip, for its re-assertion
  let tripReason = "consecutive_failures"
  // the fleet generation of the probe lease this replica claimed (-1: none): a probe admitted under it settles
  // with the fleet; once the fleet moved on (the lease lapsed and another replica took it) its outcome is fenced
  let leaseGeneration = -1

  const nowOf = (clock: Clock.Clock): State.Now => ({
    mono: monotonicMillis(clock),
    wall: clock.currentTimeMillisUnsafe()
  })

  // a command on the local copy, as the memory store applies it
  const commitLocal = (command: State.Command, now: State.Now): Effect.Effect<Committed | undefined> =>
    Effect.tx(Effect.flatMap(TxRef.get(ref), (from) => {
      const change = State.apply(from, command, config, now)
      if (change === undefined) return Effect.succeed(undefined)
      const committed: Committed = { from, to: change.state, reason: change.reason, at: now.wall, origin: "local" }
      return Effect.as(TxRef.set(ref, change.state), committed)
    }))

  const tracked = <A>(effect: Effect.Effect<A>): Effect.Effect<A> =>
    Effect.suspend(() => {
      pending++
      return Effect.ensuring(effect, Effect.sync(() => pending--))
    })

  // --- adopting the fleet's record: a change of status is a transition of this breaker (published with the
  // origin), anything else (the open deadline, the lease) updates the local copy in place
  const adopt = (record: Record, origin: CircuitBreaker.Origin): Effect.Effect<void> =>
    Effect.clockWith((clock) =>
      Effect.suspend(() => {
        if (!statuses.has(record.status)) return Effect.void
        fleetGeneration = record.generation
        holder = record.holder
        const now = nowOf(clock)
        const status = record.status as CircuitBreaker.Status
        const ownLease = status === "half_open" && record.holder === replica
        return Effect.flatMap(
          Effect.tx(Effect.flatMap(TxRef.get(ref), (from) => {
            const fields = {
              openings: record.openings,
              epoch: record.epoch,
              lastOpenMillis: record.lastOpen,
              openUntil: status === "open" ? now.mono + record.remaining : from.openUntil
            }
            if (from.status !== status) {
              unshared = false
              const to: State.BreakerState = {
                ...from,
                ...fields,
                status,
                generation: from.generation + 1,
                since: now.wall,
                sinceMono: now.mono,
                // another replica's lease fills every slot here until it lapses
                probes: status === "half_open" && !ownLease && record.leaseRemaining > 0 ? config.halfOpenProbes : 0,
                probeSuccesses: 0
              }
              const reason = (reasons.has(record.reason) ? record.reason : "open_elapsed") as CircuitBreaker.Reason
              const committed: Committed = { from, to, reason, at: now.wall, origin }
              return Effect.as(TxRef.set(ref, to), committed as Committed | undefined)
            }
            // same status: the deadline (an opening of this replica's keeps the later one) and the lease; an
            // opening of this replica's the fleet now shares (a quorum reached) is no longer its own
            const openUntil = status === "open" && unshared
              ? Math.max(from.openUntil, fields.openUntil)
              : fields.openUntil
            if (status !== "closed") unshared = false
            const probes = status === "half_open" && !ownLease
              ? (record.leaseRemaining > 0 ? config.halfOpenProbes : 0)
              : from.probes
            if (
              from.openUntil === openUntil && from.probes === probes && from.openings === fields.openings &&
              from.epoch === fields.epoch && from.lastOpenMillis === fields.lastOpenMillis
            ) return Effect.succeed(undefined)
            return Effect.as(TxRef.set(ref, { ...from, ...fields, openUntil, probes }), undefined)
          })),
          (committed) =>
            Effect.sync(() => {
              if (committed !== undefined) adopted(committed)
              if (status === "half_open" && !ownLease && record.leaseRemaining > 0) {
                watchLease(record.generation, record.leaseRemaining)
              }
            })
        )
      })
    )

  // another replica's lease: once it lapses without news, the slots are free and the next call claims the lease
  const watchLease = (generation: number, millis: number) =>
    fleet.fork(Effect.andThen(
      Effect.sleep(millis + 5),
      Effect.tx(Effect.flatMap(TxRef.get(ref), (state) =>
        fleetGeneration === generation && holder !== replica && state.status === "half_open" && state.probes > 0
          ? TxRef.set(ref, { ...state, probes: 0 })
          : Effect.void))
    ))

  // keeps this replica's lease while its probe runs
  const renewLease = (generation: number) =>
    fleet.fork(Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(Math.max(1, Math.floor(fleet.leaseMillis / 3)))
        if (fleetGeneration !== generation || holder !== replica || ref.value.status !== "half_open") return
        const reply = yield* fleet.run((redis) => redis.eval(Scripts.renew)(target, generation, fleet.leaseMillis))
        if (reply === undefined) return
        if (reply[0] !== "ok") return yield* adopt(recordOf(reply), "remote")
      }
    }))

  const release = (generation: number) =>
    fleet.fork(tracked(Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.settle)(target, generation, "release", noOpening)),
      (reply) => {
        if (reply === undefined) return Effect.void
        holder = ""
        return reply[0] === "ok" ? Effect.sync(() => (fleetGeneration = Number(reply[2]))) : adopt(recordOf(reply), "remote")
      }
    )))

  // the trip's confirmation: the loser of a race adopts the winner's opening; a closed record at a generation this
  // replica had not seen yet is tried once more at it (this replica's failures are still evidence)
  const confirmTrip = (
    opening: State.Opening,
    reason: string,
    expected: number,
    retry: boolean
  ): Effect.Effect<void> =>
    Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.trip)(target, expected, opening, reason, quorum, withinMillis)),
      (reply): Effect.Effect<void> => {
        if (reply === undefined) return Effect.void
        const record = recordOf(reply)
        switch (reply[0]) {
          case "ok":
            return Effect.sync(() => {
              fleetGeneration = record.generation
              holder = ""
              unshared = false
            })
          case "voted":
            return Effect.sync(() => {
              fleetGeneration = record.generation
            })
          default:
            if (record.status === "closed" && retry && ref.value.status === "open") {
              return confirmTrip(opening, reason, record.generation, false)
            }
            return record.status === "closed" ? Effect.void : adopt(record, "remote")
        }
      }
    )

  // the end of a probe period of this replica's lease, settled with the fleet first: a fenced-off holder adopts
  // the fleet's record instead of applying its outcome
  const settleShared = (
    command: State.Command,
    outcome: "close" | "reopen",
    now: State.Now
  ): Effect.Effect<Committed | undefined> => {
    const opening = command._tag === "Open" ? command.opening : noOpening
    return tracked(Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.settle)(target, fleetGeneration, outcome, opening)),
      (reply) => {
        if (reply === undefined) return localWhileDegraded(command, now)
        const record = recordOf(reply)
        if (reply[0] !== "ok") return Effect.as(adopt(record, "remote"), undefined)
        fleetGeneration = record.generation
        holder = ""
        return commitLocal(command, now)
      }
    ))
  }

  // a command applied locally while the fleet cannot be reached; an opening is re-asserted later
  const localWhileDegraded = (command: State.Command, now: State.Now) =>
    Effect.map(commitLocal(command, now), (committed) => {
      if (committed?.to.status === "open" && command._tag === "Open") {
        unshared = true
        tripReason = command.reason
      }
      return committed
    })

  const claimShared = (command: State.Command, now: State.Now): Effect.Effect<Committed | undefined> => {
    if (claiming !== undefined) return Effect.as(Deferred.await(claiming), undefined)
    const done = Deferred.makeUnsafe<void>()
    claiming = done
    return tracked(Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.claim)(target, fleet.leaseMillis)),
      (reply): Effect.Effect<Committed | undefined> => {
        if (reply === undefined) return localWhileDegraded(command, now)
        const record = recordOf(reply)
        if (reply[0] !== "ok") return Effect.as(adopt(record, "remote"), undefined)
        fleetGeneration = record.generation
        holder = replica
        leaseGeneration = record.generation
        return Effect.map(commitLocal(command, now), (committed) => {
          // the local state moved on while the lease was claimed: give it back
          if (committed === undefined) release(record.generation)
          else renewLease(record.generation)
          return committed
        })
      }
    ).pipe(Effect.ensuring(Effect.suspend(() => {
      claiming = undefined
      return Deferred.succeed(done, undefined)
    }))))
  }

  const forceShared = (command: State.Command, status: string, reason: string, now: State.Now) =>
    tracked(Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.force)(target, status, reason)),
      (reply) => {
        if (reply !== undefined) {
          fleetGeneration = Number(reply[2])
          holder = ""
          unshared = false
        }
        return commitLocal(command, now)
      }
    ))

  const ownsLease = () => holder === replica && leaseGeneration >= 0 && fleetGeneration === leaseGeneration

  // a probe whose lease is no longer this replica's (it lapsed and another replica took the probe over, or the
  // fleet moved on while this replica could not reach it): its outcome is fenced off, and only its slot given back
  // (unless another replica's lease, once adopted, already accounts for every slot)
  const fenced = (generation: number, now: State.Now) =>
    holder !== "" && holder !== replica
      ? Effect.succeed(undefined)
      : Effect.as(commitLocal({ _tag: "SettleProbe", generation, succeeded: false }, now), undefined)

  const apply = (command: State.Command): Effect.Effect<Committed | undefined> =>
    Effect.clockWith((clock) =>
      Effect.suspend((): Effect.Effect<Committed | undefined> => {
        const now = nowOf(clock)
        const from = ref.value
        const preview = State.apply(from, command, config, now)
        if (preview === undefined) return Effect.succeed(undefined)
        if (!fleet.sharing()) return localWhileDegraded(command, now)
        switch (command._tag) {
          case "Open": {
            if (from.status === "closed") {
              // a trip: open here at once, confirm with the fleet in the background
              return Effect.map(commitLocal(command, now), (committed) => {
                if (committed !== undefined) {
                  unshared = true
                  tripReason = command.reason
                  fleet.fork(tracked(confirmTrip(command.opening, command.reason, fleetGeneration, true)))
                }
                return committed
              })
            }
            // a probe failed
            if (unshared) return commitLocal(command, now)
            return ownsLease() ? settleShared(command, "reopen", now) : fenced(command.generation, now)
          }
          case "SettleProbe": {
            if (unshared) {
              return Effect.map(commitLocal(command, now), (committed) => {
                if (committed?.to.status === "closed") unshared = false
                return committed
              })
            }
            if (!ownsLease()) return fenced(command.generation, now)
            if (preview.reason !== undefined) return settleShared(command, "close", now)
            return Effect.map(commitLocal(command, now), (committed) => {
              // a probe ended without an outcome and none is left running: any replica may probe
              if (committed !== undefined && committed.to.probes === 0 && committed.to.probeSuccesses === 0) {
                release(fleetGeneration)
              }
              return committed
            })
          }
          case "ClaimProbe":
            return unshared || (from.status === "half_open" && holder === replica)
              ? commitLocal(command, now)
              : claimShared(command, now)
          case "Force":
            return forceShared(command, command.status, manualReason[command.status], now)
          case "Reset":
            return forceShared(command, "closed", "reset", now)
        }
      })
    )

  // --- the fleet's side
  const sync = Effect.clockWith((clock) => Effect.suspend(() => {
    if (pending > 0) return Effect.void
    return Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.read)(target, config.fingerprint, options.fingerprintFreshMillis)),
      (reply): Effect.Effect<void> => {
        if (reply === undefined) {
          observer.emit({ _tag: "Synced", breaker: name, result: "failed" })
          return Effect.void
        }
        const mismatch = reply[0] === "" ? undefined : reply[0]
        const warn = mismatch !== undefined && mismatch !== rulesMismatch
          ? Effect.logWarning(
            `breaker ${JSON.stringify(name)}: replica ${JSON.stringify(mismatch)} has different rules for it`
          ).pipe(Effect.annotateLogs({ replica, fingerprint: config.fingerprint }))
          : Effect.void
        rulesMismatch = mismatch
        const record = recordOf(reply)
        const local = ref.value
        // the fleet lost this breaker (Redis restarted without its data, or evicted the key): a missing record
        const lost = record.generation === 0 && fleetGeneration > 0
        // a change adopted since this read was sent is newer than what it read
        if (record.generation < fleetGeneration && !lost) {
          observer.emit({ _tag: "Synced", breaker: name, result: "ok" })
          return warn
        }
        // this replica's opening, unknown to the fleet (made while Redis was unreachable, lost with Redis's data,
        // or a quorum vote still standing): asserted again with the time it has left
        const left = Math.ceil(local.openUntil - monotonicMillis(clock))
        if ((unshared || lost) && local.status === "open" && record.status === "closed" && left > 0) {
          observer.emit({ _tag: "Synced", breaker: name, result: "reasserted" })
          unshared = true
          return Effect.andThen(warn, tracked(confirmTrip(
            { epoch: local.epoch, openings: local.openings, millis: left },
            tripReason,
            record.generation,
            false
          )))
        }
        // an opening over (or a half-open period whose lease lapsed) does not undo a close this replica reached by
        // its own probe while Redis was unreachable: an opening wins only until its deadline
        const over = (record.status === "open" && record.remaining <= 0) ||
          (record.status === "half_open" && record.leaseRemaining <= 0)
        if (over && local.status === "closed") {
          observer.emit({ _tag: "Synced", breaker: name, result: "ok" })
          fleetGeneration = record.generation
          return warn
        }
        const behind = record.generation !== fleetGeneration || record.status !== local.status
        // this replica's own opening outlives a closed record (a quorum vote standing, or an opening over but
        // not probed yet): it is not undone by a resync
        if (!behind || (unshared && record.status === "closed")) {
          observer.emit({ _tag: "Synced", breaker: name, result: "ok" })
          if (!lost) fleetGeneration = Math.max(fleetGeneration, record.generation)
          return warn
        }
        observer.emit({ _tag: "Synced", breaker: name, result: fleetGeneration >= 0 ? "repaired" : "ok" })
        return Effect.andThen(warn, adopt(record, "sync"))
      }
    )
  }))

  const member: Member = {
    name,
    receive: (record) =>
      record.by === replica || record.generation <= fleetGeneration ? Effect.void : adopt(record, "remote"),
    sync,
    degraded: Effect.tx(Effect.flatMap(TxRef.get(ref), (state) =>
      state.status === "half_open" && holder !== replica && state.probes > 0
        ? TxRef.set(ref, { ...state, probes: 0 })
        : Effect.void))
  }
  options.register(member)

  return {
    current: () => ref.value,
    apply,
    shared: () => ({
      mode: fleet.sharing() ? "shared" : "degraded",
      generation: fleetGeneration,
      replica,
      ...(ref.value.status === "half_open" && holder !== "" ? { probeHolder: holder } : {}),
      ...(rulesMismatch !== undefined ? { rulesMismatch } : {})
    })
  }
}

const noOpening: State.Opening = { epoch: 0, openings: 0, millis: 0 }
