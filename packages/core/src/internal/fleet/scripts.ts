// The server-side half of the shared breaker: one Lua script per transition, each a compare-and-set on the
// breaker's fleet generation, with every time taken from Redis `TIME` (so the replicas' clocks never meet) and the
// change published on the fleet's channel inside the same script (so a change is never committed unannounced).
//
// Layout, per breaker (see `keys.ts`): a hash at KEYS[1] holding the record below, a sorted set of trip votes at
// KEYS[2] (quorum mode) and a hash of the replicas' rule fingerprints at KEYS[3].
//
// Every script answers with the record as it stands after it ran, as an array (see `Reply`), led by a verdict:
// "ok" (applied), "stale" (the record had moved on: the caller adopts it), "voted" (a quorum trip was counted but
// the quorum is not reached), "held" (a probe lease another replica holds), "lost" (a renewal of a lease no longer
// held).
import * as Redis from "effect/persistence/Redis"

const prelude = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function read(key)
  local v = redis.call('HMGET', key, 'status', 'gen', 'openUntil', 'openings', 'epoch', 'lastOpen', 'holder',
    'leaseUntil', 'since', 'by', 'reason')
  return {
    status = v[1] or 'closed', gen = tonumber(v[2] or '0'), openUntil = tonumber(v[3] or '0'),
    openings = tonumber(v[4] or '0'), epoch = tonumber(v[5] or '0'), lastOpen = tonumber(v[6] or '0'),
    holder = v[7] or '', leaseUntil = tonumber(v[8] or '0'), since = tonumber(v[9] or '0'), by = v[10] or '',
    reason = v[11] or ''
  }
end
local function remaining(r, t)
  if r.status == 'open' then return math.max(0, r.openUntil - t) end
  return 0
end
local function leaseLeft(r, t)
  if r.status == 'half_open' and r.holder ~= '' then return math.max(0, r.leaseUntil - t) end
  return 0
end
local function reply(verdict, r, t)
  return { verdict, r.status, r.gen, remaining(r, t), r.openings, r.epoch, r.lastOpen, r.holder, leaseLeft(r, t),
    r.by, r.reason, t }
end
-- writes the record and announces it: ARGV[1] is the channel, ARGV[2] the breaker's encoded name
-- a record lives a day past its last write or resync: breakers no replica knows any more leave Redis (and a
-- record made again starts from a generation at least the time, so nothing is reissued)
local ttl = 86400000
local function commit(key, r, t)
  redis.call('HSET', key, 'status', r.status, 'gen', r.gen, 'openUntil', r.openUntil, 'openings', r.openings,
    'epoch', r.epoch, 'lastOpen', r.lastOpen, 'holder', r.holder, 'leaseUntil', r.leaseUntil, 'since', r.since,
    'by', r.by, 'reason', r.reason)
  redis.call('PEXPIRE', key, ttl)
  redis.call('PUBLISH', ARGV[1], cjson.encode({ key = ARGV[2], gen = r.gen, status = r.status,
    remaining = remaining(r, t), openings = r.openings, epoch = r.epoch, lastOpen = r.lastOpen, holder = r.holder,
    leaseRemaining = leaseLeft(r, t), by = r.by, reason = r.reason, at = t }))
end
-- the next generation is at least the time in milliseconds, so a record Redis lost (a restart without
-- persistence, an eviction) never reissues a generation a replica still holds: fencing survives it
local function enter(r, status, t, replica, reason)
  r.status = status
  r.gen = math.max(r.gen + 1, t)
  r.since = t
  r.by = replica
  r.reason = reason
  r.holder = ''
  r.leaseUntil = 0
end
`

/**
 * The record a script answers with: verdict, status, fleet generation, remaining open time (ms), openings, epoch,
 * last open duration (ms), probe lease holder ("" for none), lease time left (ms), the replica that made the last
 * change, its reason, and the Redis time of the answer (ms).
 */
export type Reply = [
  verdict: string,
  status: string,
  generation: number,
  remaining: number,
  openings: number,
  epoch: number,
  lastOpen: number,
  holder: string,
  leaseRemaining: number,
  by: string,
  reason: string,
  at: number
]

/** What every script is called with: the keys of one breaker, the channel, and this replica. */
export interface Target {
  readonly keys: readonly [record: string, votes: string, rules: string]
  readonly channel: string
  readonly encoded: string
  readonly replica: string
}

const args = (target: Target, ...rest: ReadonlyArray<string | number>): ReadonlyArray<unknown> => [
  ...target.keys,
  target.channel,
  target.encoded,
  target.replica,
  ...rest
]

/**
 * Opens a closed breaker whose generation is `expected` (a trip), or one in a state nobody acts on any more (an
 * opening past its deadline, a half-open period whose lease lapsed). With a quorum (`quorum > 0`) the trip is first
 * a vote: the fleet opens once `quorum` distinct replicas voted within `withinMillis`; until then "voted".
 */
export const trip = Redis.script(
  (
    target: Target,
    expected: number,
    opening: { readonly millis: number; readonly epoch: number; readonly openings: number },
    reason: string,
    quorum: number,
    withinMillis: number
  ) => args(target, expected, opening.millis, opening.epoch, opening.openings, reason, quorum, withinMillis),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, votes = KEYS[1], KEYS[2]
local replica, expected, millis = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local quorum, within = tonumber(ARGV[9]), tonumber(ARGV[10])
local r, t = read(key), now()
-- trippable: closed at the generation the replica decided from, or a state nobody acts on any more (an opening
-- past its deadline, a half-open period whose lease lapsed)
local idle = (r.status == 'open' and t >= r.openUntil) or (r.status == 'half_open' and r.leaseUntil <= t)
if not idle and (r.status ~= 'closed' or r.gen ~= expected) then return reply('stale', r, t) end
if quorum > 0 then
  redis.call('ZADD', votes, t, replica)
  redis.call('ZREMRANGEBYSCORE', votes, '-inf', t - within)
  redis.call('PEXPIRE', votes, within)
  if redis.call('ZCARD', votes) < quorum then return reply('voted', r, t) end
  redis.call('DEL', votes)
end
enter(r, 'open', t, replica, ARGV[8])
r.openUntil = t + millis
r.openings = tonumber(ARGV[7])
r.epoch = tonumber(ARGV[6])
r.lastOpen = millis
commit(key, r, t)
return reply('ok', r, t)
`
  }
).withReturnType<Reply>()

/**
 * Closes a record whose opening is over and that no lease holds (an opening past its deadline, a half-open
 * period whose lease lapsed): a replica whose own probe found the dependency healthy while it could not reach
 * Redis. Otherwise "stale".
 */
export const recover = Redis.script(
  (target: Target) => args(target),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, replica = KEYS[1], ARGV[3]
local r, t = read(key), now()
if not ((r.status == 'open' and t >= r.openUntil) or (r.status == 'half_open' and r.leaseUntil <= t)) then
  return reply('stale', r, t)
end
enter(r, 'closed', t, replica, 'probes_succeeded')
commit(key, r, t)
return reply('ok', r, t)
`
  }
).withReturnType<Reply>()

/**
 * Claims the probe lease: an open breaker past its deadline (by Redis time) becomes half-open with this replica
 * probing, for `leaseMillis`; so does a half-open one whose lease lapsed (a new generation, which fences the
 * lapsed holder's outcome off). A lease this replica holds is extended. Otherwise "held" or "stale".
 */
export const claim = Redis.script(
  (target: Target, leaseMillis: number) => args(target, leaseMillis),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, replica, lease = KEYS[1], ARGV[3], tonumber(ARGV[4])
local r, t = read(key), now()
if r.status == 'open' and t >= r.openUntil then
  enter(r, 'half_open', t, replica, 'open_elapsed')
elseif r.status == 'half_open' and r.holder == replica and r.leaseUntil > t then
  r.leaseUntil = t + lease
  redis.call('HSET', key, 'leaseUntil', r.leaseUntil)
  return reply('ok', r, t)
elseif r.status == 'half_open' and r.leaseUntil <= t then
  enter(r, 'half_open', t, replica, 'open_elapsed')
elseif r.status == 'half_open' then
  return reply('held', r, t)
else
  return reply('stale', r, t)
end
r.holder = replica
r.leaseUntil = t + lease
commit(key, r, t)
return reply('ok', r, t)
`
  }
).withReturnType<Reply>()

/** Extends the lease of generation `generation` this replica holds; "lost" when it no longer does. */
export const renew = Redis.script(
  (target: Target, generation: number, leaseMillis: number) => args(target, generation, leaseMillis),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, replica, gen, lease = KEYS[1], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local r, t = read(key), now()
if r.status ~= 'half_open' or r.gen ~= gen or r.holder ~= replica or r.leaseUntil <= t then
  return reply('lost', r, t)
end
r.leaseUntil = t + lease
redis.call('HSET', key, 'leaseUntil', r.leaseUntil)
return reply('ok', r, t)
`
  }
).withReturnType<Reply>()

/**
 * Ends the half-open period of generation `generation` whose lease this replica holds: `close` (the probes
 * succeeded), `reopen` (a probe failed: open for `opening`), or `release` (the probe ended without an outcome: the
 * lease is given up, so any replica may probe). A holder fenced off (the generation moved on, or another replica
 * holds the lease) gets "stale" and the record.
 */
export const settle = Redis.script(
  (
    target: Target,
    generation: number,
    outcome: "close" | "reopen" | "release",
    opening: { readonly millis: number; readonly epoch: number; readonly openings: number }
  ) => args(target, generation, outcome, opening.millis, opening.epoch, opening.openings),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, replica, gen, outcome = KEYS[1], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local r, t = read(key), now()
if r.status ~= 'half_open' or r.gen ~= gen or r.holder ~= replica then return reply('stale', r, t) end
if outcome == 'close' then
  enter(r, 'closed', t, replica, 'probes_succeeded')
elseif outcome == 'reopen' then
  local millis = tonumber(ARGV[6])
  enter(r, 'open', t, replica, 'probe_failed')
  r.openUntil = t + millis
  r.lastOpen = millis
  r.epoch = tonumber(ARGV[7])
  r.openings = tonumber(ARGV[8])
else
  enter(r, 'half_open', t, replica, 'open_elapsed')
end
commit(key, r, t)
return reply('ok', r, t)
`
  }
).withReturnType<Reply>()

/**
 * Sets a manual state for the whole fleet, from whatever is stored: `forced_open`, `forced_closed`, `disabled`,
 * or `closed` for a reset (fresh openings). Always applies.
 */
export const force = Redis.script(
  (target: Target, status: string, reason: string) => args(target, status, reason),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, replica, status, reason = KEYS[1], ARGV[3], ARGV[4], ARGV[5]
local r, t = read(key), now()
enter(r, status, t, replica, reason)
if reason == 'reset' then
  r.openings = 0
  r.epoch = r.epoch + 1
  r.lastOpen = 0
end
redis.call('DEL', KEYS[2])
commit(key, r, t)
return reply('ok', r, t)
`
  }
).withReturnType<Reply>()

/**
 * Reads the record (a resync), and registers this replica's rule fingerprint: the answer's verdict is "" when
 * every replica seen within `freshMillis` has the same fingerprint, or the id of one that differs.
 */
export const read = Redis.script(
  (target: Target, fingerprint: string, freshMillis: number) => args(target, fingerprint, freshMillis),
  {
    numberOfKeys: 3,
    lua: prelude + `
local key, rules, replica, fingerprint, fresh = KEYS[1], KEYS[3], ARGV[3], ARGV[4], tonumber(ARGV[5])
local r, t = read(key), now()
redis.call('HSET', rules, replica, fingerprint .. '|' .. t)
redis.call('PEXPIRE', rules, ttl)
if redis.call('EXISTS', key) == 1 then redis.call('PEXPIRE', key, ttl) end
local entries = redis.call('HGETALL', rules)
local differs = ''
for i = 1, #entries, 2 do
  local other, value = entries[i], entries[i + 1]
  local sep = string.find(value, '|', 1, true)
  local seen = tonumber(string.sub(value, sep + 1))
  if seen < t - fresh then
    redis.call('HDEL', rules, other)
  elseif differs == '' and other ~= replica and string.sub(value, 1, sep - 1) ~= fingerprint then
    differs = other
  end
end
return reply(differs, r, t)
`
  }
).withReturnType<Reply>()
