// The server-side half of the shared rate limiter: one Lua script that applies a limiter's algorithm to one key's
// state on Redis and grants a lease of permits, with every time taken from Redis `TIME` (the replicas' clocks never
// meet: a replica whose clock is off sees the same windows and the same refill as the others).
//
// The arithmetic is that of `algorithms.ts`, on Redis time, without reservations (a shared limiter never reserves:
// a refusal says how long until the permits would be there, and the limiter tries again then if its `wait` allows):
//
// - token bucket: `limit` tokens refilled continuously at `limit` per `window`; a lease lasts one window (a lease
//   that lasted only as long as the bucket takes to refill it would lapse before a replica taking a fraction of
//   the traffic could use it, and batching would stop below saturation);
// - fixed window: a lease counts in the calendar window it is granted in and lasts until that window's end;
// - sliding window: the two-window estimate; a lease counts in the current window (so the estimate at any later
//   time of the window, whose previous-window weight only falls, still includes it) and lasts until its end.
//
// Permits a replica leased and did not use are given back by its next lease of the same key (`returned`, with the
// window they were counted in): the token bucket takes them back (capped at `limit`), a window takes them off the
// count they were added to while that count still matters (the current window, or the previous one of a sliding
// window).
//
// Layout, per limiter (see `keyOf`): a hash per key (`v` value, `at` refill time or window start, `p` the previous
// window's count), and a sorted set of the replicas that leased from the limiter, scored by Redis time and trimmed
// to the last minute (its size is the share a replica takes while Redis is away). All of a limiter's keys are in
// the hash slot of its encoded name (braces), so one script touches one slot. Every key written gets a PEXPIRE: a
// key's state lives as long as it differs from a fresh one (a bucket until it is full again, a window until it no
// longer counts), the replica set one minute past the last lease.
import * as Redis from "effect/persistence/Redis"
import type { Algorithm } from "./algorithms.js"
import { encode, maxEncodedLength } from "../fleet/keys.js"

/** How long a replica counts as seen after its last lease: the replicas whose share of the limit each takes. */
export const seenMillis = 60_000

/** The keys of one limiter: the base of every key's state, and its replica set. */
export interface LimiterKeys {
  readonly base: string
  readonly replicas: string
}

/** The keys of the limiter `name` under `prefix` (the name percent-encoded, as breaker names are). */
export const limiterKeys = (prefix: string, name: string): LimiterKeys => {
  const base = `${prefix}limiter:{${encode(name)}}`
  return { base, replicas: `${base}:replicas` }
}

/**
 * The state key of `key` (percent-encoded, so no key can reach another's or the replica set), or undefined when
 * its encoding is longer than `maxEncodedLength` (such a key is decided locally, on the replica's share).
 */
export const keyOf = (keys: LimiterKeys, key: string): string | undefined => {
  const encoded = encode(key)
  return encoded.length > maxEncodedLength ? undefined : `${keys.base}:k:${encoded}`
}

const algorithmCode: Record<Algorithm, number> = { "token-bucket": 0, "fixed-window": 1, "sliding-window": 2 }

/** What a lease asks for. */
export interface LeaseRequest {
  readonly algorithm: Algorithm
  readonly limit: number
  readonly windowMillis: number
  /** The permits the call needs now: granted at least these, or nothing. */
  readonly permits: number
  /** The permits it would like (a lease): at least `permits`. */
  readonly want: number
  /** Unused permits of an earlier lease of this key given back, and the window start they were counted in. */
  readonly returned: number
  readonly returnedWindow: number
  readonly replica: string
}

/**
 * The answer: the permits granted (0: refused), the milliseconds until `permits` would be there when refused, how
 * long the lease lasts (ms from the Redis time of the answer), the permits left on Redis and the milliseconds until
 * the key is back to its full limit, the replicas seen in the last minute, the window start the lease counts in
 * (0 for a token bucket), and the Redis time of the answer (ms).
 */
export type LeaseReply = [
  granted: number,
  retryAfter: number,
  expiresIn: number,
  remaining: number,
  resetAfter: number,
  replicas: number,
  window: number,
  at: number
]

/** Takes a lease for one key of a limiter. */
export const lease = Redis.script(
  (state: string, replicas: string, request: LeaseRequest) => [
    state,
    replicas,
    algorithmCode[request.algorithm],
    request.limit,
    request.windowMillis,
    request.permits,
    request.want,
    request.returned,
    request.returnedWindow,
    request.replica,
    seenMillis
  ],
  {
    numberOfKeys: 2,
    lua: `
local key, seen = KEYS[1], KEYS[2]
local algorithm, limit, W = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local permits, want = tonumber(ARGV[4]), tonumber(ARGV[5])
local returned, returnedWindow = tonumber(ARGV[6]), tonumber(ARGV[7])
local replica, seenFor = ARGV[8], tonumber(ARGV[9])
local time = redis.call('TIME')
local t = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('ZADD', seen, t, replica)
redis.call('ZREMRANGEBYSCORE', seen, '-inf', t - seenFor)
redis.call('PEXPIRE', seen, seenFor)
local replicas = redis.call('ZCARD', seen)

local stored = redis.call('HMGET', key, 'v', 'at', 'p')
local v, at, p = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3] or '0')
local granted, retry, expires, remaining, reset, window = 0, 0, 0, 0, 0, 0

if algorithm == 0 then
  -- token bucket
  if v == nil then v, at = limit, t end
  if t > at then
    v = math.min(limit, v + (t - at) * limit / W)
    at = t
  end
  if returned > 0 then v = math.min(limit, v + returned) end
  if v >= permits then
    granted = math.max(permits, math.min(want, math.floor(v)))
    v = v - granted
    expires = W
  else
    retry = math.max(1, math.ceil((permits - v) * W / limit))
  end
  remaining = math.floor(math.max(0, v))
  reset = math.ceil((limit - v) * W / limit)
  redis.call('HSET', key, 'v', tostring(v), 'at', at)
  redis.call('PEXPIRE', key, math.max(1, reset))
else
  -- the windows: roll to the current one (a new window moves the count to the previous one)
  local start = t - (t % W)
  if v == nil then v, at, p = 0, start, 0 end
  if at ~= start then
    if start - at == W then p = v else p = 0 end
    v = 0
    at = start
  end
  if returned > 0 then
    if returnedWindow == start then
      v = math.max(0, v - returned)
    elseif returnedWindow == start - W then
      p = math.max(0, p - returned)
    end
  end
  window = start
  if algorithm == 1 then
    -- fixed window
    if v + permits <= limit then
      granted = math.max(permits, math.min(want, limit - v))
      v = v + granted
      expires = start + W - t
    else
      retry = math.max(1, start + W - t)
    end
    remaining = math.max(0, limit - v)
    if v == 0 then reset = 0 else reset = start + W - t end
    redis.call('HSET', key, 'v', v, 'at', at, 'p', 0)
    redis.call('PEXPIRE', key, math.max(1, start + W - t))
  else
    -- sliding window: the current count plus the previous one weighted by the part still inside the window
    local elapsed = t - at
    local used = v + p * (1 - elapsed / W)
    if used + permits <= limit + 1e-9 then
      local room = math.floor(limit - used + 1e-9)
      granted = math.max(permits, math.min(want, room))
      v = v + granted
      used = used + granted
      expires = start + W - t
    else
      -- how long until the estimate leaves room for permits (algorithms.ts: slidingWait)
      local wait
      local room = limit - permits - v
      if room >= 0 and p > 0 then
        wait = math.max(0, W * (1 - room / p) - elapsed)
      elseif v <= 0 then
        wait = W - elapsed
      else
        wait = W - elapsed + math.max(0, W * (1 - (limit - permits) / v))
      end
      retry = math.max(1, math.ceil(wait))
    end
    remaining = math.max(0, math.floor(limit - used + 1e-9))
    if used <= 0 then
      reset = 0
    elseif v > 0 then
      reset = start + 2 * W - t
    else
      reset = start + W - t
    end
    redis.call('HSET', key, 'v', v, 'at', at, 'p', p)
    redis.call('PEXPIRE', key, math.max(1, start + 2 * W - t))
  end
end

return { granted, retry, expires, remaining, reset, replicas, window, t }
`
  }
).withReturnType<LeaseReply>()
