-- errors.lua - a policy that fails on purpose, at every stage and in every
-- way a policy can fail: Lua errors, unsafe changes, endless loops (also
-- inside pcall), a memory bomb, and reaching for what the sandbox leaves
-- out. Each failure is chosen by the client's host name, HELO name,
-- sender, recipient or Subject; anything else is served normally. The
-- "LINE:" comments let errors.sh find the line numbers the log must name.
-- Used by errors.sh (run with lua_instruction_limit and lua_memory_limit).
local mlm = require "mlm"

function filter_relay(ctx)
  if ctx.hostname == "error.relay.test" then
    error("deliberate error in filter_relay") -- LINE:relay
  end
end

function filter_helo(ctx)
  if ctx.helo == "error.helo.test" then
    error("deliberate error in filter_helo") -- LINE:helo
  end
end

local sender_failures = {
  ["error@sender.test"] = function()
    error("deliberate error in filter_sender") -- LINE:error
  end,
  ["error-object@sender.test"] = function()
    error({code = 42}) -- LINE:error-object
  end,
  ["loop@sender.test"] = function()
    while true do end -- LINE:loop
  end,
  ["pcall-loop@sender.test"] = function()
    -- The limit keeps firing, so pcall cannot swallow it.
    pcall(function() while true do end end); return mlm.accept() -- LINE:pcall-loop
  end,
  ["pcall-loop-again@sender.test"] = function()
    for _ = 1, 3 do pcall(function() while true do end end) end -- LINE:pcall-loop-again
    return mlm.accept()
  end,
  ["membomb@sender.test"] = function()
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end
    return mlm.accept()
  end,
  ["pcall-membomb@sender.test"] = function()
    pcall(function()
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end
    end)
    return mlm.accept()
  end,
  ["os-exit@sender.test"] = function()
    os.exit(1) -- LINE:os-exit
  end,
  ["io@sender.test"] = function()
    local f = io.open("/etc/passwd") -- LINE:io
    return mlm.reject(f and "io.open worked" or "io.open failed")
  end,
  ["dofile@sender.test"] = function()
    dofile("/etc/passwd") -- LINE:dofile
  end,
  ["loadfile@sender.test"] = function()
    loadfile("/etc/passwd") -- LINE:loadfile
  end,
  ["os-execute@sender.test"] = function()
    os.execute("true") -- LINE:os-execute
  end,
  ["require-io@sender.test"] = function()
    local io_lib = require "io" -- LINE:require-io
    return mlm.reject(io_lib and "require io worked" or "no io")
  end,
  ["bytecode@sender.test"] = function()
    -- There is no string.dump either: a precompiled chunk's header.
    local f = load("\27Lua\84\0\25\147\13\10\26\10", "=bytecode")
    if f then return mlm.reject("bytecode was loaded") end
    error("no bytecode") -- LINE:bytecode
  end,
}

function filter_sender(ctx)
  local f = sender_failures[ctx.sender]
  if f then return f() end
end

function filter_recipient(ctx)
  if ctx.recipient == "error@lists.test" then
    local t = nil
    return t.field -- LINE:recipient
  end
end

local message_failures = {
  ["message-error"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    error("deliberate error in filter_message") -- LINE:message-error
  end,
  ["inject-header"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:add_header("X-Injected", "a\r\nBcc: victim@example.org") -- LINE:inject-header
  end,
  ["inject-header-lf"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:change_header("Subject", "a\nBcc: victim@example.org") -- LINE:inject-header-lf
  end,
  ["inject-header-name"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:add_header("Bcc: victim@example.org\r\nX-Y", "z") -- LINE:inject-header-name
  end,
  ["inject-rcpt-crlf"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:add_recipient("victim@example.org>\r\nRCPT TO:<x@y") -- LINE:inject-rcpt-crlf
  end,
  ["inject-rcpt-angle"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:add_recipient("a@example.org>, <victim@example.org") -- LINE:inject-rcpt-angle
  end,
  ["inject-rcpt-ctl"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:add_recipient("vic\ttim@example.org") -- LINE:inject-rcpt-ctl
  end,
  ["inject-rcpt-nul"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:add_recipient("victim@example.org\0evil@example.org") -- LINE:inject-rcpt-nul
  end,
  ["inject-delete-rcpt"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:delete_recipient("list@lists.test>\r\n") -- LINE:inject-delete-rcpt
  end,
  ["inject-sender"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:change_sender("<bounces@lists.test>") -- LINE:inject-sender
  end,
  ["inject-quarantine"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    ctx:quarantine("reason\r\nwith a line break") -- LINE:inject-quarantine
  end,
  ["message-loop"] = function(ctx)
    ctx:add_header("X-Should-Not", "appear")
    while true do end -- LINE:message-loop
  end,
}

function filter_message(ctx)
  local subject = ctx.message:header("Subject")
  local f = message_failures[subject]
  if f then return f(ctx) end
  ctx:add_header("X-Policy", "seen")
end
