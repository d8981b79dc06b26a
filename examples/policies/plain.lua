-- plain.lua - a policy without mailing lists.
--
-- mlm runs any policy, not only the list manager: here, a small site
-- filter that
--
--   * refuses some senders at MAIL FROM, before anything else is sent
--     (550 5.7.1), by address or by domain;
--   * tempfails a MAIL FROM without a domain (451 4.1.8: the sender
--     should be fixed, and will be retried);
--   * tags every message at end of message: an X-Mlm-Client header with
--     the client's address, and "[EXTERNAL]" before the subject of mail
--     from outside the local networks.
--
-- With no filter_recipient here, mlmd does not even ask the MTA for the
-- RCPT events. The null sender (bounces) is never refused.

local mlm = require "mlm"

-- Lower-case addresses and domains.
local BLOCKED_SENDERS = {
  ["spammer@bad.example"] = true,
}
local BLOCKED_DOMAINS = {
  ["bad.example"] = true,
  ["worse.example"] = true,
}

-- Clients whose mail is not external: Lua patterns over ctx.hostip.
local INTERNAL = {
  "^127%.",
  "^10%.",
  "^192%.168%.",
  "^::1$",
}

local function domain_of(address)
  return address:match("@([^@]+)$")
end

-- A domain and every parent domain: a.b.example, b.example, example.
local function domain_blocked(domain)
  while domain do
    if BLOCKED_DOMAINS[domain] then
      return true
    end
    domain = domain:match("^[^.]*%.(.+)$")
  end
  return false
end

local function internal(ip)
  for _, pattern in ipairs(INTERNAL) do
    if ip:match(pattern) then
      return true
    end
  end
  return false
end

-- Header text from a message is UTF-8, but may hold control characters,
-- which a header we write must not: mlm would refuse the change.
local function clean(text)
  return (text:gsub("%c", " "))
end

function filter_sender(ctx)
  local sender = ctx.sender:lower()
  if sender == "" then
    return mlm.continue()
  end
  local domain = domain_of(sender)
  if not domain then
    return mlm.tempfail("Sender address without a domain", "451", "4.1.8")
  end
  if BLOCKED_SENDERS[sender] or domain_blocked(domain) then
    mlm.log("info", string.format("%s: refused sender %s from %s",
      ctx.qid or "NOQUEUE", sender, ctx.hostip or "?"))
    return mlm.reject("We do not take mail from you", "550", "5.7.1")
  end
  return mlm.continue()
end

function filter_message(ctx)
  local ip = ctx.hostip or ""
  ctx:add_header("X-Mlm-Client", ip ~= "" and ip or "local")
  if ip ~= "" and not internal(ip) then
    local subject = clean(ctx.message:header("Subject") or "")
    if not subject:find("[EXTERNAL]", 1, true) then
      ctx:change_header("Subject", mlm.encode_header("[EXTERNAL] " .. subject))
    end
  end
  return mlm.continue()
end
