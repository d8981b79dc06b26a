-- tests/bench/policies/decisions.lua - the decisions-only policy of
-- tests/bench/run-bench.sh: each stage asks the policy and answers after
-- one cheap check, changing nothing. The same decisions as the MIMEDefang
-- baseline (tests/bench/mimedefang/mimedefang-filter). filter_message
-- reads no header, so a lazy worker never needs to parse the message.
local mlm = require "mlm"

function filter_sender(ctx)
  if ctx.sender == "spammer@bad.example" then
    return mlm.reject("We do not take mail from you", "550", "5.7.1")
  end
  return mlm.continue()
end

function filter_recipient(ctx)
  if ctx.recipient:sub(1, 7) == "nosuch@" then
    return mlm.reject("No such list: " .. ctx.recipient, "550", "5.1.1")
  end
  return mlm.continue()
end

function filter_message(ctx)
  if #ctx.recipients == 0 then
    return mlm.tempfail("no recipient")
  end
  return mlm.continue()
end
