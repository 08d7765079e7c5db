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
import * as CircuitBreaker from "../../CircuitBreaker.js"
import type { Observer } from "../observation.js"
import type { Committed, MakeStore } from "../breaker/store.js"
import { commit, monotonicMillis } from "../breaker/store.js"
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

const statuses: ReadonlySet<string> = new Set(CircuitBreaker.Status.literals)
const reasons: ReadonlySet<string> = new Set(CircuitBreaker.Reason.literals)

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
  // until when (monotonic) another replica's lease is known to hold: meanwhile it fills every probe slot here
  let foreignUntil = 0
  // the fleet generation of the probe lease this replica claimed (-1: none): a probe admitted under it settles
  // with the fleet; once the fleet moved on (the lease lapsed and another replica took it) its outcome is fenced
  let leaseGeneration = -1
  // this replica's own probes running in the half-open state of local generation `ownFor`
  let ownFor = -1
  let own = 0
  // how the local state is ahead of the fleet: an opening being confirmed, a quorum vote the fleet has not acted
  // on, or changes made while Redis was unreachable (the last of them, asserted once it is back)
  let ahead: "none" | "confirming" | "vote" | "degraded" = "none"
  let whileDegraded: "open" | "close" | { readonly status: string; readonly reason: string } | undefined
  // fleet commands of this store in flight: a resync does not undo a change they are making
  let pending = 0
  let claiming: Deferred.Deferred<void> | undefined
  let rulesMismatch: string | undefined
  // the reason of this replica's last trip, for its re-assertion
  let tripReason = "consecutive_failures"

  const nowOf = (clock: Clock.Clock): State.Now => ({
    mono: monotonicMillis(clock),
    wall: clock.currentTimeMillisUnsafe()
  })

  const foreignLive = (mono: number) => holder !== "" && holder !== replica && mono < foreignUntil
  const ownProbes = (generation: number) => ownFor === generation ? own : 0
  // the probe slots taken here: every one while another replica's lease holds, else this replica's own probes
  const slotsTaken = (generation: number, mono: number) => foreignLive(mono) ? config.halfOpenProbes : ownProbes(generation)

  // a command on the local copy, as the memory store applies it; this replica's own probes are counted
  const commitLocal = (command: State.Command, now: State.Now): Effect.Effect<Committed | undefined> =>
    Effect.map(
      commit(ref, command, config, now, replica),
      (committed) => {
        if (committed === undefined) return committed
        if (command._tag === "ClaimProbe") {
          if (ownFor !== committed.to.generation) {
            ownFor = committed.to.generation
            own = 0
          }
          own++
        } else if ((command._tag === "SettleProbe" || command._tag === "Open") && ownFor === committed.from.generation) {
          own = Math.max(0, own - 1)
        }
        return committed
      }
    )

  const tracked = <A>(effect: Effect.Effect<A>): Effect.Effect<A> =>
    Effect.suspend(() => {
      pending++
      return Effect.ensuring(effect, Effect.sync(() => pending--))
    })

  // --- adopting the fleet's record: a change of status is a transition of this breaker (published with the
  // origin), anything else (the open deadline, the lease) updates the local copy in place. A record older than
  // the one known is not adopted (a reply overtaken by a message), but for a missing one (Redis lost it).
  const adopt = (record: Record, origin: CircuitBreaker.Origin): Effect.Effect<void> =>
    // from the commit to its publication in one region: a generation committed and never published would hold
    // every later transition back (they are published in generation order)
    Effect.uninterruptible(Effect.clockWith((clock) =>
      Effect.suspend(() => {
        if (!statuses.has(record.status)) return Effect.void
        if (record.generation < fleetGeneration && record.generation !== 0) return Effect.void
        fleetGeneration = record.generation
        holder = record.holder
        const now = nowOf(clock)
        const status = record.status as CircuitBreaker.Status
        const foreign = status === "half_open" && record.holder !== "" && record.holder !== replica &&
          record.leaseRemaining > 0
        foreignUntil = foreign ? now.mono + record.leaseRemaining : 0
        if (status !== "half_open" || record.holder !== replica) leaseGeneration = -1
        if (status !== "closed") {
          ahead = "none"
          whileDegraded = undefined
        }
        return Effect.flatMap(
          Effect.tx(Effect.flatMap(TxRef.get(ref), (from) => {
            const fields = {
              openings: record.openings,
              epoch: record.epoch,
              lastOpenMillis: record.lastOpen,
              openUntil: status === "open" ? now.mono + record.remaining : from.openUntil
            }
            if (from.status !== status) {
              const to: State.BreakerState = {
                ...from,
                ...fields,
                status,
                generation: from.generation + 1,
                since: now.wall,
                sinceMono: now.mono,
                probes: foreign ? config.halfOpenProbes : 0,
                probeSuccesses: 0
              }
              const reason = (reasons.has(record.reason)
                ? record.reason
                : status === "closed"
                ? "reset"
                : "open_elapsed") as CircuitBreaker.Reason
              const committed: Committed = { from, to, reason, at: now.wall, origin, ...(record.by !== "" ? { by: record.by } : {}) }
              return Effect.as(TxRef.set(ref, to), committed as Committed | undefined)
            }
            // same status: the deadline and the lease
            const probes = status === "half_open" ? slotsTaken(from.generation, now.mono) : from.probes
            if (
              from.openUntil === fields.openUntil && from.probes === probes && from.openings === fields.openings &&
              from.epoch === fields.epoch && from.lastOpenMillis === fields.lastOpenMillis
            ) return Effect.succeed(undefined)
            return Effect.as(TxRef.set(ref, { ...from, ...fields, probes }), undefined)
          })),
          (committed) =>
            Effect.sync(() => {
              if (committed !== undefined) {
                ahead = "none"
                whileDegraded = undefined
                adopted(committed)
              }
              if (foreign) watchLease(record.generation, record.leaseRemaining)
            })
        )
      })
    ))

  // the slots another replica's lease filled are this replica's own again (its lease lapsed, or Redis is gone)
  const freeForeignSlots = Effect.clockWith((clock) =>
    Effect.tx(Effect.flatMap(TxRef.get(ref), (state) => {
      if (state.status !== "half_open") return Effect.void
      const probes = slotsTaken(state.generation, monotonicMillis(clock))
      return state.probes === probes ? Effect.void : TxRef.set(ref, { ...state, probes })
    }))
  )

  // another replica's lease: once it lapses without news, the slots are free and the next call claims the lease
  const watchLease = (generation: number, millis: number) =>
    fleet.fork(Effect.andThen(
      Effect.sleep(millis + 5),
      Effect.suspend(() => fleetGeneration === generation ? freeForeignSlots : Effect.void)
    ))

  // keeps this replica's lease while its probe runs (a renewal that fails is tried again at the next third)
  const renewLease = (generation: number) =>
    fleet.fork(Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(Math.max(1, Math.floor(fleet.leaseMillis / 3)))
        const state = ref.value
        if (
          leaseGeneration !== generation || fleetGeneration !== generation || state.status !== "half_open" ||
          ownProbes(state.generation) === 0
        ) {
          return
        }
        const reply = yield* fleet.run((redis) => redis.eval(Scripts.renew)(target, generation, fleet.leaseMillis))
        if (reply !== undefined && reply[0] !== "ok") return yield* adopt(recordOf(reply), "remote")
      }
    }))

  // the fleet's side of a change this replica committed: in the background, one script; a fenced-off change
  // adopts the fleet's record, a failure leaves the change to be asserted once Redis is back
  const settleInBackground = (
    generation: number,
    outcome: "close" | "reopen" | "release",
    opening: State.Opening
  ) =>
    fleet.fork(tracked(Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.settle)(target, generation, outcome, opening)),
      (reply) => {
        if (reply === undefined) {
          if (outcome !== "release") {
            ahead = "degraded"
            whileDegraded = outcome === "close" ? "close" : "open"
          }
          return Effect.void
        }
        if (reply[0] === "ok") {
          return Effect.sync(() => {
            fleetGeneration = Math.max(fleetGeneration, Number(reply[2]))
          })
        }
        return adopt(recordOf(reply), "remote")
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
        if (reply === undefined) {
          ahead = "degraded"
          whileDegraded = "open"
          return Effect.void
        }
        const record = recordOf(reply)
        switch (reply[0]) {
          case "ok":
            // the fleet's opening is this one: its deadline (by Redis's clock, from when the script ran) is taken
            // over, so this replica's claim of the probe does not come before the fleet's deadline
            return Effect.andThen(
              Effect.sync(() => {
                fleetGeneration = record.generation
                holder = ""
                ahead = "none"
              }),
              adopt(record, "remote")
            )
          case "voted":
            return Effect.sync(() => {
              fleetGeneration = Math.max(fleetGeneration, record.generation)
              ahead = "vote"
            })
          default:
            if (record.status === "closed" && retry && ref.value.status === "open") {
              return confirmTrip(opening, reason, record.generation, false)
            }
            if (record.status === "closed") {
              ahead = "none"
              return Effect.void
            }
            return adopt(record, "remote")
        }
      }
    )

  // the end of the half-open period of this replica's lease, settled with the fleet before it is applied here (the
  // probe call waits for it, within the store timeout): a holder fenced off meanwhile (its lease lapsed and
  // another replica took the probe) adopts the fleet's record instead, so its late outcome changes nothing anywhere
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
        leaseGeneration = -1
        const record = recordOf(reply)
        if (reply[0] !== "ok") return Effect.as(Effect.andThen(fenced(slotOf(command)), adopt(record, "remote")), undefined)
        fleetGeneration = record.generation
        holder = ""
        return commitLocal(command, now)
      }
    ))
  }

  // closes the fleet's record when its opening is over and no lease holds it (this replica's own probe closed it)
  const recover = Effect.flatMap(
    fleet.run((redis) => redis.eval(Scripts.recover)(target)),
    (reply) => {
      if (reply === undefined) return Effect.void
      if (reply[0] === "ok") {
        return Effect.sync(() => {
          fleetGeneration = Math.max(fleetGeneration, Number(reply[2]))
          holder = ""
        })
      }
      return adopt(recordOf(reply), "remote")
    }
  )

  // a command applied locally while the fleet cannot be reached: the last change it makes is asserted later
  const localWhileDegraded = (command: State.Command, now: State.Now) =>
    Effect.map(commitLocal(command, now), (committed) => {
      if (committed === undefined) return committed
      if (command._tag === "Open") {
        tripReason = command.reason
        whileDegraded = "open"
      } else if (command._tag === "SettleProbe" && committed.to.status === "closed") {
        whileDegraded = "close"
      } else if (command._tag === "Force") {
        whileDegraded = { status: command.status, reason: manualReason[command.status] }
      } else if (command._tag === "Reset") {
        whileDegraded = { status: "closed", reason: "reset" }
      } else {
        return committed
      }
      ahead = "degraded"
      return committed
    })

  // the probe lease, claimed once for every call of this replica that wants it (they wait for the one claim,
  // which is bounded by the store timeout, and are then admitted afresh)
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
        foreignUntil = 0
        leaseGeneration = record.generation
        return Effect.map(commitLocal(command, now), (committed) => {
          // the local state moved on while the lease was claimed: give it back
          if (committed === undefined) {
            leaseGeneration = -1
            settleInBackground(record.generation, "release", noOpening)
          } else {
            renewLease(record.generation)
          }
          return committed
        })
      }
    ).pipe(Effect.ensuring(Effect.suspend(() => {
      claiming = undefined
      return Deferred.succeed(done, undefined)
    }))))
  }

  // a manual state, for the whole fleet: set in Redis first (within the store timeout), then here
  const forceShared = (command: State.Command, status: string, reason: string, now: State.Now) =>
    tracked(Effect.flatMap(
      fleet.run((redis) => redis.eval(Scripts.force)(target, status, reason)),
      (reply) => {
        if (reply === undefined) return localWhileDegraded(command, now)
        fleetGeneration = Math.max(fleetGeneration, Number(reply[2]))
        holder = ""
        foreignUntil = 0
        leaseGeneration = -1
        ahead = "none"
        return commitLocal(command, now)
      }
    ))

  const ownsLease = () => holder === replica && leaseGeneration >= 0 && fleetGeneration === leaseGeneration

  // a probe whose lease is no longer this replica's (it lapsed and another replica took the probe over, or it was
  // admitted while Redis was unreachable and the fleet moved on): its outcome is fenced off, its slot given back
  const fenced = (generation: number) =>
    Effect.clockWith((clock) =>
      Effect.tx(Effect.flatMap(TxRef.get(ref), (state) => {
        if (state.generation !== generation || state.status !== "half_open") return Effect.succeed(undefined)
        if (ownFor === generation) own = Math.max(0, own - 1)
        const probes = slotsTaken(generation, monotonicMillis(clock))
        return Effect.as(state.probes === probes ? Effect.void : TxRef.set(ref, { ...state, probes }), undefined)
      }))
    )

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
                  ahead = "confirming"
                  tripReason = command.reason
                  fleet.fork(tracked(confirmTrip(command.opening, command.reason, fleetGeneration, true)))
                }
                return committed
              })
            }
            // a probe failed: re-opened here at once, and for the fleet in the background
            if (ahead === "degraded") return localWhileDegraded(command, now)
            if (ahead === "vote") {
              // the fleet is still closed: the failed probe of this replica's own opening is a new vote
              return Effect.map(commitLocal(command, now), (committed) => {
                if (committed !== undefined) {
                  fleet.fork(tracked(confirmTrip(command.opening, tripReason, fleetGeneration, true)))
                }
                return committed
              })
            }
            if (ahead !== "none") return commitLocal(command, now)
            return ownsLease() ? settleShared(command, "reopen", now) : fenced(command.generation)
          }
          case "SettleProbe": {
            if (ahead === "degraded") return localWhileDegraded(command, now)
            if (ahead !== "none") {
              // the probe of this replica's own opening (a quorum vote the fleet did not act on)
              return Effect.map(commitLocal(command, now), (committed) => {
                if (committed?.to.status === "closed") ahead = "none"
                return committed
              })
            }
            if (!ownsLease()) return fenced(command.generation)
            // the probes succeeded: settled with the fleet first
            if (preview.reason !== undefined) return settleShared(command, "close", now)
            return Effect.map(commitLocal(command, now), (committed) => {
              if (committed === undefined) return committed
              if (ownProbes(committed.to.generation) === 0) {
                // no probe of this replica's is left running (the period not closed yet): the lease is given back,
                // so the fleet is not held half-open by a replica that gets no more calls; any replica may probe
                leaseGeneration = -1
                holder = ""
                settleInBackground(fleetGeneration, "release", noOpening)
              }
              return committed
            })
          }
          case "ClaimProbe":
            return ahead !== "none" || (from.status === "half_open" && ownsLease())
              ? commitLocal(command, now)
              : claimShared(command, now)
          case "Force":
            return forceShared(command, command.status, manualReason[command.status], now)
          case "Reset":
            return forceShared(command, "closed", "reset", now)
        }
      })
    )

  // --- the fleet's side: a resync repairs what the messages missed, and asserts what this replica did while
  // Redis was unreachable
  const reassert = (record: Record, local: State.BreakerState, left: number): Effect.Effect<void> | undefined => {
    const change = whileDegraded
    if (change === undefined) return undefined
    const holding = record.status === "half_open" && record.holder === replica && record.generation === fleetGeneration
    // a record nobody acts on any more: an opening past its deadline, a half-open period whose lease lapsed
    const idle = (record.status === "open" && record.remaining <= 0) ||
      (record.status === "half_open" && record.leaseRemaining <= 0)
    if (typeof change === "object") {
      // a manual state set meanwhile: set for the fleet
      return Effect.flatMap(
        fleet.run((redis) => redis.eval(Scripts.force)(target, change.status, change.reason)),
        (reply) =>
          Effect.sync(() => {
            if (reply === undefined) return
            fleetGeneration = Math.max(fleetGeneration, Number(reply[2]))
            holder = ""
            ahead = "none"
            whileDegraded = undefined
          })
      )
    }
    if (change === "open" && local.status === "open" && left > 0) {
      const opening = { epoch: local.epoch, openings: local.openings, millis: left }
      if (record.status === "closed" || idle) return confirmTrip(opening, tripReason, record.generation, false)
      if (holding) {
        // this replica's probe failed meanwhile: the half-open period it held ends in that opening
        return Effect.asVoid(Effect.sync(() => settleInBackground(record.generation, "reopen", opening)))
      }
    }
    if (change === "close" && local.status === "closed" && holding) {
      // this replica's probe succeeded meanwhile: the half-open period it held ends closed
      return Effect.asVoid(Effect.sync(() => settleInBackground(record.generation, "close", noOpening)))
    }
    if (change === "close" && local.status === "closed" && idle) {
      // ... and nobody probes the fleet's opening, which is over: closed for the fleet
      return recover
    }
    return undefined
  }

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
        const result = (result: "ok" | "repaired" | "reasserted", then: Effect.Effect<void> = Effect.void) => {
          observer.emit({ _tag: "Synced", breaker: name, result })
          return Effect.andThen(warn, then)
        }
        // the fleet lost this breaker (Redis restarted without its data, or evicted the key): a missing record
        const lost = record.generation === 0 && fleetGeneration > 0
        // a change adopted since this read was sent is newer than what it read
        if (record.generation < fleetGeneration && !lost) return result("ok")
        const left = Math.ceil(local.openUntil - monotonicMillis(clock))
        if (lost && whileDegraded === undefined) {
          if (local.status === "open" && left > 0) whileDegraded = "open"
          else if (local.status === "forced_open" || local.status === "forced_closed" || local.status === "disabled") {
            whileDegraded = { status: local.status, reason: manualReason[local.status] }
          }
        }
        if (ahead === "degraded" || lost) {
          const asserted = reassert(record, local, left)
          whileDegraded = undefined
          if (ahead === "degraded") ahead = "none"
          if (asserted !== undefined) return result("reasserted", tracked(asserted))
        }
        // a half-open period whose lease lapsed: the slots another replica's lease filled are free again
        if (record.status === "half_open" && record.leaseRemaining <= 0 && local.status === "half_open") {
          foreignUntil = 0
        }
        // an opening over (or a half-open period whose lease lapsed) does not undo a close this replica reached by
        // its own probe: an opening wins only until its deadline
        const over = (record.status === "open" && record.remaining <= 0) ||
          (record.status === "half_open" && record.leaseRemaining <= 0)
        if (over && local.status === "closed") {
          fleetGeneration = record.generation
          return result("ok")
        }
        const behind = record.generation !== fleetGeneration || record.status !== local.status
        // this replica's own opening outlives a closed record (a quorum vote standing, or one being confirmed)
        if (!behind || (ahead !== "none" && record.status === "closed")) {
          if (!lost) fleetGeneration = Math.max(fleetGeneration, record.generation)
          return result("ok", local.status === "half_open" ? freeForeignSlots : Effect.void)
        }
        return result(fleetGeneration >= 0 ? "repaired" : "ok", adopt(record, "sync"))
      }
    )
  }))

  const member: Member = {
    name,
    receive: (record) =>
      record.by === replica || record.generation <= fleetGeneration ? Effect.void : adopt(record, "remote"),
    sync,
    degraded: Effect.suspend(() => {
      foreignUntil = 0
      return freeForeignSlots
    })
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

// the local generation of the half-open state a probe's settling command names
const slotOf = (command: State.Command): number =>
  command._tag === "Open" || command._tag === "SettleProbe" ? command.generation : -1

const noOpening: State.Opening = { epoch: 0, openings: 0, millis: 0 }
