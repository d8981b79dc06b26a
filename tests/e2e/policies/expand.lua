-- End-to-end policy: refuse one address at RCPT, expand another into three
-- members at end of message.
local mlm = require "mlm"

local members = { "alice@example.org", "bob@example.org", "carol@example.org" }

function filter_recipient(ctx)
  if ctx.recipient == "nosuch@lists.example" then
    return mlm.reject("No such list here", "550", "5.1.1")
  end
end

function filter_message(ctx)
  for _, rcpt in ipairs(ctx.recipients) do
    if rcpt == "dev@lists.example" then
      ctx:delete_recipient(rcpt)
      for _, m in ipairs(members) do ctx:add_recipient(m) end
      ctx:change_sender("dev-bounces@lists.example")
      ctx:add_header("X-Loop", "dev@lists.example")
      ctx:change_header("Subject", "[dev] " .. (ctx.message:header("Subject") or ""))
    end
  end
end
