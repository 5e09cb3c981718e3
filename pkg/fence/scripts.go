package fence

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis. They never read Redis's clock: the
// caller's time comes in ARGV, so a script's effect depends only on its
// arguments and the key (and tests inject time). Values are
// "<tag>|<ms>|<detail>"; the in-flight tags are c (claimed) and n (sending),
// whose detail is the owner token.

// claimScript decides a Claim.
//
//	KEYS[1] the fence key
//	ARGV[1] now (unix ms)          ARGV[2] the new owner token
//	ARGV[3] the claimed value      ARGV[4] its TTL (ms)
//	ARGV[5] "hold" or "resend"     ARGV[6] the ambiguous value (hold)
//	ARGV[7] the retention TTL (ms)
//
// Returns {outcome, previous value}: outcome is won, reclaimed, busy, held
// or done.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return {'won', ''}
end
local tag = string.sub(v, 1, 1)
if tag ~= 'c' and tag ~= 'n' then
  return {'done', v}
end
local sep = string.find(v, '|', 3, true)
if not sep then
  return redis.error_reply('fence: unrecognised value in ' .. KEYS[1])
end
if string.sub(v, sep + 1) == ARGV[2] then
  -- this very claim, resent by the client after a lost reply
  return {'won', ''}
end
if tonumber(string.sub(v, 3, sep - 1)) > tonumber(ARGV[1]) then
  return {'busy', v}
end
if tag == 'c' then
  -- the holder never armed it, so it never wrote the request: take it
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return {'won', v}
end
if ARGV[5] == 'resend' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return {'reclaimed', v}
end
redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[7])
return {'held', v}
`)

// ownerScript makes a transition for the owner of an in-flight key.
//
//	KEYS[1] the fence key
//	ARGV[1] the owner token   ARGV[2] "set" or "del"
//	ARGV[3] the new value     ARGV[4] its TTL (ms)
//
// Returns 1 when done, 0 when the token does not own the key. Deleting an
// absent key succeeds (it is not held and was not sent); setting a terminal
// value the key already holds, time aside, succeeds too (the same mark
// resent after a lost reply).
var ownerScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[2] == 'del' then return 1 end
  return 0
end
local tag = string.sub(v, 1, 1)
local sep = string.find(v, '|', 3, true)
if not sep then
  return redis.error_reply('fence: unrecognised value in ' .. KEYS[1])
end
if tag == 'c' or tag == 'n' then
  if string.sub(v, sep + 1) ~= ARGV[1] then return 0 end
  if ARGV[2] == 'del' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  end
  return 1
end
if ARGV[2] == 'set' then
  local nv = ARGV[3]
  local nsep = string.find(nv, '|', 3, true)
  if string.sub(nv, 1, 1) == tag and nsep and string.sub(nv, nsep + 1) == string.sub(v, sep + 1) then
    return 1
  end
end
return 0
`)

// reopenScript deletes a failed or dead-lettered key. Returns 1 if it did.
var reopenScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local tag = string.sub(v, 1, 1)
  if tag == 'f' or tag == 'd' then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
`)
