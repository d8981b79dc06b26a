-- custom-rule.lua - rules of your own around the shipped list policy.
--
-- The default /etc/mlm/policy.lua only assigns the stages of the shipped
-- list policy (mlm_lists), so that each stage can be wrapped: run your own
-- rule, and hand on to the shipped function when the rule has nothing to
-- say. This file shows both kinds of rule:
--
--   * a refusal: a list post that names more than MAX_VISIBLE addresses in
--     To: and Cc: is refused with 550 5.7.1 (such posts are mostly spam or
--     mistakes, and every member would see every address);
--   * a change: every list post gets an X-Mlm-Checked header. Changes made
--     before the shipped function runs go out together with its own (the
--     envelope rewrite, List-* headers, footer), or not at all when the
--     post is refused, held or discarded.
--
-- And one rule at RCPT: lists take no mail from clients that did not say a
-- proper HELO (an address literal like [192.0.2.1] is fine, a bare IP
-- address is not): 550 5.7.1 for the list recipient, before the message
-- is even sent.

local mlm = require "mlm"
local lists = require "mlm_lists"

local MAX_VISIBLE = 20

-- Whether addr is one of our lists' posting addresses.
local function is_list_post(addr)
  local kind = mlm.resolve(addr)
  return kind == "post"
end

function filter_recipient(ctx)
  local helo = ctx.helo or ""
  if is_list_post(ctx.recipient) and helo:match("^%d+%.%d+%.%d+%.%d+$") then
    return mlm.reject("Lists take mail only from clients that give a host "
      .. "name or an address literal in HELO", "550", "5.7.1")
  end
  -- Everything else: the shipped checks (unknown lists, a list address that
  -- is not alone in its transaction, early refusal of non-members).
  return lists.filter_recipient(ctx)
end

function filter_message(ctx)
  local posting = false
  for _, rcpt in ipairs(ctx.recipients) do
    if is_list_post(rcpt) then
      posting = true
    end
  end
  if posting then
    local visible = #ctx.message:addresses("To")
      + #ctx.message:addresses("Cc")
    if visible > MAX_VISIBLE then
      return mlm.reject(string.format("Too many addresses in To: and Cc: "
        .. "(%d, at most %d); write to the list alone", visible,
        MAX_VISIBLE), "550", "5.7.1")
    end
    ctx:add_header("X-Mlm-Checked", "custom-rule.lua; visible="
      .. visible)
  end
  return lists.filter_message(ctx)
end
