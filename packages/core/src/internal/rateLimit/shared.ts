// The shared decider: a rate limiter whose limit holds for a whole fleet, through the fleet's one Redis connection
// (`fleet.ts`). A replica leases permits of a key from Redis in small batches and decides from its lease, so a call
// meets Redis only when the lease is used up or has lapsed:
//
// - **Hot path.** While this replica holds unexpired leased permits for the key, `take` decides synchronously
//   (a map lookup and two comparisons): no Redis command, no effect, no allocation.
// - **A lease** is one script (`scripts.ts`): the limiter's algorithm on the key's state in Redis, on Redis time,
//   granting at least the permits asked for or nothing, and up to a lease of them. The lease asked for adapts to
//   the demand: twice what the previous lease of the key served, from 1 up to `share.lease` (default a twentieth
//   of the limit, clamped to [1, 100]); the calls waiting for it are added to what is asked for. A lease lasts at
//   most one window (a window algorithm: until the end of the window it counts in; a token bucket: one window).
//   Its unused permits, when it lapses or a new lease replaces it, are given back by the next lease of the key.
// - **One call in flight per key and replica.** Calls that find no lease while a lease is being taken wait for it
//   (no thundering herd on Redis), then decide from it; those it does not cover take the next one together.
// - **Refusals.** Redis answers how long until the permits would be there; the call is refused with that
//   (`-retryAfter`: the limiter waits and tries again within its `wait`; a shared limiter never reserves), and the
//   replica refuses the same key for that long without asking Redis again.
//
// **Exactness** (the price of batching). Leased permits are taken from the fleet's limit when they are leased, and
// the unused leased permits of a replica are unavailable to the others until its lease lapses (or it gives them
// back). So, per key: with a window algorithm the fleet admits at most `limit` per window, and under full demand at
// least `limit − replicas × (lease − 1)`; with a token bucket, over any span at most what one bucket would
// (`limit + rate × span`) plus the tokens the replicas' leases held when it began (at most a lease each).
//
// **Redis away.** Every Redis call is bounded by the store's `storeTimeout` through the fleet, and a failure or a
// timeout degrades the fleet (said once, by the fleet) exactly as for the breakers. While the fleet is degraded, or
// for the call that met the failure, the limiter decides alone from a local decider holding its share of the limit,
// `max(1, floor(limit / replicas))`, with `replicas` from `share.replicas`, else the replicas Redis last reported
// as seen in the last minute, else 1. A call never fails and never waits longer than the store timeout (per lease
// it waits on) because of Redis. When the fleet is shared again the leases held before are dropped (given back by
// the next lease) and the limiter leases from Redis again.
import { Effect, Fiber } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { Config } from "../../RateLimiter.js"
import type { Rules } from "./algorithms.js"
import { type Decider, localDecider } from "./limiter.js"
import * as Scripts from "./scripts.js"

/** What a shared limiter needs of its fleet (see `fleet.ts`). */
export interface Fleet {
  readonly replica: string
  readonly prefix: string
  /**
   * 0 while the fleet is degraded; otherwise a number that changes each time the fleet becomes shared again (a
   * lease taken in an earlier period is dropped).
   */
  readonly episode: () => number
  /**
   * Runs a Redis call under the store timeout: its answer, or undefined when Redis failed or did not answer in time
   * (the fleet is then degraded, and says so once), or when the fleet is degraded.
   */
  readonly call: <A>(f: (redis: Redis.Redis["Service"]) => Effect.Effect<A, unknown>) => Effect.Effect<A | undefined>
  /** Runs an effect in a fiber of the fleet's, for as long as the fleet lives. */
  readonly fork: <A>(effect: Effect.Effect<A>) => Fiber.Fiber<A>
}

/** The default lease: a twentieth of the limit, at least 1, at most 100. */
export const defaultLease = (limit: number): number => Math.min(100, Math.max(1, Math.floor(limit / 20)))

/** The share of the limit a replica takes while Redis is away. */
export const shareOf = (limit: number, replicas: number): number => Math.max(1, Math.floor(limit / Math.max(1, replicas)))

// a lease being taken: the permits of the call that started it (served first), and its outcome for that call
// (0: granted, < 0: refused for -outcome ms, undefined: Redis failed, decide locally)
interface Call {
  readonly fiber: Fiber.Fiber<void>
  readonly permits: number
  outcome: number | undefined
  abandoned: boolean
}

// one key of the limiter, on this replica (times on the callers' clock)
interface Entry {
  readonly state: string
  episode: number
  // the lease: permits left, until when, the window it counts in, and the permits it served
  left: number
  expiresAt: number
  window: number
  used: number
  // what the next lease asks for, at least (adapts to the demand)
  want: number
  // unused permits of an earlier lease, given back by the next one
  returned: number
  returnedWindow: number
  // a refusal: no Redis call for at least `refusedPermits` until then
  refusedUntil: number
  refusedPermits: number
  // what Redis said is left, and when the key is back to its full limit
  remaining: number
  resetAt: number
  inflight: Call | undefined
  // permits of the calls waiting for the lease in flight
  waiting: number
}

/** A shared decider for the limiter `name`. */
export const make = (fleet: Fleet, name: string, config: Config): Decider => {
  const { algorithm, limit, windowMillis } = config
  const share: { readonly replicas?: number | undefined; readonly lease?: number | undefined } =
    config.share._tag === "any" ? config.share : {}
  const maxLease = Math.min(limit, share.lease ?? defaultLease(limit))
  const keys = Scripts.limiterKeys(fleet.prefix, name)
  const entries = new Map<string, Entry>()
  // the replicas Redis reported last (0: none yet)
  let seenReplicas = 0

  // --- the local decider on this replica's share, while Redis is away (and for keys too long to store)
  let fallback: Decider | undefined
  let fallbackLimit = 0
  const local = (): Decider => {
    const limitShare = shareOf(limit, share.replicas ?? (seenReplicas > 0 ? seenReplicas : 1))
    if (fallback === undefined || fallbackLimit !== limitShare) {
      const rules: Rules = { algorithm, limit: limitShare, windowMillis }
      fallback = localDecider(rules, config.keys)
      fallbackLimit = limitShare
    }
    return fallback
  }

  // unused permits of the lease, to give back with the next lease of the key (a window's only while they still
  // count: one pending give-back per key, the latest window's)
  const release = (entry: Entry) => {
    if (entry.left > 0) {
      if (entry.returned > 0 && entry.returnedWindow !== entry.window) entry.returned = 0
      entry.returned += entry.left
      entry.returnedWindow = entry.window
    }
    entry.left = 0
    entry.expiresAt = 0
  }

  const entryOf = (key: string, now: number, episode: number): Entry | undefined => {
    let entry = entries.get(key)
    if (entry === undefined) {
      const state = Scripts.keyOf(keys, key)
      if (state === undefined) return undefined
      if (entries.size >= config.keys) sweep(now)
      entry = {
        state,
        episode,
        left: 0,
        expiresAt: 0,
        window: 0,
        used: 0,
        want: 1,
        returned: 0,
        returnedWindow: 0,
        refusedUntil: 0,
        refusedPermits: 0,
        remaining: limit,
        resetAt: 0,
        inflight: undefined,
        waiting: 0
      }
      entries.set(key, entry)
    } else if (entry.episode !== episode) {
      // the fleet was degraded meanwhile: a fresh lease (the old one's unused permits are given back)
      entry.episode = episode
      release(entry)
      entry.refusedUntil = 0
      entry.want = 1
    }
    return entry
  }

  // forgets the keys holding nothing (no lease, refusal or call in flight); if none does, the oldest tenth of those
  // without a call in flight (a key forgotten with a lease loses its unused permits until the lease lapses)
  const sweep = (now: number) => {
    for (const [key, entry] of entries) {
      if (entry.inflight === undefined && (entry.left === 0 || now >= entry.expiresAt) && now >= entry.refusedUntil) {
        entries.delete(key)
      }
    }
    // then the oldest down to nine tenths of the bound, so a sweep's cost is spread over the keys that fill it
    const keep = Math.floor(config.keys * 0.9)
    for (const [key, entry] of entries) {
      if (entries.size <= keep) break
      if (entry.inflight !== undefined) continue
      entries.delete(key)
    }
  }

  const onReply = (entry: Entry, call: Call, reply: Scripts.LeaseReply, started: number) => {
    // a reply of another shape (a foreign script under our name, a key of another type) is no answer: the call
    // decides locally
    if (!Array.isArray(reply) || reply.length < 7 || !reply.slice(0, 7).every((x) => Number.isFinite(Number(x)))) {
      return
    }
    const granted = Number(reply[0])
    const replicas = Number(reply[5])
    if (replicas > 0) seenReplicas = replicas
    entry.remaining = Number(reply[3])
    entry.resetAt = started + Number(reply[4])
    if (granted > 0) {
      // the caller that started the lease is served first (unless it gave up meanwhile)
      const served = call.abandoned ? 0 : call.permits
      // times from the start of the call: the lease is taken to have begun no later than the script ran
      entry.left = granted - served
      entry.used = served
      entry.window = Number(reply[6])
      entry.expiresAt = started + Number(reply[2])
      entry.refusedUntil = 0
      call.outcome = 0
    } else {
      const retryAfter = Math.max(1, Number(reply[1]))
      entry.refusedUntil = started + retryAfter
      entry.refusedPermits = call.permits
      call.outcome = -retryAfter
    }
  }

  // takes a lease in a fiber of the fleet's (a caller that gives up does not cancel it: the lease serves the
  // others), and decides the starting call from it
  const lease = (entry: Entry, key: string, permits: number, now: number): Effect.Effect<number> => {
    release(entry)
    const want = Math.min(limit, Math.max(permits, entry.want, permits + entry.waiting))
    // what the lease after this one asks for: twice what the previous one served
    entry.want = Math.min(maxLease, Math.max(1, 2 * entry.used))
    entry.used = 0
    const request: Scripts.LeaseRequest = {
      algorithm,
      limit,
      windowMillis,
      permits,
      want,
      returned: entry.returned,
      returnedWindow: entry.returnedWindow,
      replica: fleet.replica
    }
    entry.returned = 0
    const call: Call = { fiber: undefined!, permits, outcome: undefined, abandoned: false }
    const run = Effect.flatMap(
      fleet.call((redis) => redis.eval(Scripts.lease)(entry.state, keys.replicas, request)),
      (reply) =>
        Effect.sync(() => {
          if (reply !== undefined) onReply(entry, call, reply, now)
        })
    ).pipe(Effect.ensuring(Effect.sync(() => {
      if (entry.inflight === call) entry.inflight = undefined
    })))
    ;(call as { fiber: Fiber.Fiber<void> }).fiber = fleet.fork(run)
    if (call.fiber.pollUnsafe() === undefined) entry.inflight = call
    return Effect.onInterrupt(
      Fiber.await(call.fiber),
      () =>
        Effect.sync(() => {
          call.abandoned = true
        })
    ).pipe(Effect.flatMap(() => {
      if (call.outcome !== undefined) return Effect.succeed(call.outcome)
      // Redis failed or did not answer in time: this call decides locally (with no reservation: a decision
      // answered by an effect never reserves, see `Decider.reservation`)
      return Effect.clockWith((clock) => Effect.sync(() => fallbackTake(key, permits, clock.currentTimeMillisUnsafe(), 0)))
    }))
  }

  // waits for the lease in flight, then decides again from it
  // (the waiting count moves in and out in one protected step: a joiner interrupted at any point takes its
  // permits out of it)
  const join = (entry: Entry, call: Call, key: string, permits: number): Effect.Effect<number> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        entry.waiting += permits
        return Effect.ensuring(
          restore(Fiber.await(call.fiber)),
          Effect.sync(() => {
            entry.waiting -= permits
          })
        )
      })
    ).pipe(
      Effect.flatMap(() =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const decision = take(key, permits, clock.currentTimeMillisUnsafe(), 0)
            return typeof decision === "number" ? Effect.succeed(decision) : decision
          })
        )
      )
    )

  const fallbackTake = (key: string, permits: number, now: number, maxWait: number): number => {
    const decision = local().take(key, permits, now, maxWait)
    return typeof decision === "number" ? decision : -1
  }

  const take = (key: string, permits: number, now: number, maxWait: number): number | Effect.Effect<number> => {
    const episode = fleet.episode()
    if (episode === 0) return fallbackTake(key, permits, now, maxWait)
    const entry = entries.get(key)
    if (entry !== undefined && entry.episode === episode && entry.left >= permits && now < entry.expiresAt) {
      entry.left -= permits
      entry.used += permits
      return 0
    }
    if (permits > limit) return -windowMillis
    return slow(key, permits, now, maxWait, episode)
  }

  const slow = (key: string, permits: number, now: number, maxWait: number, episode: number) => {
    const entry = entryOf(key, now, episode)
    if (entry === undefined) return fallbackTake(key, permits, now, maxWait)
    if (entry.left > 0 && now >= entry.expiresAt) release(entry)
    if (now < entry.refusedUntil && permits >= entry.refusedPermits) return -(entry.refusedUntil - now)
    if (entry.inflight !== undefined) return join(entry, entry.inflight, key, permits)
    return lease(entry, key, permits, now)
  }

  return {
    take,
    // only the local decider reserves (a token bucket's wait): what is given back is its own
    giveBack: (key, permits, reservation) => fallback?.giveBack(key, permits, reservation),
    reservation: (key) => fallback?.reservation(key),
    remaining: (key, now) => {
      const episode = fleet.episode()
      const entry = episode === 0 ? undefined : entries.get(key)
      if (entry === undefined || entry.episode !== episode) {
        if (episode === 0 || Scripts.keyOf(keys, key) === undefined) return local().remaining(key, now)
        return { remaining: limit, resetAfterMillis: 0 }
      }
      const leased = now < entry.expiresAt ? entry.left : 0
      return {
        remaining: Math.min(limit, entry.remaining + leased),
        resetAfterMillis: Math.max(0, entry.resetAt - now)
      }
    },
    keys: () => (fleet.episode() === 0 ? (fallback?.keys() ?? 0) : entries.size),
    mode: () => (fleet.episode() === 0 ? "degraded" : "shared")
  }
}
