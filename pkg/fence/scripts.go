package fence

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis. Values are "<tag>|<ms>|<detail>".
// The in-flight tags are c (claimed) and n (sending), whose time is the
// lease deadline and whose detail is the owner token; C and N are the same
// for the one resend that --on-ambiguous resend allows. r is "released after
// an ambiguous outcome: one resend allowed". The other tags are terminal.
//
// Time: ARGV "now" is unix ms, or -1 to read Redis's own clock (TIME). The
// Fence passes -1 unless a test injects a clock, so that every lease of
// every sender is measured on one clock: a sender whose clock steps cannot
// cut another's lease short or stretch its own.
const nowLua = `
local function now_ms(arg)
  local n = tonumber(arg)
  if n >= 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function inflight(tag)
  return tag == 'c' or tag == 'n' or tag == 'C' or tag == 'N'
end
`

// claimScript decides a Claim.
//
//	KEYS[1] the fence key
//	ARGV[1] now (unix ms, -1: Redis TIME)   ARGV[2] the new owner token
//	ARGV[3] the lease (ms)                  ARGV[4] the claimed key's TTL (ms)
//	ARGV[5] "hold" or "resend"              ARGV[6] the ambiguous reason (hold)
//	ARGV[7] the retention TTL (ms)
//
// Returns {outcome, previous value}: outcome is won, reclaimed, busy, held
// or done.
var claimScript = redis.NewScript(nowLua + `
local now = now_ms(ARGV[1])
local function claim(tag)
  redis.call('SET', KEYS[1], tag .. '|' .. string.format('%d', now + tonumber(ARGV[3])) .. '|' .. ARGV[2], 'PX', ARGV[4])
end
local v = redis.call('GET', KEYS[1])
if not v then
  claim('c')
  return {'won', ''}
end
local tag = string.sub(v, 1, 1)
if tag == 'r' then
  -- an owner saw an ambiguous outcome and released it for its one resend
  claim('C')
  return {'reclaimed', v}
end
if not inflight(tag) then
  return {'done', v}
end
local sep = string.find(v, '|', 3, true)
if not sep then
  return redis.error_reply('fence: unrecognised value in ' .. KEYS[1])
end
if string.sub(v, sep + 1) == ARGV[2] then
  -- this very claim, resent by the client after a lost reply
  if tag == 'C' then return {'reclaimed', ''} end
  return {'won', ''}
end
if tonumber(string.sub(v, 3, sep - 1)) > now then
  return {'busy', v}
end
if tag == 'c' then
  -- the holder never armed it, so it never wrote the request: take it
  claim('c')
  return {'won', v}
end
if tag == 'C' then
  -- the resend was claimed but never armed: it is still the one resend
  claim('C')
  return {'reclaimed', v}
end
if tag == 'n' and ARGV[5] == 'resend' then
  claim('C')
  return {'reclaimed', v}
end
-- hold, or the one resend was itself abandoned while sending
redis.call('SET', KEYS[1], 'a|' .. string.format('%d', now) .. '|' .. ARGV[6], 'PX', ARGV[7])
return {'held', v}
`)

// ownerScript makes a transition for the owner of an in-flight key.
//
//	KEYS[1] the fence key
//	ARGV[1] the owner token
//	ARGV[2] the mode: "set" (a terminal mark), "sent" (the sent mark: sent
//	        wins), "del" (release), "arm", or "resendable"
//	ARGV[3] the new value ("arm": the lease in ms)
//	ARGV[4] its TTL (ms)
//	ARGV[5] now (unix ms, -1: Redis TIME; "arm" only)
//
// Returns 1 when done, 0 when the token does not own the key, 2 when "sent"
// was recorded over a key this token no longer owned (absent after a
// failover, or claimed by another owner: the email did leave, and that must
// win over a claim that has not sent), 3 when "resendable" is refused
// because this owner's attempt was already the one resend. Deleting an
// absent key succeeds (it is not held and was not sent); setting a terminal
// value the key already holds, time aside, succeeds too (the same mark
// resent after a lost reply).
var ownerScript = redis.NewScript(nowLua + `
local mode = ARGV[2]
local v = redis.call('GET', KEYS[1])
if not v then
  if mode == 'del' then return 1 end
  if mode == 'sent' then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
    return 2
  end
  return 0
end
local tag = string.sub(v, 1, 1)
local sep = string.find(v, '|', 3, true)
if not sep then
  return redis.error_reply('fence: unrecognised value in ' .. KEYS[1])
end
if inflight(tag) then
  if string.sub(v, sep + 1) ~= ARGV[1] then
    if mode == 'sent' then
      redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
      return 2
    end
    return 0
  end
  if mode == 'del' then
    redis.call('DEL', KEYS[1])
  elseif mode == 'arm' then
    local nt = 'n'
    if tag == 'C' or tag == 'N' then nt = 'N' end
    local now = now_ms(ARGV[5])
    redis.call('SET', KEYS[1], nt .. '|' .. string.format('%d', now + tonumber(ARGV[3])) .. '|' .. ARGV[1], 'PX', ARGV[4])
  elseif mode == 'resendable' and (tag == 'C' or tag == 'N') then
    return 3
  else
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  end
  return 1
end
if tag == 'r' and mode == 'sent' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return 2
end
if mode == 'set' or mode == 'sent' then
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
