package fence

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis. A user's record is the field <user>
// of the hash KEYS[i] (its bucket); values are
// "<tag><flags>|<ms>|<attempt>|<detail>". The in-flight tags are c
// (claimed) and n (sending), whose time is the lease deadline; C and N are
// the same for the one resend that --on-ambiguous resend allows. r is
// "released after an ambiguous outcome: one resend allowed". The other
// tags are terminal. The flags are '*' (settled by an SES event) and a fact
// digit (1 delivered, 2 bounced, 3 complained). The attempt is the owner
// token of the claim the record belongs to.
//
// Every write renews its bucket's expiry to the retention (PEXPIRE), so a
// bucket lives the retention after its last write.
//
// Time: ARGV "now" is unix ms, or -1 to read Redis's own clock (TIME). The
// Fence passes -1 unless a test injects a clock, so that every lease of
// every sender, and every recorded time, is on one clock: a sender whose
// clock steps cannot cut another's lease short or stretch its own.
const commonLua = `
local function now_ms(arg)
  local n = tonumber(arg)
  if n >= 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function inflight(tag)
  return tag == 'c' or tag == 'n' or tag == 'C' or tag == 'N'
end
-- parse returns tag, flags, time, attempt, detail; nil if v is not ours.
local function parse(v)
  local s1 = string.find(v, '|', 2, true)
  if not s1 then return nil end
  local s2 = string.find(v, '|', s1 + 1, true)
  if not s2 then return nil end
  local s3 = string.find(v, '|', s2 + 1, true)
  if not s3 then return nil end
  local t = tonumber(string.sub(v, s1 + 1, s2 - 1))
  if not t then return nil end
  return string.sub(v, 1, 1), string.sub(v, 2, s1 - 1), t, string.sub(v, s2 + 1, s3 - 1), string.sub(v, s3 + 1)
end
local function val(tag, t, attempt, detail)
  return tag .. '|' .. string.format('%d', t) .. '|' .. attempt .. '|' .. detail
end
local touched = {}
local function put(key, user, v)
  redis.call('HSET', key, user, v)
  touched[key] = true
end
local function expire(retention)
  for k in pairs(touched) do redis.call('PEXPIRE', k, retention) end
end
`

// claimScript decides the claims of a batch.
//
//	KEYS    the buckets of the batch (one slot)
//	ARGV[1] now (unix ms, -1: Redis TIME)   ARGV[2] the lease (ms)
//	ARGV[3] "hold" or "resend"              ARGV[4] the ambiguous reason (hold)
//	ARGV[5] the retention (ms)              ARGV[6] resolve-after (ms, 0: never)
//	then per item: the index of its bucket in KEYS, the user, the new token
//
// Returns {outcome, previous value} per item: outcome is won, reclaimed,
// resolved, busy, held, unsettled, done or bad (not a value of ours).
var claimScript = redis.NewScript(commonLua + `
local now = now_ms(ARGV[1])
local lease = tonumber(ARGV[2])
local resolveAfter = tonumber(ARGV[6])
local out = {}
for i = 7, #ARGV, 3 do
  local key, user, token = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]
  local v = redis.call('HGET', key, user)
  local outcome
  if not v then
    put(key, user, val('c', now + lease, token, ''))
    outcome, v = 'won', ''
  else
    local tag, flags, t, att, detail = parse(v)
    if not tag then
      outcome = 'bad'
    elseif tag == 'r' then
      -- an owner saw an ambiguous outcome and released it for its one resend
      put(key, user, val('C', now + lease, token, ''))
      outcome = 'reclaimed'
    elseif tag == 'a' and resolveAfter > 0 then
      -- not yet settled by an SES event: wait, then declare it not sent
      if now - t < resolveAfter then
        outcome = 'unsettled'
      else
        -- the claim of a resolved resend is marked R, so that its next
        -- owner (this one abandoned before arming) still says why
        put(key, user, val('c', now + lease, token, 'R'))
        outcome = 'resolved'
      end
    elseif not inflight(tag) then
      outcome = 'done'
    elseif att == token then
      -- this very claim, resent by the client after a lost reply
      if tag == 'C' or tag == 'N' then outcome = 'reclaimed' elseif detail == 'R' then outcome = 'resolved' else outcome = 'won' end
      v = ''
    elseif t > now then
      outcome = 'busy'
    elseif tag == 'c' then
      -- the holder never armed it, so it never wrote the request: take it
      -- (still the resend of a resolved ambiguous attempt if it was one)
      if detail == 'R' then
        put(key, user, val('c', now + lease, token, 'R'))
        outcome = 'resolved'
      else
        put(key, user, val('c', now + lease, token, ''))
        outcome = 'won'
      end
    elseif tag == 'C' then
      -- the resend was claimed but never armed: it is still the one resend
      put(key, user, val('C', now + lease, token, ''))
      outcome = 'reclaimed'
    elseif tag == 'n' and ARGV[3] == 'resend' then
      put(key, user, val('C', now + lease, token, ''))
      outcome = 'reclaimed'
    else
      -- hold, or the one resend was itself abandoned while sending; the
      -- abandoned attempt stays named, for its SES events
      put(key, user, val('a', now, att, ARGV[4]))
      outcome = 'held'
    end
  end
  out[#out + 1] = outcome
  out[#out + 1] = v
end
expire(ARGV[5])
return out
`)

// The modes of markScript.
const (
	modeArm        = "A"
	modeSent       = "S"
	modeDel        = "D"
	modeResendable = "R"
	modeTerminal   = "T"
)

// markScript makes the transitions of a batch for the owners of the keys.
//
//	KEYS    the buckets of the batch (one slot)
//	ARGV[1] now (unix ms, -1: Redis TIME)   ARGV[2] the lease (ms)
//	ARGV[3] the retention (ms)
//	then per item: the index of its bucket in KEYS, the user, the token,
//	the mode, the terminal tag (mode T), the detail
//
// The modes: A (arm), S (the sent mark: sent wins), D (release), R
// (resendable), T (a terminal mark). Returns per item 1 when done, 0 when
// the token does not own the key, 2 when "sent" was recorded over a key
// this token no longer owned (absent after a failover, claimed by another
// owner, or released for a resend: the email did leave, and that must win
// over a claim that has not sent), 3 when "resendable" is refused because
// this owner's attempt was already the one resend, -1 when the value is
// not ours. Deleting an absent key succeeds (it is not held and was not
// sent); a mark the record already holds for this attempt, time aside,
// succeeds too (the same mark resent after a lost reply), and so does a
// sent mark over a record an SES event made sent for this attempt.
var markScript = redis.NewScript(commonLua + `
local now = now_ms(ARGV[1])
local lease = tonumber(ARGV[2])
local function mark(key, user, token, mode, ntag, detail)
  local v = redis.call('HGET', key, user)
  if not v then
    if mode == 'D' then return 1 end
    if mode == 'S' then
      put(key, user, val('s', now, token, detail))
      return 2
    end
    return 0
  end
  local tag, flags, t, att, old = parse(v)
  if not tag then return -1 end
  if inflight(tag) then
    if att ~= token then
      if mode == 'S' then
        put(key, user, val('s', now, token, detail))
        return 2
      end
      return 0
    end
    -- R marks the resend of a resolved ambiguous attempt: arming keeps
    -- it, and releasing it leaves an expired claim that still says so (the
    -- next claim answers resolved), so the ledger can name why it was
    -- sent again.
    local resolved = ''
    if old == 'R' and (tag == 'c' or tag == 'n') then resolved = 'R' end
    if mode == 'D' then
      if resolved == 'R' then
        put(key, user, val('c', 0, token, 'R'))
      else
        redis.call('HDEL', key, user)
      end
    elseif mode == 'A' then
      local nt = 'n'
      if tag == 'C' or tag == 'N' then nt = 'N' end
      put(key, user, val(nt, now + lease, token, resolved))
    elseif mode == 'R' then
      if tag == 'C' or tag == 'N' then return 3 end
      put(key, user, val('r', now, token, detail))
    elseif mode == 'S' then
      put(key, user, val('s', now, token, detail))
    else
      put(key, user, val(ntag, now, token, detail))
    end
    return 1
  end
  if tag == 'r' then
    if mode == 'S' then
      put(key, user, val('s', now, token, detail))
      return 2
    end
    if mode == 'R' and att == token and old == detail then return 1 end
    return 0
  end
  if att ~= token then return 0 end
  if mode == 'S' and tag == 's' and (old == detail or string.find(flags, '*', 1, true)) then return 1 end
  if mode == 'T' and tag == ntag and old == detail then return 1 end
  return 0
end
local out = {}
for i = 4, #ARGV, 6 do
  out[#out + 1] = mark(KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
end
expire(ARGV[3])
return out
`)

// settleScript applies an SES event to the record of its attempt.
//
//	KEYS[1] the bucket
//	ARGV[1] now (unix ms, -1: Redis TIME)   ARGV[2] the user
//	ARGV[3] the attempt                     ARGV[4] the verdict: s (sent) or f (failed)
//	ARGV[5] the packed message id (s)       ARGV[6] the reason (f)
//	ARGV[7] the fact digit or ""            ARGV[8] the retention (ms)
//
// Returns {outcome, previous value, value now}: outcome is unknown (no
// record), bad (not ours), other (another attempt's record, or an event
// that names no attempt: nothing written; but a sent verdict over another
// attempt's unarmed claim is settled: that claim never left), settled (the state changed), fact (only the fact grew) or
// already (nothing changed). Failed is final for its attempt; a sent
// verdict turns any other state of the attempt into sent, marked as
// settled by the event.
var settleScript = redis.NewScript(commonLua + `
local now = now_ms(ARGV[1])
local key, user = KEYS[1], ARGV[2]
local v = redis.call('HGET', key, user)
if not v then return {'unknown', '', ''} end
local tag, flags, t, att = parse(v)
if not tag then return {'bad', v, v} end
if ARGV[3] == '' then return {'other', v, v} end
if att ~= ARGV[3] then
  -- Another attempt holds the record. When it is a claim that was never
  -- armed (the resend of an ambiguous attempt declared not sent after
  -- --resolve-after, or any later claim), nothing of it has left yet: an
  -- event proving that the earlier attempt was accepted wins, and the
  -- claim cannot arm. Anything else stands.
  if ARGV[4] == 's' and (tag == 'c' or tag == 'C') then
    local won = val('s*' .. ARGV[7], now, ARGV[3], ARGV[5])
    put(key, user, won)
    expire(ARGV[8])
    return {'settled', v, won}
  end
  return {'other', v, v}
end
if tag == 'f' then return {'already', v, v} end
local nv
if ARGV[4] == 'f' then
  nv = val('f*', now, att, ARGV[6])
  put(key, user, nv)
  expire(ARGV[8])
  return {'settled', v, nv}
end
local fact = ARGV[7]
local old = string.match(flags, '%d') or ''
if fact < old then fact = old end
if tag == 's' then
  if fact == old then return {'already', v, v} end
  local byEvent = ''
  if string.find(flags, '*', 1, true) then byEvent = '*' end
  local s1 = string.find(v, '|', 2, true)
  nv = 's' .. byEvent .. fact .. string.sub(v, s1)
  put(key, user, nv)
  expire(ARGV[8])
  return {'fact', v, nv}
end
nv = val('s*' .. fact, now, att, ARGV[5])
put(key, user, nv)
expire(ARGV[8])
return {'settled', v, nv}
`)

// reopenScript deletes a failed or dead-lettered record. Returns 1 if it
// did.
//
//	KEYS[1] the bucket   ARGV[1] the user
var reopenScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local tag = string.sub(v, 1, 1)
  if tag == 'f' or tag == 'd' then
    redis.call('HDEL', KEYS[1], ARGV[1])
    return 1
  end
end
return 0
`)

// restoreScript writes a record if the user has none, and renews the
// bucket's expiry. Returns 1 if it wrote.
//
//	KEYS[1] the bucket   ARGV[1] the user   ARGV[2] the value   ARGV[3] the retention (ms)
var restoreScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`)
