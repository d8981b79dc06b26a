-- mlm_owner_commands.lua - the owners' commands by mail to NAME-request@,
-- for the shipped list policy (mlm_list_request calls it):
--
--   add ADDRESS [NAME]         make ADDRESS a member (as mlm-ctl member add)
--   remove ADDRESS             take the member role away
--   moderate ADDRESS yes|no    the member's moderated flag
--   held                       the pending held posts, with the owner's
--                              own reply addresses to decide each
--
-- as the first word of the Subject or of the first body line. Only an
-- address with the owner role is answered, at its address as the list
-- holds it: a stranger's (or a forger's) command gets no mail and changes
-- nothing. A change is confirmed the way subscribe is: a single-use token
-- (list:token, the action "owner<TAB>VERB<TAB>ADDRESS<TAB>ARGUMENT") goes
-- to the owner's address and the reply "confirm TOKEN" performs it, when
-- the address the token was made for is still an owner; the change is in
-- the change log with the confirming mail's sender (mlm-ctl log). held is
-- answered at once. Each answer takes the address's hourly token of the
-- list (one mail an address, list and hour, as the member commands) and
-- the reply quota (mlm.reply_quota); robots never get here.
--
-- Text from the mail is cut to mlm_text.COMMAND_TEXT_MAX first and every
-- pattern on it is anchored, its classes disjoint: linear time.

local mlm = require "mlm"
local common = require "mlm_list_common"
local moderation = require "mlm_moderation"
local text = require "mlm_text"

local M = {}

local VERBS = { add = true, remove = true, moderate = true, held = true }
local SWITCH = { yes = "yes", on = "yes", no = "no", off = "no" }
-- Bytes of a member's name taken from an add.
local NAME_MAX = 100
-- Held posts listed in one answer to held.
M.HELD_SHOWN = 50

-- ADDRESS, or <ADDRESS>, as an ASCII addr-spec of at most 254 bytes: the
-- address, or nil. Look-alikes in other scripts are no address here.
local function address_of(word)
  word = word:match("^<(.*)>$") or word
  if #word > 254 then return nil end
  if not word:find("^[%w%.!#$%%&'*+/=?^_`{|}~%-]+@[%w%-]+%.[%w%.%-]+$") then
    return nil
  end
  return word
end

-- The owner command text starts with: a table { verb, address, value,
-- name }, { verb = "invalid" } for an owner verb with bad arguments, or
-- nil when text starts with no owner verb.
function M.parse(line)
  line = line:sub(1, text.COMMAND_TEXT_MAX)
  local verb, e = line:match("^%s*(%a+)()")
  verb = verb and verb:lower()
  if not verb or not VERBS[verb] then return nil end
  if verb == "held" then
    if line:find("^%s*$", e) then return { verb = "held" } end
    return { verb = "invalid" }
  end
  local word, e2 = line:match("^%s+(%S+)()", e)
  local address = word and address_of(word)
  if not address then return { verb = "invalid" } end
  local rest = text.trim(line:sub(e2))
  if verb == "moderate" then
    local value = SWITCH[rest:lower()]
    if not value then return { verb = "invalid" } end
    return { verb = verb, address = address, value = value }
  elseif verb == "remove" then
    if rest ~= "" then return { verb = "invalid" } end
    return { verb = verb, address = address }
  end
  return { verb = verb, address = address,
    name = text.utf8_cut((rest:gsub("[%c\t]", " ")), NAME_MAX) }
end

-- The command as the owner reads it in the answers.
local function shown(verb, address, argument)
  return verb .. " " .. address .. (argument ~= "" and " " .. argument or "")
end

-- The pending held posts of list, as the held answer shows them to owner.
local function held_items(list, owner)
  local rows = {}
  for row in mlm.db:rows("SELECT id, sender, subject, reason FROM held "
      .. "WHERE list_id = ? AND state = 'pending' ORDER BY id LIMIT ?",
      list.id, M.HELD_SHOWN + 1) do
    rows[#rows + 1] = row
  end
  local count = 0
  for row in mlm.db:rows("SELECT count(*) AS n FROM held "
      .. "WHERE list_id = ? AND state = 'pending'", list.id) do
    count = row.n
  end
  local items = {}
  for i = 1, math.min(#rows, M.HELD_SHOWN) do
    local row = rows[i]
    local subject = row.subject ~= "" and row.subject or "(no subject)"
    items[i] = common.fragment(list, "owner-held-item",
      moderation.action_vars(list, row.id, owner, {
        sender = row.sender ~= "" and row.sender or "<>",
        subject = subject:sub(1, 300):gsub("%c", " "),
        reason = row.reason }))
  end
  return table.concat(items), count
end

-- An owner command cmd (M.parse) in a mail from ctx.sender to list's
-- NAME-request@ (a: its addresses). mail(to, name, vars) sends list's
-- template name; log(level, fmt, ...) logs.
function M.request(ctx, list, a, cmd, mail, log)
  local owner = list:member(ctx.sender, "owner")
  if not owner then
    log("info", "%s: owner command %s from %s, not an owner: not answered",
      a.post, cmd.verb, ctx.sender)
    return
  end
  -- held and the usage answer change nothing and take no token (a token
  -- would block the owner's next command for an hour): only the reply
  -- quota (mail) bounds them
  local token, why
  if cmd.verb ~= "held" and cmd.verb ~= "invalid" then
    -- the newest command replaces the owner's pending one: a command
    -- forged in the owner's name cannot hold the hour's token
    mlm.db:exec("DELETE FROM tokens WHERE list_id = ? AND address = ? "
      .. "AND action LIKE ?", list.id, owner.address, "owner\t%")
    token, why = list:token(owner.address, table.concat({ "owner", cmd.verb,
      cmd.address, cmd.value or cmd.name or "" }, "\t"))
    if not token then
      log("info", "%s: owner command %s from %s not answered: %s", a.post,
        cmd.verb, owner.address, why)
      return
    end
  end
  if cmd.verb == "invalid" then
    log("info", "%s: owner command from %s not understood: usage sent",
      a.post, owner.address)
    mail(owner.address, "owner-usage", {})
  elseif cmd.verb == "held" then
    local items, count = held_items(list, owner.address)
    log("info", "%s: held posts (%d) sent to the owner %s", a.post, count,
      owner.address)
    mail(owner.address, "owner-held", { count = count, items = items,
      moderator = owner.address,
      more = count > M.HELD_SHOWN and common.fragment(list,
        "owner-held-more", { shown = M.HELD_SHOWN }) or "" })
  else
    log("info", "%s: owner command %s from %s: confirmation sent", a.post,
      shown(cmd.verb, cmd.address, cmd.value or ""), owner.address)
    mail(owner.address, "confirm-owner-" .. cmd.verb, { token = token,
      address = owner.address, member = cmd.address,
      value = cmd.value or "" })
  end
end

-- Whether a token's action is an owner command's.
function M.is_action(action)
  return action:sub(1, 6) == "owner\t"
end

-- A confirmed owner command: the token of list made for address held
-- action. Done when address is still an owner; the owner is told.
function M.confirm(ctx, list, a, address, action, mail, log)
  local verb, member, argument =
    action:match("^owner\t(%a+)\t([^\t]*)\t([^\t]*)$")
  local owner = list:member(address, "owner")
  if not verb or not owner then
    log("info", "%s: owner command of %s confirmed, but %s: nothing done",
      a.post, address, verb and "no owner now" or "not a command")
    return
  end
  local ok, why
  if verb == "add" then
    ok, why = list:add_member(member, "member",
      argument ~= "" and argument or nil)
  elseif verb == "remove" then
    ok, why = list:remove_member(member, "member")
  elseif verb == "moderate" then
    ok, why = list:set_member(member, "moderated", argument, "member")
  else
    ok, why = nil, "unknown command"
  end
  local command = shown(verb, member, argument)
  log("info", "%s: owner command %s of %s (confirmed): %s", a.post, command,
    owner.address, ok and "done" or tostring(why))
  mail(owner.address, ok and "owner-done" or "owner-failed",
    { command = command, reason = tostring(why or "") })
end

return M
