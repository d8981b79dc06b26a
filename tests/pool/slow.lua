-- Pool tests: slow, looping and crashing requests chosen by the sender.
local mlm = require "mlm"

local function spin(seconds)
  local stop = os.clock() + seconds
  while os.clock() < stop do end
end

function filter_sender(ctx)
  local s = ctx.sender
  if s == "slow@pool.test" then
    spin(1.0)
  elseif s == "slower@pool.test" then
    spin(3.0)
  elseif s == "loop@pool.test" then
    while true do end
  elseif s == "hang@pool.test" then
    spin(3600)
  elseif s == "sendmail@pool.test" then
    -- mail to send: the call returns once it is in the outbox, whatever
    -- the configured sendmail does
    local ok = pcall(mlm.sendmail, "", "rcpt@pool.test",
                     "Subject: t\r\n\r\nt\r\n")
    if ok then
      return mlm.reject("queued", "550", "5.7.1")
    end
  elseif s == "hog@pool.test" then
    -- 600 MB, past a worker_memory_limit (lua_memory_limit = 0)
    local big = string.rep("x", 600 * 1024 * 1024)
    if #big > 0 then return mlm.continue() end
  end
  return mlm.continue()
end

function filter_recipient(ctx)
  if ctx.recipient == "refuse@pool.test" then
    return mlm.reject("No", "550", "5.1.1")
  end
end

function filter_message(ctx)
  if ctx.sender == "slowmsg@pool.test" then
    spin(1.0)
  end
  ctx:add_header("X-Pool", "yes")
end
