-- replies.lua - every reply kind at MAIL, RCPT and end of message, chosen
-- by the envelope address or the Subject, plus replies that are not
-- allowed (wrong code class, forged reply tables). Used by replies.sh.
local mlm = require "mlm"

local sender_replies = {
  ["continue@sender.test"] = function() return mlm.continue() end,
  ["nil@sender.test"] = function() return nil end,
  ["accept@sender.test"] = function() return mlm.accept() end,
  ["reject@sender.test"] = function()
    return mlm.reject("We do not take mail from you", "550", "5.7.1")
  end,
  ["tempfail@sender.test"] = function()
    return mlm.tempfail("Come back later", "451", "4.7.1")
  end,
  ["discard@sender.test"] = function() return mlm.discard() end,
  ["reject-default@sender.test"] = function() return mlm.reject() end,
  ["tempfail-default@sender.test"] = function() return mlm.tempfail() end,
  ["reject-code-only@sender.test"] = function() return mlm.reject("x", "550") end,
  -- Not allowed: each is a Lua error, answered with failure_action.
  ["bad-reject-code@sender.test"] = function() return mlm.reject("x", "450") end,
  ["bad-reject-dsn@sender.test"] = function()
    return mlm.reject("x", "550", "4.7.1")
  end,
  ["bad-tempfail-code@sender.test"] = function()
    return mlm.tempfail("x", "550")
  end,
  ["bad-text@sender.test"] = function()
    return mlm.reject("line one\r\n250 fake", "550", "5.7.1")
  end,
  ["plain-table@sender.test"] = function()
    return {action = "reject", code = "550", dsn = "5.7.1", text = "forged"}
  end,
  ["string@sender.test"] = function() return "reject" end,
  ["error@sender.test"] = function() error("deliberate error") end,
}

function filter_sender(ctx)
  local f = sender_replies[ctx.sender]
  if f then return f() end
  return mlm.continue()
end

function filter_recipient(ctx)
  local r = ctx.recipient
  if r == "nobody@lists.test" then
    return mlm.reject("No such list", "550", "5.1.1")
  elseif r == "busy@lists.test" then
    return mlm.tempfail("Too many lists", "452", "4.5.3")
  elseif r == "accept@lists.test" then
    return mlm.accept()
  elseif r == "error@lists.test" then
    error("deliberate error in filter_recipient")
  end
  return mlm.continue()
end

function filter_message(ctx)
  local subject = ctx.message:header("Subject")
  ctx:add_header("X-Rcpts", table.concat(ctx.recipients, ","))
  if subject == "accept" then
    return mlm.accept()
  elseif subject == "discard" then
    return mlm.discard()
  elseif subject == "reject" then
    return mlm.reject("Message refused", "554", "5.7.0")
  elseif subject == "tempfail" then
    return mlm.tempfail("Not now", "452", "4.3.1")
  elseif subject == "error" then
    error("deliberate error in filter_message")
  elseif subject == "plain-table" then
    return {action = "continue"}
  end
  return mlm.continue()
end
