-- tests/ctl/policy-sql.lua - a policy's own SQL (mlm.db) on whichever
-- backend the database is: its own table, ? and ?N parameters, each Lua
-- type bound and read back, and the errors. Adds X-Sql-N headers with
-- what it found; rejects with the first error it did not expect.
local mlm = require "mlm"

function filter_message(ctx)
  local out = {}
  local function note(v) out[#out + 1] = tostring(v) end
  mlm.db:exec("CREATE TABLE IF NOT EXISTS site_seen (id INTEGER PRIMARY KEY, "
    .. "who TEXT NOT NULL, n BIGINT, r FLOAT, flag INTEGER, note TEXT)")
  mlm.db:exec("DELETE FROM site_seen")
  note(mlm.db:exec("INSERT INTO site_seen (id, who, n, r, flag, note) "
    .. "VALUES (?, ?, ?, ?, ?, ?)", 1, ctx.sender, 9007199254740993, 2.5,
    true, nil))
  note(mlm.db:exec("INSERT INTO site_seen (id, who, n) VALUES (?1, ?2, ?1 + 1)",
    2, "caf\195\169 'quoted' ?"))
  for row in mlm.db:rows("SELECT id, who, n, r, flag, note FROM site_seen "
      .. "WHERE id >= ? ORDER BY id", 1) do
    note(table.concat({ math.type(row.id), row.id, row.who, math.type(row.n),
      row.n, tostring(row.r), tostring(row.flag), tostring(row.note) }, "|"))
  end
  for row in mlm.db:rows("SELECT count(*) AS c FROM site_seen WHERE who LIKE ?",
      "%?%") do
    note("count " .. math.type(row.c) .. " " .. row.c)
  end
  local ok, err = pcall(mlm.db.exec, mlm.db, "DELETE FROM site_seen WHERE id = ?",
    1, 2)
  note("extra " .. tostring(ok) .. " " .. tostring(err):match("bind %d+") )
  ok, err = pcall(mlm.db.exec, mlm.db, "SELECT * FROM no_such_table")
  note("missing " .. tostring(ok))
  for i, v in ipairs(out) do ctx:add_header("X-Sql-" .. i, v) end
  return mlm.continue()
end
