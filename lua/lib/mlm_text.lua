-- mlm_text.lua - reading text from the mail in linear time, for the
-- shipped list policy's modules (and for tests and policies, as
-- mlm_lists.text).
--
-- Lua's pattern matcher is C code: the instruction limit does not stop it,
-- and an unanchored pattern that can backtrack (such as "%s+$") is
-- quadratic in a run of what it matches. So every pattern the shipped
-- policy runs on text from the mail is anchored or cannot backtrack, and
-- runs on an input cut to a bound first: each costs time linear in at most
-- the bound. These helpers are M.text, for tests and for policies.

-- Bytes of a header (Subject) or of a body that are searched for a request
-- command or a subject prefix; a command and its token are a few words.
local COMMAND_TEXT_MAX = 1000
-- Bytes of the first text/plain part read for the first non-blank line.
local BODY_SCAN_MAX = 4096

-- s without leading and trailing white space, in linear time: each
-- find("%S") tries one character at each position.
local function trim(s)
  local first = s:find("%S")
  if not first then return "" end
  return s:sub(first, #s + 1 - s:reverse():find("%S"))
end

-- The first non-blank line of text (its first BODY_SCAN_MAX bytes),
-- trimmed and cut to COMMAND_TEXT_MAX bytes, or "".
local function first_line(text)
  for line in text:sub(1, BODY_SCAN_MAX):gmatch("[^\r\n]+") do
    line = trim(line)
    if line ~= "" then return line:sub(1, COMMAND_TEXT_MAX) end
  end
  return ""
end

local TOKEN_LENGTH = 32 -- hex digits of a confirmation token

-- The token of the first "confirm TOKEN" in text ("confirm" in any case),
-- or nil: TOKEN_LENGTH lower-case hex digits, the form tokens are sent in,
-- that no letter, digit, "_" or non-ASCII byte follows, so a longer word
-- is no token. A plain find of "confirm", then one anchored match after
-- it: no two attempts scan the same characters.
local function confirm_token(text)
  text = text:sub(1, COMMAND_TEXT_MAX)
  local lower = text:lower() -- as long as text: positions are the same
  local init = 1
  while true do
    local _, e = lower:find("confirm", init, true)
    if not e then return nil end
    local token, after = text:match("^%s+([0-9a-f]+)()", e + 1)
    if token and #token == TOKEN_LENGTH
        and not text:find("^[%w_\128-\255]", after) then
      return token
    end
    init = e + 1
  end
end

local REPLY_PREFIXES = { re = true, aw = true, sv = true, fw = true,
  fwd = true, antw = true, wg = true, tr = true, vs = true }

-- The first word of text, lower-case, after "Re:" and the like; or nil.
local function first_word(text)
  text = text:sub(1, COMMAND_TEXT_MAX):lower()
  local pos = 1
  for _ = 1, 10 do
    local word, e = text:match("^%s*(%a+)()", pos)
    if not word then return nil end
    if not (REPLY_PREFIXES[word] and text:find("^:", e)) then
      return word
    end
    pos = e + 1
  end
  return nil
end

-- The first word of text and the word after it, lower-case, after "Re:"
-- and the like; words of letters and hyphens ("not-me-too", "who-am-i").
-- nil for a word that is not there. Each match is anchored: linear.
local function command_words(text)
  text = text:sub(1, COMMAND_TEXT_MAX):lower()
  local pos = 1
  for _ = 1, 10 do
    local word, e = text:match("^%s*([%a%-]+)()", pos)
    if not word then return nil end
    if not (REPLY_PREFIXES[word] and text:find("^:", e)) then
      return word, text:match("^%s+([%a%-]+)", e)
    end
    pos = e + 1
  end
  return nil
end

-- Whether the List-Id value names the list whose id (lower-case) is id.
local function list_id_is(value, id)
  return value:sub(1, COMMAND_TEXT_MAX):lower():find(id, 1, true) ~= nil
end

-- Whether an X-Loop value is the address (lower-case) as a whole: trimmed,
-- one pair of <> removed, compared case-insensitively.
local function x_loop_is(value, address)
  if #value > COMMAND_TEXT_MAX then return false end
  value = trim(value):lower()
  if value:sub(1, 1) == "<" and value:sub(-1) == ">" then
    value = trim(value:sub(2, -2))
  end
  return value == address
end

-- text cut to at most max bytes, never inside a UTF-8 character.
local function utf8_cut(text, max)
  if #text <= max then return text end
  local cut = max
  while cut > 0 and text:byte(cut + 1) >= 0x80 and text:byte(cut + 1) < 0xC0 do
    cut = cut - 1
  end
  return text:sub(1, cut)
end

return {
  trim = trim,
  utf8_cut = utf8_cut,
  first_line = first_line,
  confirm_token = confirm_token,
  first_word = first_word,
  command_words = command_words,
  list_id_is = list_id_is,
  x_loop_is = x_loop_is,
  COMMAND_TEXT_MAX = COMMAND_TEXT_MAX,
  BODY_SCAN_MAX = BODY_SCAN_MAX,
}
