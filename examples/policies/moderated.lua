-- moderated.lua - moderation: whole lists by setting, new members by rule.
--
-- Moderating a whole list, or some of its members, takes only settings;
-- the shipped list policy (mlm_lists) does the rest:
--
--   mlm-ctl list set dev@lists.example.org posting moderated
--       every post waits for a moderator
--   mlm-ctl member set dev@lists.example.org bob@example.net moderated yes
--       Bob's posts wait for a moderator
--   mlm-ctl list set dev@lists.example.org nonmember_action hold
--       posts from non-members wait instead of being refused
--   mlm-ctl list set dev@lists.example.org hold_mode defer
--       a held post is answered 450 4.7.1 instead of 250: the sender's MTA
--       retries, the retry is distributed once a moderator approved it and
--       refused (550 5.7.1) once one rejected it, so any bounce is written
--       by the sender's own MTA and never sent to a forged address
--
-- Moderators decide with
--
--   mlm-ctl held dev@lists.example.org
--   mlm-ctl held show ID
--   mlm-ctl held approve|reject|discard ID
--
-- This policy adds a rule that needs a little state: the first post of
-- every member waits for a moderator; once a moderator approved one post of
-- a member, that member's later posts go straight through (new-member
-- moderation, as on many hand-run lists). Owners and moderators are never
-- held by this rule. The state lives in a table of its own in the mlm
-- database (mlm.db): never in Lua globals, since every stage may run in
-- another worker, and workers come and go.
--
-- The held posts are the shipped policy's held posts: the same queue, the
-- same mlm-ctl commands, the list's hold_mode honoured.

local mlm = require "mlm"
local lists = require "mlm_lists"

local REASON = "first post of a new member"

-- Runs once in each worker (and in mlm-ctl check and try): our table.
function init()
  mlm.db:exec([[
    CREATE TABLE IF NOT EXISTS example_approved_posters (
      list_id INTEGER NOT NULL,
      address TEXT NOT NULL,
      since INTEGER NOT NULL,
      PRIMARY KEY (list_id, address))]])
end

local function has_posted(list, address)
  local n = 0
  -- The loop runs to its end, which closes the statement at once.
  for row in mlm.db:rows("SELECT count(*) AS n FROM example_approved_posters"
      .. " WHERE list_id = ? AND address = ?", list.id, address) do
    n = row.n
  end
  return n > 0
end

local function remember_poster(list, address)
  mlm.db:exec("INSERT OR IGNORE INTO example_approved_posters "
    .. "(list_id, address, since) VALUES (?, ?, ?)",
    list.id, address, os.time())
end

-- The list this transaction posts to, or nil (the shipped RCPT stage has
-- made sure that a list address is alone in its transaction).
local function posted_list(ctx)
  for _, rcpt in ipairs(ctx.recipients) do
    local kind, list = mlm.resolve(rcpt)
    if kind == "post" then
      return list
    end
  end
  return nil
end

-- The member address this post comes from (envelope sender or From:), as
-- the database holds it, and whether that address is also an owner or a
-- moderator; nil for a non-member, whom the shipped policy handles.
local function posting_member(ctx, list)
  local candidates = { ctx.sender }
  for _, a in ipairs(ctx.message:addresses("From")) do
    candidates[#candidates + 1] = a
  end
  for _, a in ipairs(candidates) do
    local member = a ~= "" and list:member(a)
    if member then
      local roles = list:roles(a)
      return member.address, roles.owner or roles.moderator
    end
  end
  return nil
end

-- Tell the moderators (or the owners) that a post waits; a failure to
-- notify is logged, never fatal: the post is stored whatever happens.
local function notify(ctx, list, id)
  local a = lists.addresses(list)
  local to = {}
  for m in list:members("moderator") do to[#to + 1] = m.address end
  if #to == 0 then
    for m in list:members("owner") do to[#to + 1] = m.address end
  end
  if #to == 0 then
    return
  end
  local text = table.concat({
    "From: " .. a.owner,
    "To: " .. a.owner,
    "Subject: " .. a.post .. " post " .. id .. " held: " .. REASON,
    "Auto-Submitted: auto-generated",
    "Precedence: bulk",
    "",
    "Decide with: mlm-ctl held approve|reject|discard " .. id,
    "",
  }, "\r\n")
  local ok, err = pcall(mlm.sendmail, a.bounces, to, text)
  if not ok then
    mlm.log("warning", "cannot notify the moderators: " .. tostring(err))
  end
end

-- Hold the post as the shipped policy would, honouring hold_mode. Returns
-- a reply, or nil when this is the retry of a post that was approved.
local function hold(ctx, list, address)
  if list.hold_mode == "defer" then
    local held = list:held_retry(ctx)
    if held and held.state == "approved" then
      remember_poster(list, address)
      return nil
    elseif held and held.state == "distributed" then
      return mlm.discard()  -- a duplicate of a post the members have
    elseif held and held.state == "pending" then
      return mlm.tempfail("Your post to " .. list.address
        .. " is awaiting moderator approval", "450", "4.7.1")
    elseif held then
      return mlm.reject("Your post to " .. list.address
        .. " was not approved by its moderators", "550", "5.7.1")
    end
    notify(ctx, list, list:hold(ctx, REASON))
    return mlm.tempfail("Your post to " .. list.address
      .. " is awaiting moderator approval", "450", "4.7.1")
  end
  notify(ctx, list, list:hold(ctx, REASON))
  return mlm.discard()   -- 250: the post is safe in the queue
end

filter_recipient = lists.filter_recipient

function filter_message(ctx)
  local list = posted_list(ctx)
  if list then
    local address, privileged = posting_member(ctx, list)
    if address and not privileged then
      local mark = ctx.message:header("X-Mlm-Approved")
      if mark and list:approved(mark, ctx) then
        -- A moderator approved this post: the member is known from now on.
        remember_poster(list, address)
      elseif not has_posted(list, address) then
        local reply = hold(ctx, list, address)
        if reply then
          return reply
        end
      end
    end
  end
  return lists.filter_message(ctx)
end
