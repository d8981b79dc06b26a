-- A policy for the miltertest suite: each reply kind at MAIL and RCPT,
-- chosen by the address, and every change at end of message.
local mlm = require "mlm"

function filter_sender(ctx)
  local s = ctx.sender
  if s == "reject@sender.test" then
    return mlm.reject("We do not take mail from you", "550", "5.7.1")
  elseif s == "tempfail@sender.test" then
    return mlm.tempfail("Come back later", "451", "4.7.1")
  elseif s == "discard@sender.test" then
    return mlm.discard()
  elseif s == "accept@sender.test" then
    return mlm.accept()
  elseif s == "error@sender.test" then
    error("deliberate error in filter_sender")
  end
  return mlm.continue()
end

function filter_recipient(ctx)
  local r = ctx.recipient
  if r == "nobody@lists.test" then
    return mlm.reject("No such list", "550", "5.1.1")
  elseif r == "busy@lists.test" then
    return mlm.tempfail("Too many lists", "452", "4.5.3")
  elseif r == "error@lists.test" then
    local t = nil
    return t.field  -- a Lua runtime error
  end
  return nil
end

function filter_message(ctx)
  local subject = ctx.message:header("subject")
  if subject == "error" then
    ctx:add_header("X-Should-Not", "appear")
    error("deliberate error in filter_message")
  elseif subject == "inject" then
    ctx:add_header("X-Injected", "a\r\nBcc: victim@example.org")
  elseif subject == "inject-rcpt" then
    ctx:add_recipient("victim@example.org>\r\nRCPT TO:<x@y")
  end
  ctx:add_header("X-Policy", "seen")
  ctx:change_header("Subject", "[test] " .. (subject or ""))
  ctx:delete_header("X-Secret")
  if ctx.recipients[1] == "list@lists.test" then
    ctx:delete_recipient("list@lists.test")
    ctx:add_recipient("a@members.test")
    ctx:add_recipient("b@members.test")
    ctx:change_sender("list-bounces@lists.test")
  end
  return mlm.continue()
end
