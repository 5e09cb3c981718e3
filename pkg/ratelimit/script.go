package ratelimit

import "github.com/redis/go-redis/v9"

// reserveScript reserves n consecutive slots in one call. The key is a hash:
//
//	tat   theoretical arrival time: the next free slot (Redis clock, µs)
//	base  the rate set by the last decrease (/s)
//	at    when that decrease happened (Redis clock, µs; 0: never)
//
// Time is Redis's own clock (TIME), read when the script runs, never a time
// the caller took before the request: a caller's "now" is stale by however
// long its request took to run (a connection being dialled, a pool queue,
// a pause), and when the shared state was idle (tat behind) a stale now
// placed slots in the past, which the caller then took at once. At the
// start of a campaign every replica's first requests dial their
// connections together: the slots of that whole delay went out as one
// burst (111–138% in the first second, measured from outside). One clock
// for every replica also makes their skew irrelevant.
//
// ARGV:
//
//	1 n (slots)          2 ceiling (/s)          3 burst
//	4 max ahead (µs)     5 throttled ("1"/"0")    6 key TTL after tat (ms)
//	7 decrease factor    8 decrease every (µs)    9 floor fraction
//	10 min rate (/s)     11 recovery step         12 recovery period (µs)
//	13 pace (fraction of the rate the slots are spaced at)
//
// The n slots are tat, tat+1/rate, ...; the batch may go when its last slot
// is due (less the burst allowance), and it is reserved when its first slot
// is within max ahead, so a batch bigger than max ahead's worth of the rate
// still gets through (it waits longer).
//
// Returns {reserved, wait µs, rate, base, at, now}: when reserved (1), wait
// is how long after now (the script's time) the batch may go; when not (0),
// how long until asking again makes sense. Numbers that may have fractions
// come back as strings.
var reserveScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local ceil = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local ahead = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'tat', 'base', 'at')
local tat = tonumber(s[1]) or now
local base = tonumber(s[2]) or ceil
local at = tonumber(s[3]) or 0

local rate = ceil
if at ~= 0 then
  local steps = math.floor((now - at) / tonumber(ARGV[12]))
  if steps < 0 then steps = 0 end
  rate = math.min(ceil, base + ceil * tonumber(ARGV[11]) * steps)
end
if ARGV[5] == '1' and (at == 0 or now - at >= tonumber(ARGV[8])) then
  local floor = math.min(ceil, math.max(tonumber(ARGV[10]), ceil * tonumber(ARGV[9])))
  rate = math.max(floor, rate * tonumber(ARGV[7]))
  base = rate
  at = now
end

local interval = 1e6 / (rate * tonumber(ARGV[13]))
if tat < now then tat = now end
local first = tat - (burst - 1) * interval - now
local wait = first + (n - 1) * interval
if wait < 0 then wait = 0 end
local reserved = 0
if first <= ahead then
  reserved = 1
  tat = tat + n * interval
else
  wait = first - ahead
end

local function num(x) return string.format('%.17g', x) end
redis.call('HSET', KEYS[1], 'tat', num(tat), 'base', num(base), 'at', num(at))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]) + math.ceil((tat - now) / 1000))
return {reserved, math.ceil(wait), num(rate), num(base), num(at), num(now)}
`)
