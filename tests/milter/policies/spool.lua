-- spool.lua - used by spool.sh: the Subject "footer" adds a footer (the
-- worker writes a new body file); any other post is refused with the
-- length of the body text the worker read, so a test sees whether a reused
-- spool file was cut to the new message's length.
local mlm = require "mlm"

function filter_message(ctx)
  if ctx.message:header("Subject") == "footer" then
    ctx:add_footer{text = "Spool footer"}
    return mlm.continue()
  end
  local length = 0
  for part in ctx.message:parts() do
    length = length + #part:text()
  end
  return mlm.reject("body " .. length, "550", "5.7.1")
end
