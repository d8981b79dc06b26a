-- changes.lua - every change a policy can make at end of message, chosen
-- by the Subject, and changes asked for too early (at MAIL and RCPT),
-- which are Lua errors. Used by changes.sh.
local mlm = require "mlm"

function filter_sender(ctx)
  if ctx.sender == "early-header@sender.test" then
    ctx:add_header("X-Too-Early", "yes")          -- a Lua error
  elseif ctx.sender == "early-sender@sender.test" then
    ctx:change_sender("other@sender.test")        -- a Lua error
  elseif ctx.sender == "early-pcall@sender.test" then
    -- The policy sees the error as a Lua error it could catch.
    local ok, err = pcall(ctx.add_header, ctx, "X-Too-Early", "yes")
    if ok then return mlm.accept() end
    if tostring(err):find("only possible in filter_message", 1, true) then
      return mlm.reject("early change refused: " .. "filter_sender", "550",
                        "5.7.1")
    end
    return mlm.tempfail("unexpected error text", "451", "4.7.0")
  end
end

function filter_recipient(ctx)
  if ctx.recipient == "early@lists.test" then
    ctx:add_recipient("extra@members.test")       -- a Lua error
  end
end

local actions = {}

function actions.headers(ctx)
  ctx:add_header("X-Added", "added value")
  ctx:add_header("X-Added-Twice", "first")
  ctx:add_header("X-Added-Twice", "second")
  ctx:change_header("Subject", "[list] headers")
  ctx:change_header("X-Multi", "2", 2)             -- the 2nd X-Multi
  ctx:change_header("X-One", "1")                  -- index 1 by default
  ctx:delete_header("X-Secret")
  ctx:delete_header("X-Multi", 3)                  -- the 3rd X-Multi
end

-- One header per name whatever arrived, and every header of a name gone.
actions["set-headers"] = function(ctx)
  ctx:set_header("X-Multi", "only")   -- three arrived: 1st changed, 3rd, 2nd deleted
  ctx:set_header("X-New", "new")      -- none arrived: added
  ctx:set_header("x-one", "uno")      -- names compare case-insensitively
  ctx:delete_headers("X-Secret")
  ctx:delete_headers("X-Absent")      -- none arrived: nothing
end

actions["set-header-crlf"] = function(ctx)
  ctx:add_header("X-Before", "1")
  ctx:set_header("X-New", "a\r\nBcc: victim@example.org") -- a Lua error
end

function actions.envelope(ctx)
  ctx:delete_recipient("list@lists.test")
  ctx:add_recipient("a@members.test")
  ctx:add_recipient("b@members.test")
  ctx:change_sender("list-bounces@lists.test")
end

-- Members whose address needs xtext in ORCPT, or cannot be given as one.
actions["esmtp"] = function(ctx)
  ctx:add_recipient("a+b=c@members.test")
  ctx:add_recipient("j\195\188rgen@members.test")
  ctx:change_sender("list-bounces@lists.test")
end

-- "expand N": N members added (the test's expand_max is 3)
for n = 2, 5 do
  actions["expand " .. n] = function(ctx)
    ctx:add_header("X-Expanded", tostring(n))
    ctx:delete_recipient("list@lists.test")
    for i = 1, n do ctx:add_recipient("m" .. i .. "@members.test") end
  end
end

function actions.quarantine(ctx)
  ctx:quarantine("held for review")
end

function actions.footer(ctx)
  ctx:add_footer{text = "List footer: see https://lists.test/"}
end

-- Everything at once: one atomic set of actions.
function actions.all(ctx)
  actions.headers(ctx)
  actions.envelope(ctx)
  actions.footer(ctx)
end

-- Changes recorded, then a refusal: none of them may be applied.
actions["reject-after-changes"] = function(ctx)
  actions.all(ctx)
  return mlm.reject("No", "550", "5.7.1")
end

actions["error-after-changes"] = function(ctx)
  actions.all(ctx)
  error("failed after recording changes")
end

actions["accept-with-changes"] = function(ctx)
  actions.headers(ctx)
  return mlm.accept()
end

actions["bad-index"] = function(ctx)
  ctx:add_header("X-Before", "1")
  ctx:change_header("X-Multi", "v", 0)             -- index 0: a Lua error
end

function filter_message(ctx)
  local subject = ctx.message:header("Subject")
  local f = actions[subject]
  if f then return f(ctx) end
  return mlm.continue()
end
