-- tests/lists/policies/wrap.lua - ctx:wrap_message on its own, for
-- tests/lists/dmarc-mitigation.sh: every message is wrapped with the
-- text of its X-Wrap-Text header (none: no text); X-Wrap-Twice asks for a
-- second wrap (an error); X-Wrap-Footer adds a footer first.
local mlm = require "mlm"

function filter_message(ctx)
  local msg = ctx.message
  if msg:header("X-Wrap-Footer") then
    ctx:add_footer({ text = msg:header("X-Wrap-Footer") })
  end
  local text = msg:header("X-Wrap-Text")
  ctx:wrap_message(text and { text = text } or nil)
  if msg:header("X-Wrap-Twice") then
    ctx:wrap_message({ text = "again" })
  end
  return mlm.continue()
end

function filter_sender(ctx)
  if ctx.sender == "early@example.net" then
    ctx:wrap_message({ text = "too early" })
  end
end
