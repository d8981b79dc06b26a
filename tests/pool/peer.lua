-- mx_socket tests: the message stage tells what it read from the spool.
local mlm = require "mlm"

function filter_sender(ctx)
  return mlm.continue()
end

function filter_message(ctx)
  return mlm.reject("read: " .. (ctx.message:header("Subject") or "nothing"),
                    "550", "5.7.1")
end
