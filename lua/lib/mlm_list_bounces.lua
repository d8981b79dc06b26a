-- mlm_list_bounces.lua - NAME-bounces@ in the shipped list policy: what
-- a bounce does to the member it names (mlm_bounce reads it).

local mlm = require "mlm"
local bounce = require "mlm_bounce"
local bounce_digest = require "mlm_bounce_digest"
local bounce_probe = require "mlm_bounce_probe"
local common = require "mlm_list_common"

local log = common.log

local M = {}

-- Tell a member whose delivery bounces just disabled, and the owners, so
-- that forged reports cannot switch members off unnoticed (as Mailman 3
-- does). One notice each per member disabled; errors are logged only.
local function notify_disabled(ctx, list, a, address, status)
  status = status:sub(1, 16) -- from the report: a few digits and dots
  local owners = {}
  for m in list:members("owner") do owners[#owners + 1] = m.address end
  local notices = {
    { to = { address }, name = "bounce-disabled-member" },
    { to = owners, name = "bounce-disabled-owners" },
  }
  for _, n in ipairs(notices) do
    if #n.to > 0 then
      local text = common.template_mail(list, n.name, a.owner, n.to,
        { address = address, status = status }, "auto-generated")
      local ok, err = pcall(mlm.sendmail, a.bounces, n.to, text)
      if not ok then
        log("warning", ctx, "%s: could not tell %s of the disabled delivery "
          .. "of %s: %s", a.post, table.concat(n.to, ", "), address,
          tostring(err))
      end
    end
  end
end

-- VERP (the Postfix recipe in examples/): a copy to USER@DOMAIN went out
-- from NAME-bounces+USER=DOMAIN@, so a report that comes back there is
-- about that member, whatever address it names (a member who forwards
-- elsewhere): the report's worst recipient stands for the member alone,
-- the address it named kept as final (scored instead when USER@DOMAIN is
-- no member). Any other detail, or a report naming nobody: as it is.
local function verp_member(detail, r)
  local user, domain = (detail or ""):match("^(.+)=([^=@]+)$")
  if not user or user:find("@", 1, true) or #r.recipients == 0 then
    return r.recipients
  end
  local member = user .. "@" .. domain
  for _, x in ipairs(r.recipients) do
    if x.verdict == r.verdict then
      local named = x.address:lower() ~= member:lower() and x.address or nil
      return { { address = member, final = named or x.final,
        status = x.status, action = x.action, verdict = x.verdict,
        diagnostic = x.diagnostic } }
    end
  end
  return r.recipients
end

-- NAME-bounces@: bounces score the members (mlm_bounce reads them). Only
-- permanent failures score; 5.7.x refusals are recorded unscored; delays,
-- delivery successes, auto-replies and complaints are logged and dropped;
-- mail that is none of these reaches the owners in an hourly digest with
-- the null sender (mlm_bounce_digest), never silently lost. A member at
-- bounce_threshold gets a probe (mlm_bounce_probe); a failure or an
-- unreadable mail to NAME-bounces+probe-TOKEN@ disables that member.
-- Mail to NAME-bounces+USER=DOMAIN@ (VERP, see verp_member) is about the
-- member USER@DOMAIN.
function M.handle(ctx, list, a, rcpt, detail)
  local ok, r = pcall(bounce.parse, ctx.message)
  if not ok then
    -- a parser error must not bounce the bounce: kept for the owners
    log("warning", ctx, "%s: the bounce reader failed: %s", a.post,
      tostring(r))
    r = { format = "none", verdict = "none", recipients = {} }
  end
  local token = bounce_probe.token_of(rcpt)
  if token and (r.verdict == "failure" or r.verdict == "none") then
    local address, disabled = list:probe_bounced(token)
    if disabled then
      local first = r.recipients[1]
      local status = first and first.status ~= "" and first.status or "probe"
      notify_disabled(ctx, list, a, address, status)
    end
    if address then
      log("info", ctx, "%s: the probe to %s bounced (%s)%s", a.post, address,
        r.format, disabled and ", delivery disabled" or "")
      return mlm.discard()
    end
  end
  if r.verdict == "none" then
    local sent, noted = bounce_digest.add(ctx, list, a)
    log("info", ctx, "%s: mail to %s is not a bounce mlm understands: %s%s",
      a.post, a.bounces, noted and "kept for the owners' digest"
        or "not kept (the owners' digest is full)",
      sent > 0 and string.format("; digest of %d sent to the owners", sent)
        or "")
    return mlm.discard()
  end
  r.recipients = verp_member(detail, r)
  for _, x in ipairs(r.recipients) do
    if bounce.RECORDED[x.verdict] then
      local address = x.address
      local status = x.status ~= "" and x.status or x.verdict
      local score, disabled, probe = list:record_bounce(address, status,
        x.diagnostic)
      if not score and x.final then
        address = x.final
        score, disabled, probe = list:record_bounce(address, status,
          x.diagnostic)
      end
      if disabled then notify_disabled(ctx, list, a, address, status) end
      if score then
        log("info", ctx, "%s: bounce %s (%s, %s) for %s, score %d%s%s",
          a.post, x.status, x.verdict, r.format, address, score,
          disabled and ", delivery disabled" or "",
          r.envid and (", post=" .. r.envid) or "")
      end
      if probe then
        local ok, err = pcall(bounce_probe.send, list, a, address)
        log(ok and "info" or "warning", ctx, "%s: probe to %s %s", a.post,
          address, ok and "sent" or ("not sent: " .. tostring(err)))
      end
    else
      log("info", ctx, "%s: %s report (%s) for %s: not scored", a.post,
        x.verdict, r.format, x.address)
    end
  end
  if #r.recipients == 0 then
    log("info", ctx, "%s: %s to %s: not scored", a.post, r.verdict, a.bounces)
  end
  return mlm.discard()
end

return M
