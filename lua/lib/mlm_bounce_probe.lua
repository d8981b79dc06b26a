-- mlm_bounce_probe.lua - a probe before disabling a member (Mailman's
-- VERP probes): when a member's bounce score reaches bounce_threshold,
-- one test mail goes to the member with the envelope sender
-- NAME-bounces+probe-TOKEN@DOMAIN (TOKEN random, single use, kept with
-- the member). Only a bounce that comes back to that address disables
-- delivery; a probe unbounced for bounce_probe_wait days lets the score
-- start again (both in the database: list:record_bounce,
-- list:probe_bounced).
--
--   local probe = require "mlm_bounce_probe"
--   probe.token_of(rcpt)              TOKEN of NAME-bounces+probe-TOKEN@,
--                                     or nil
--   probe.send(list, addrs, address)  start a probe and send its mail;
--                                     true, or nil and why

local mlm = require "mlm"
local common = require "mlm_list_common"

local M = {}

function M.token_of(rcpt)
  return rcpt and rcpt:match("^[^@]*%-bounces%+probe%-(%x+)@")
end

function M.send(list, a, address)
  local token = list:start_probe(address)
  if not token then return nil, "not a member" end
  local local_part, domain = a.bounces:match("^(.*)@([^@]*)$")
  local sender = local_part .. "+probe-" .. token .. "@" .. domain
  local text = common.template_mail(list, "bounce-probe", a.owner, address,
    { address = address }, "auto-generated")
  mlm.sendmail(sender, address, text)
  return true
end

return M
