-- macros.lua - reports ctx.macros (the names the MTA uses, with braces)
-- so that macros.sh can check which macros a policy sees at each stage:
-- at RCPT as the text of a refusal (for the address report@), at end of
-- message as an X-Macros header.
local mlm = require "mlm"

local function show(macros)
  local names = {}
  for name in pairs(macros) do
    if #name == 1 or name:sub(1, 1) == "{" then names[#names + 1] = name end
  end
  table.sort(names)
  for i, name in ipairs(names) do names[i] = name .. "=" .. macros[name] end
  return table.concat(names, " ")
end

function filter_sender(ctx)
end

function filter_recipient(ctx)
  if ctx.recipient == "report@lists.test" then
    return mlm.reject(show(ctx.macros), "550", "5.7.1")
  end
end

function filter_message(ctx)
  ctx:add_header("X-Macros", show(ctx.macros))
end
