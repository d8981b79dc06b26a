-- mlm_list_common.lua - what the shipped list policy's modules share: the
-- addresses of a list, the mails it sends (from templates, mlm_templates)
-- and the log line of a transaction.

local mlm = require "mlm"
local templates = require "mlm_templates"

local M = {}

-- The posting, owner, request and bounces addresses of a list. A list's
-- name and domain never change, so each list's set is made once per
-- worker (at most ADDRESSES_KEPT lists are remembered); callers share the
-- table and must not change it.
local ADDRESSES_KEPT = 1000
local addresses_of, addresses_kept = {}, 0

local function addresses(list)
  local key = list.address
  local a = addresses_of[key]
  if a then return a end
  local name, domain = list.name, list.domain
  local post, request = name .. "@" .. domain, name .. "-request@" .. domain
  a = {
    post = post,
    owner = name .. "-owner@" .. domain,
    request = request,
    bounces = name .. "-bounces@" .. domain,
    id = "<" .. name .. "." .. domain .. ">",
    -- the RFC 2369 header values, the same for every post
    list_post = "<mailto:" .. post .. ">",
    list_help = "<mailto:" .. request .. "?subject=help>",
    list_subscribe = "<mailto:" .. request .. "?subject=subscribe>",
    list_unsubscribe = "<mailto:" .. request .. "?subject=unsubscribe>",
    list_owner = "<mailto:" .. name .. "-owner@" .. domain .. ">",
  }
  a.id_lower, a.post_lower = a.id:lower(), a.post:lower()
  if addresses_kept >= ADDRESSES_KEPT then
    addresses_of, addresses_kept = {}, 0
  end
  addresses_of[key], addresses_kept = a, addresses_kept + 1
  return a
end
M.addresses = addresses

-- A plain-text mail of mlm's own, as mlm.sendmail takes it: From from,
-- To the addresses of to (one, or a list), the Subject encoded, the lines
-- of the body; auto is its Auto-Submitted value (RFC 3834:
-- "auto-replied" for an answer, "auto-generated" for a notice).
function M.text_mail(from, to, subject, lines, auto)
  return table.concat({
    "From: " .. from,
    "To: " .. (type(to) == "table" and table.concat(to, ", ") or to),
    "Subject: " .. mlm.encode_header(subject),
    "Auto-Submitted: " .. auto,
    "Precedence: bulk",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    table.concat(lines, "\r\n"),
    "",
  }, "\r\n")
end

-- list's own version of template name (mlm-ctl template set), or nil.
local function version(list, name)
  for row in mlm.db:rows("SELECT text FROM templates WHERE list_id = ? "
      .. "AND name = ?", list.id, name) do
    return row.text
  end
  return nil
end

-- The values every template of list may use: the list's addresses.
local function list_vars(list, vars)
  local a = addresses(list)
  local all = { list = a.post, request = a.request, owner = a.owner,
    bounces = a.bounces }
  for k, v in pairs(vars or {}) do all[k] = v end
  return all
end

-- Fragment name of list rendered with vars (mlm_templates).
function M.fragment(list, name, vars)
  local _, body = templates.render(name, list_vars(list, vars),
    version(list, name))
  return body
end

-- The mail of template name of list, as mlm.sendmail takes it (see
-- text_mail): From from, To to, rendered with vars and the list's
-- addresses (${list}, ${request}, ${owner}, ${bounces}).
function M.template_mail(list, name, from, to, vars, auto)
  local subject, body = templates.render(name, list_vars(list, vars),
    version(list, name))
  return M.text_mail(from, to, subject, { (body:gsub("\r?\n", "\r\n")) },
    auto)
end

-- One log line about the transaction: "QID: " and the formatted text.
function M.log(level, ctx, fmt, ...)
  mlm.log(level, string.format("%s: " .. fmt, ctx.qid or "NOQUEUE", ...))
end

return M
