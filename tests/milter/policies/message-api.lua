-- message-api.lua - reports what the policy sees of the transaction and
-- of the message, so that message-api.sh can check the Lua core API:
-- at MAIL and RCPT as the text of a refusal (for the address report@),
-- at end of message as added X-Seen-* headers. A ctx, message, part or
-- parts iterator kept in a global from one request and used in a later
-- one must give an error, not a crash.
local mlm = require "mlm"

-- A value as one line of text; "nil" for nil, tables joined with ",".
local function show(v)
  if v == nil then return "nil" end
  if type(v) == "table" then return table.concat(v, ",") end
  return tostring(v)
end

local function fields(ctx)
  return string.format(
    "qid=%s hostip=%s hostname=%s helo=%s sender=[%s] recipient=%s " ..
    "recipients=[%s] esmtp=[%s] auth=%s/%s",
    show(ctx.qid), show(ctx.hostip), show(ctx.hostname), show(ctx.helo),
    show(ctx.sender), show(ctx.recipient), show(ctx.recipients),
    show(ctx.esmtp_args), show(ctx.macros["{auth_authen}"]),
    show(ctx.macros.auth_authen))
end

function filter_sender(ctx)
  if ctx.sender == "report@sender.test" then
    return mlm.reject(fields(ctx), "550", "5.7.1")
  end
end

function filter_recipient(ctx)
  if ctx.recipient == "report@lists.test" then
    return mlm.reject(fields(ctx), "550", "5.7.1")
  end
end

-- Globals kept across requests (a policy must not; we check it fails).
kept = kept or {}

local function use_kept(ctx)
  local function try(f)
    local ok, err = pcall(f)
    if ok then return "no error" end
    return (show(err):gsub("^.-:%d+: ", ""))
  end
  ctx:add_header("X-Kept-Exists", kept.ctx and "yes" or "no")
  ctx:add_header("X-Kept-Field", try(function() return kept.ctx.sender end))
  ctx:add_header("X-Kept-Method",
                 try(function() kept.ctx:add_header("X-Late", "1") end))
  ctx:add_header("X-Kept-Message",
                 try(function() return kept.message:header("Subject") end))
  ctx:add_header("X-Kept-Size", try(function() return kept.message.size end))
  ctx:add_header("X-Kept-Part", try(function() return kept.part:text() end))
  ctx:add_header("X-Kept-Iterator", try(function() return kept.iter() end))
end

local function trim(s)
  return (s:gsub("%s+$", ""))
end

function filter_message(ctx)
  local m = ctx.message
  local subject = m:header("subject")
  if subject == "keep" then
    kept.ctx, kept.message = ctx, m
    kept.iter = m:parts()
    kept.part = m:parts()()
    ctx:add_header("X-Kept", "stored")
    return
  elseif subject == "use-kept" then
    use_kept(ctx)
    return
  end

  ctx:add_header("X-Seen-Fields", fields(ctx))
  ctx:add_header("X-Seen-Size", show(m.size))
  ctx:add_header("X-Seen-Subject", show(subject))
  ctx:add_header("X-Seen-Subject-Upper", show(m:header("SUBJECT")))
  ctx:add_header("X-Seen-Missing", show(m:header("X-Not-There")))
  ctx:add_header("X-Seen-Missing-All", tostring(#m:headers("X-Not-There")))
  local received = m:headers("received")
  ctx:add_header("X-Seen-Received", #received .. ":" ..
                 table.concat(received, "|"))
  ctx:add_header("X-Seen-Folded", show(m:header("x-folded")))
  ctx:add_header("X-Seen-To", show(m:addresses("To")))
  ctx:add_header("X-Seen-From", show(m:addresses("from")))
  ctx:add_header("X-Seen-Cc", show(m:addresses("Cc")))
  -- asked again (kept by message.c after the first call): the same
  -- addresses, in a table of its own, for any name in any case
  local first = m:addresses("TO")
  first[1] = "changed@by.script"
  for _, h in ipairs({"Sender", "Reply-To", "Received", "X-Folded"}) do
    m:addresses(h)
  end
  ctx:add_header("X-Seen-To-Again", show(m:addresses("to")) .. "|" ..
                 show(m:addresses("FROM")) .. "|" .. show(m:addresses("cc"))
                 .. "|" .. show(m:addresses("reply-to")) .. "|" ..
                 show(m:addresses("REPLY-TO")))

  -- A method given the wrong kind of object: a Lua error naming both.
  local function wrong(f)
    local ok, err = pcall(f)
    return ok and "no error" or (tostring(err):match("%((.-)%)") or show(err))
  end
  ctx:add_header("X-Seen-Wrong-Type",
                 wrong(function() return m.header(ctx, "Subject") end) .. "|" ..
                 wrong(function() ctx.add_header(m, "X-A", "1") end))

  local parts, texts = {}, {}
  for part in m:parts() do
    parts[#parts + 1] = string.format("%s;%s;%s;%s", show(part.content_type),
                                      show(part.charset), show(part.filename),
                                      show(part.size))
    local text = part:text()
    texts[#texts + 1] = text and trim(text) or "nil"
  end
  ctx:add_header("X-Seen-Parts", table.concat(parts, "|"))
  ctx:add_header("X-Seen-Texts", table.concat(texts, "|"))
  local nested = {}
  for part in m:parts(true) do
    nested[#nested + 1] = part.content_type .. ":" .. show(part.depth)
  end
  ctx:add_header("X-Seen-Nested", table.concat(nested, "|"))
  local first = m:parts()()
  ctx:add_header("X-Seen-Text-Max", show(first and first:text(5)))
end
