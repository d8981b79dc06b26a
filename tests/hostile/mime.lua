-- MIME limit tests: every message's parts are walked (GMime builds the
-- tree); a sender "catch@" catches the error and accepts all the same,
-- "drop@" catches it and discards the message.
local mlm = require "mlm"

function filter_message(ctx)
  local function count()
    local n = 0
    for _ in ctx.message:parts() do n = n + 1 end
    return n
  end
  if ctx.sender == "drop@example.org" then
    local ok = pcall(count)
    return ok and mlm.continue() or mlm.discard()
  end
  if ctx.sender == "catch@example.org" then
    local ok, n = pcall(count)
    ctx:add_header("X-Parts", ok and tostring(n) or "error")
    return mlm.accept()
  end
  ctx:add_header("X-Parts", tostring(count()))
  return mlm.continue()
end
