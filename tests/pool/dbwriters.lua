-- Every request writes to the database: for the concurrency test.
local mlm = require "mlm"

function init()
  mlm.db:exec("CREATE TABLE IF NOT EXISTS seen (qid TEXT, sender TEXT)")
end

function filter_sender(ctx)
  mlm.db:exec("INSERT INTO seen (qid, sender) VALUES (?, ?)", ctx.qid, ctx.sender)
end

function filter_recipient(ctx)
  local kind = mlm.resolve(ctx.recipient)
  if kind == "unknown" then
    return mlm.reject("No such list", "550", "5.1.1")
  end
end
