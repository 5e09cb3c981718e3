package ratelimit

import "github.com/redis/go-redis/v9"

// reserveScript reserves one slot. The key is a hash:
//
//	tat   theoretical arrival time: the next free slot (unix µs)
//	base  the rate set by the last decrease (/s)
//	at    when that decrease happened (unix µs; 0: never)
//
// ARGV:
//
//	1 now (unix µs)      2 ceiling (/s)          3 burst
//	4 max ahead (µs)     5 throttled ("1"/"0")    6 key TTL (ms)
//	7 decrease factor    8 decrease every (µs)    9 floor fraction
//	10 min rate (/s)     11 recovery step         12 recovery period (µs)
//
// Returns {reserved, wait µs, rate, base, at}: when reserved (1), wait is
// how long until the slot; when not (0), how long until asking again makes
// sense. Numbers that may have fractions come back as strings.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
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

local interval = 1e6 / rate
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
local reserved = 0
if wait <= ahead then
  reserved = 1
  tat = tat + interval
else
  wait = wait - ahead
end

local function num(x) return string.format('%.17g', x) end
redis.call('HSET', KEYS[1], 'tat', num(tat), 'base', num(base), 'at', num(at))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {reserved, math.ceil(wait), num(rate), num(base), num(at)}
`)
