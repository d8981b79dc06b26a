-- announce.lua - announce-only lists, and no attachments in announcements.
--
-- An announce-only list is a list setting, not a policy of its own:
--
--   mlm-ctl list create news@lists.example.org --posting announce \
--           --owner editor@example.org
--   mlm-ctl member add news@lists.example.org deputy@example.org \
--           --role moderator
--   mlm-ctl member import news@lists.example.org readers.txt
--
-- With posting = announce the shipped list policy (mlm_lists) distributes
-- posts from the list's owners and moderators and refuses everybody else
-- with 550 5.7.1, members included; the readers only receive.
--
-- This policy wraps the shipped end-of-message stage to add one rule: an
-- announcement carries text (plain or HTML) and nothing else. A post to an
-- announce-only list with an attachment is refused, during the SMTP
-- session, with 550 5.7.1; the editor's own MTA tells the editor.
-- Lists with any other posting setting are left to the shipped policy.
-- (The rule runs before the shipped checks, so somebody who may not post
-- at all and sends an attachment is told about the attachment; both
-- answers are 550 5.7.1.)
--
-- Use it as the policy (copy it to /etc/mlm/policy.lua, or point `policy`
-- in mlm.conf at it), then:
--
--   mlm-ctl check /etc/mlm/policy.lua
--   mlm-ctl try --to news@lists.example.org announcement.eml
--   mlm-ctl reload

local mlm = require "mlm"
local lists = require "mlm_lists"

-- What an announcement may be made of.
local ALLOWED_TYPES = {
  ["text/plain"] = true,
  ["text/html"] = true,
}

-- The first part that is an attachment, or nil: a part with a file name,
-- or of any type but text and HTML (images, documents, attached messages).
local function first_attachment(message)
  for part in message:parts() do
    if part.filename or not ALLOWED_TYPES[part.content_type] then
      return part
    end
  end
  return nil
end

-- The list this transaction posts to, or nil. The shipped RCPT stage has
-- made sure that a list address is the only recipient of its transaction.
local function posted_list(ctx)
  for _, rcpt in ipairs(ctx.recipients) do
    local kind, list = mlm.resolve(rcpt)
    if kind == "post" then
      return list
    end
  end
  return nil
end

-- Text from the message, made fit for an SMTP reply: printable ASCII only,
-- and short (a hostile file name must not turn a refusal into an error).
local function reply_safe(text)
  return (text:sub(1, 60):gsub("[^%w%.%-_/ ]", "?"))
end

-- RCPT: the shipped checks (unknown lists, lonely list addresses, ...).
filter_recipient = lists.filter_recipient

-- End of message: our rule first, then the shipped list policy.
function filter_message(ctx)
  local list = posted_list(ctx)
  if list and list.posting == "announce" then
    -- A post a moderator approved with `mlm-ctl held approve` (during an
    -- emergency hold, say) is not refused now: the decision is taken.
    local mark = ctx.message:header("X-Mlm-Approved")
    local approved = mark and list:approved(mark, ctx)
    local part = not approved and first_attachment(ctx.message)
    if part then
      local what = part.filename and ("the file " .. part.filename)
        or ("a " .. part.content_type .. " part")
      mlm.log("info", string.format("%s: announcement to %s refused: %s",
        ctx.qid or "NOQUEUE", list.address, what))
      return mlm.reject(string.format(
        "Announcements to %s must not carry attachments (found %s); "
          .. "send the text only", list.address, reply_safe(what)),
        "550", "5.7.1")
    end
  end
  return lists.filter_message(ctx)
end
