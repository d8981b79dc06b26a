-- fuzz_message.lua - the fixed policy fuzz_message runs over each input:
-- everything ctx.message offers a policy, on the headers a list policy
-- reads, then a footer. A broken promise of the message API (text that is
-- not UTF-8, a field of the wrong type) is raised as "FUZZ-PROPERTY", which
-- the harness turns into a crash; any other Lua error is an accepted way
-- to refuse a message.
local mlm = require "mlm"

local function prop(ok, what)
  if not ok then error("FUZZ-PROPERTY: " .. what, 2) end
end

local function utf8_ok(s, what)
  prop(type(s) == "string", what .. " is a " .. type(s))
  prop(utf8.len(s) ~= nil, what .. " is not valid UTF-8")
end

local names = { "From", "To", "Subject", "Cc", "Reply-To" }

function filter_message(ctx)
  local m = ctx.message
  prop(math.type(m.size) == "integer", "message.size")
  for _, name in ipairs(names) do
    local v = m:header(name)
    if v ~= nil then utf8_ok(v, name) end
    local all = m:headers(name)
    prop(type(all) == "table", "headers(" .. name .. ")")
    prop((v == nil) == (#all == 0), "header/headers disagree on " .. name)
    for i, x in ipairs(all) do utf8_ok(x, name .. "[" .. i .. "]") end
    for _, a in ipairs(m:addresses(name)) do
      utf8_ok(a, "address in " .. name)
      prop(a ~= "", "empty address in " .. name)
    end
  end
  local n = 0
  for part in m:parts() do
    n = n + 1
    local ct = part.content_type
    utf8_ok(ct, "content_type")
    prop(ct == ct:lower(), "content_type not lower case")
    if part.filename ~= nil then utf8_ok(part.filename, "filename") end
    if part.charset ~= nil then utf8_ok(part.charset, "charset") end
    prop(math.type(part.size) == "integer" and part.size >= 0, "part.size")
    local text = part:text()
    if text ~= nil then utf8_ok(text, "part:text()") end
  end
  prop(n <= 10000, "more than PARTS_MAX parts")
  local nested = 0
  for part in m:parts(true) do
    nested = nested + 1
    prop(math.type(part.depth) == "integer" and part.depth >= 0
      and part.depth <= 8, "part.depth")
    local text = part:text(100)
    if text ~= nil then utf8_ok(text, "part:text(100)") end
  end
  prop(nested >= n and nested <= 10000, "parts(true) count")
  ctx:add_footer{text = "footer ü"}
  return mlm.continue()
end
