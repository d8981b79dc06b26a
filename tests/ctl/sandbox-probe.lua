-- tests/ctl/sandbox-probe.lua - a policy that tries every way to reach
-- what the sandbox removes (mlm-lua(7), THE SANDBOX) and names each way
-- that found a real function.
--
-- At load (what mlm-ctl check runs) it raises "sandbox: reachable: ..."
-- when any way succeeded; otherwise it defines filter_message, which runs
-- the probe again inside a request and rejects the message with the same
-- list, or accepts it with "X-Sandbox-Tried: N" (the number of attempts).
-- Before either, a control checks that the probe finds what the sandbox
-- keeps (os.time, string.format, ...) by the same ways: a probe that
-- finds nothing proves nothing, so then it raises "probe broken: ...".

-- What must be unreachable, as library and name.
local REMOVED = {
  {"os", "execute"}, {"os", "exit"}, {"os", "remove"}, {"os", "rename"},
  {"os", "tmpname"}, {"os", "setlocale"},
  {"io", "open"}, {"io", "popen"}, {"io", "lines"}, {"io", "read"},
  {"io", "write"}, {"io", "input"}, {"io", "output"}, {"io", "tmpfile"},
  {"io", "close"},
  {"_G", "dofile"}, {"_G", "loadfile"},
  {"package", "loadlib"}, {"package", "searchpath"}, {"package", "searchers"},
  {"package", "preload"}, {"package", "loaded"},
  {"debug", "getinfo"}, {"debug", "getlocal"}, {"debug", "setlocal"},
  {"debug", "getregistry"}, {"debug", "getupvalue"},
  {"debug", "setupvalue"}, {"debug", "upvaluejoin"}, {"debug", "sethook"},
  {"debug", "getmetatable"}, {"debug", "setmetatable"}, {"debug", "debug"},
  {"string", "dump"},
}
-- What the sandbox keeps: the control.
local KEPT = {
  {"os", "time"}, {"os", "date"}, {"os", "getenv"}, {"string", "format"},
  {"table", "concat"}, {"math", "floor"}, {"utf8", "char"},
  {"coroutine", "wrap"}, {"_G", "pcall"},
}

local tried = 0
local rawget, pcall, type, next, getmetatable, load, require, select =
  rawget, pcall, type, next, getmetatable, load, require, select
local G = _G

-- Each way takes a library name and returns that library's table (or nil).
local function package_table()
  local p = rawget(G, "package")
  if type(p) == "table" then return p end
  local ok, r = pcall(require, "package")
  if ok and type(r) == "table" then return r end
end

local function via_metatables(lib)
  -- The metatables of every kind of value a policy can make.
  local values = {"", 0, G, print, coroutine.create(print), true}
  if CTX then values[#values + 1] = CTX; values[#values + 1] = CTX.message end
  for _, v in next, values do
    local mt = getmetatable(v)
    if type(mt) == "table" then
      local idx = rawget(mt, "__index")
      if type(idx) == "table" then
        if lib == "string" and v == "" then return idx end
        if type(rawget(idx, lib)) == "table" then return rawget(idx, lib) end
      end
    end
  end
end

local WAYS = {
  {"global", function(lib) return lib == "_G" and G or rawget(G, lib) end},
  {"_ENV", function(lib) return lib == "_G" and _ENV or _ENV[lib] end},
  {"require", function(lib)
    local ok, r = pcall(require, lib)
    if ok then return r end
  end},
  {"package.loaded", function(lib)
    local p = package_table()
    return p and type(p.loaded) == "table" and p.loaded[lib] or nil
  end},
  {"package.preload", function(lib)
    local p = package_table()
    local f = p and type(p.preload) == "table" and p.preload[lib]
    if type(f) == "function" then
      local ok, r = pcall(f, lib)
      if ok then return r end
    end
  end},
  {"metatable", via_metatables},
  {"load", function(lib)
    local f = load("return " .. (lib == "_G" and "_G" or lib), "=probe", "t")
    if f then local ok, r = pcall(f); if ok then return r end end
  end},
  {"load-env", function(lib)
    local f = load("local r = require; return r(...)", "=probe", "t",
                   {require = require})
    if f then local ok, r = pcall(f, lib); if ok then return r end end
  end},
  {"coroutine", function(lib)
    local co = coroutine.wrap(function()
      local ok, r = pcall(require, lib)
      if ok and type(r) == "table" then return r end
      return lib == "_G" and G or rawget(G, lib)
    end)
    return co()
  end},
  {"registry", function(lib)
    local d = rawget(G, "debug")
    if type(d) == "table" and type(d.getregistry) == "function" then
      local reg = d.getregistry()
      return type(reg._LOADED) == "table" and reg._LOADED[lib] or nil
    end
  end},
}

-- Every (library, name) pair by every way: the ways that gave a function
-- (or, for package's tables, a table).
local function reach(pairs_list)
  local found = {}
  for _, pair in next, pairs_list do
    local lib, name = pair[1], pair[2]
    for _, way in next, WAYS do
      tried = tried + 1
      local ok, t = pcall(way[2], lib)
      if ok and type(t) == "table" then
        local v = rawget(t, name)
        if type(v) == "function" or (lib == "package" and type(v) == "table")
        then
          found[#found + 1] = way[1] .. ":" .. lib .. "." .. name
        end
      end
    end
  end
  return found
end

-- Every table reachable from the globals (and the string metatable and
-- the request's objects): a key of a removed function's name whose value
-- is a function the sandbox does not give under that name.
local SCAN_NAMES = {}
for _, pair in next, REMOVED do SCAN_NAMES[pair[2]] = true end
-- Kept functions whose names a removed one shares.
local ALLOWED = {[table.remove] = true, [getmetatable] = true,
                 [setmetatable] = true, [coroutine.close] = true}
local function scan(found)
  local seen, todo = {}, {G, getmetatable("")}
  if CTX then
    todo[#todo + 1] = getmetatable(CTX)
    todo[#todo + 1] = getmetatable(CTX.message)
  end
  while #todo > 0 do
    local t = table.remove(todo)
    if type(t) == "table" and not seen[t] then
      seen[t] = true
      tried = tried + 1
      local mt = getmetatable(t)
      if type(mt) == "table" then todo[#todo + 1] = mt end
      for k, v in next, t do
        if SCAN_NAMES[k] and type(v) == "function" and not ALLOWED[v] then
          found[#found + 1] = "scan:" .. tostring(k)
        end
        if type(v) == "table" then todo[#todo + 1] = v end
      end
    end
  end
end

-- Other things that must fail: a list of what did not.
local function others(found)
  local function attempt(what, f)
    tried = tried + 1
    local ok, r = pcall(f)
    if ok and r ~= false then found[#found + 1] = what end
  end
  attempt("load-binary-chunk", function()
    -- A precompiled chunk's header: refused as binary, not parsed.
    local f, err = load("\27Lua\84\0\25\147\13\10\26\10", "=b", "b")
    return f ~= nil or not tostring(err):find("binary", 1, true)
  end)
  attempt("load-binary-reader", function()
    local given = false
    local f, err = load(function()
      if given then return nil end
      given = true
      return "\27Lua\84\0"
    end, "=b", "bt")
    return f ~= nil or not tostring(err):find("binary", 1, true)
  end)
  for _, c in next, {"io", "debug", "package", "lpeg", "socket", "lfs",
                     "posix", "cjson", "ffi"} do
    attempt("require-" .. c, function() return require(c) end)
  end
  for _, name in next, {"../../../../etc/passwd", "/etc/passwd", "..",
                        "mlm_lists/../mlm_lists", "mlm_lists\0x"} do
    attempt("require-name:" .. name:gsub("%z", "\\0"), function()
      return require(name)
    end)
  end
  -- The policy's SQL reaches no other file (TMPDIR: the test's).
  local okm, mlm = pcall(require, "mlm")
  local dir = os.getenv("TMPDIR") or "/tmp"
  if okm and mlm.db then
    attempt("sql-attach", function()
      return mlm.db:exec("ATTACH DATABASE ? AS probe", dir .. "/attached.db")
    end)
    attempt("sql-vacuum-into", function()
      return mlm.db:exec("VACUUM INTO ?", dir .. "/vacuumed.db")
    end)
    attempt("sql-load-extension", function()
      for row in mlm.db:rows("SELECT load_extension('libc.so.6') AS r") do
      end
      return true
    end)
  else
    found[#found + 1] = "probe: no mlm.db"
  end
  for _, opt in next, {"stop", "setpause", "setstepmul", "incremental",
                       "generational"} do
    attempt("collectgarbage-" .. opt, function()
      local r = collectgarbage(opt, 1000)
      collectgarbage("restart")
      return true
    end)
  end
end

local function probe()
  local broken = {}
  local kept = reach(KEPT)
  local need = #KEPT * 4 -- at least global, _ENV, require, load
  if #kept < need then
    broken[#broken + 1] = "found " .. #kept .. " of " .. need .. " kept"
  end
  if ("x"):rep(3) ~= "xxx" or collectgarbage("count") <= 0 then
    broken[#broken + 1] = "string methods or collectgarbage count"
  end
  if #broken > 0 then error("probe broken: " .. table.concat(broken, "; ")) end
  local found = reach(REMOVED)
  scan(found)
  others(found)
  return found
end

local found = probe()
if #found > 0 then
  error("sandbox: reachable: " .. table.concat(found, " "))
end

local mlm = require "mlm"

function filter_message(ctx)
  CTX = ctx
  tried = 0
  local found = probe()
  CTX = nil
  if #found > 0 then
    return mlm.reject("sandbox: reachable: " .. table.concat(found, " "))
  end
  ctx:add_header("X-Sandbox-Tried", tostring(tried))
end
