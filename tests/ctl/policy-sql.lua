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
  -- a text with a NUL is refused, never cut short to match another row
  ok = pcall(mlm.db.exec, mlm.db, "SELECT count(*) FROM site_seen WHERE who = ?",
    ctx.sender .. "\0tail")
  local n
  for row in mlm.db:rows("SELECT count(*) AS c FROM site_seen WHERE who = ?",
      ctx.sender) do n = row.c end
  note("nul " .. tostring(ok) .. " " .. tostring(n))
  -- 8-bit bytes that are not UTF-8 (a Latin-1 Subject) are stored as
  -- they are
  mlm.db:exec("INSERT INTO site_seen (id, who) VALUES (3, ?)", "caf\233")
  for row in mlm.db:rows("SELECT count(*) AS c FROM site_seen WHERE who = ?",
      "caf\233") do
    note("latin1 " .. row.c)
  end
  mlm.db:exec("DELETE FROM site_seen WHERE id = 3")
  -- sum() of integers is an integer on both
  for row in mlm.db:rows("SELECT sum(n) AS s FROM site_seen") do
    note("sum " .. math.type(row.s) .. " " .. row.s)
  end
  -- a ? in a quoted string (with an escaped quote), a comment: not a
  -- parameter
  for row in mlm.db:rows("SELECT 'it''s ?' AS a, ? AS b -- ?\n", "x") do
    note("quoted " .. row.a .. " " .. row.b)
  end
  -- one hundred parameters, written as bare ?: all numbered
  local marks = {}
  for i = 1, 100 do marks[i] = "CAST(? AS BIGINT)" end
  local args = {}
  for i = 1, 100 do args[i] = i end
  for row in mlm.db:rows("SELECT " .. table.concat(marks, " + ") .. " AS t",
      table.unpack(args)) do
    note("hundred " .. row.t)
  end
  -- a hundred ? in a row: numbered as parameters ($1 to $100 is longer
  -- than the text) even though the statement is then refused
  ok = pcall(function()
    for _ in mlm.db:rows("SELECT " .. string.rep("?", 100)) do end
  end)
  note("adjacent " .. tostring(ok))
  -- a $ inside an identifier opens no dollar quote, and E before a quote
  -- is an E'' string only as a word of its own: the ? after each is a
  -- parameter
  for row in mlm.db:rows("SELECT 1 AS a$b$, ? AS v", "dollar") do
    note("ident " .. row.v)
  end
  for row in mlm.db:rows("SELECT CASE WHEN 1 = 2 THEN 'a' ELSE'b\\' END AS l, ? AS v", "else") do
    note("ident " .. row.v)
  end
  -- only one SELECT, INSERT, UPDATE, DELETE, REPLACE or WITH statement,
  -- or a CREATE, ALTER or DROP of a table or index: nothing that changes
  -- the session, a transaction, the driver's own prepared statements, or
  -- another database
  local refused = {
    "SET statement_timeout = 0",
    "  -- a comment\n/* another */ begin",
    "COMMIT",
    "DEALLOCATE ALL",
    "PREPARE probe AS SELECT 1",
    "LISTEN probe",
    "COPY site_seen TO STDOUT",
    "PRAGMA user_version = 7",
    "ATTACH DATABASE ':memory:' AS probe",
    "VACUUM",
    "SELECT 1; SET statement_timeout = 0",
    "SELECT ';' AS a; DELETE FROM site_seen",
    "SELECT 1 -- ;\n; DELETE FROM site_seen",
    "/* /* */ SELECT 1 */ SET statement_timeout = 0",
  }
  for i, sql in ipairs(refused) do
    local ok, err = pcall(mlm.db.exec, mlm.db, sql)
    note("refused " .. i .. " " .. tostring(ok) .. " "
      .. tostring(tostring(err):find("a policy's SQL", 1, true) ~= nil))
  end
  local allowed = {}
  for row in mlm.db:rows("  /* ; */ select ';' AS a; ; -- end") do
    allowed[#allowed + 1] = row.a
  end
  for row in mlm.db:rows("WITH t AS (SELECT 2 AS a) SELECT a FROM t") do
    allowed[#allowed + 1] = row.a
  end
  allowed[#allowed + 1] = tostring((pcall(mlm.db.exec, mlm.db,
    "CREATE UNIQUE INDEX IF NOT EXISTS site_seen_n ON site_seen (n)")))
  allowed[#allowed + 1] = tostring((pcall(mlm.db.exec, mlm.db,
    "DROP INDEX site_seen_n")))
  allowed[#allowed + 1] = tostring((pcall(mlm.db.exec, mlm.db,
    "ALTER TABLE site_seen ADD COLUMN later TEXT")))
  note("allowed " .. table.concat(allowed, " "))
  for i, v in ipairs(out) do ctx:add_header("X-Sql-" .. i, v) end
  return mlm.continue()
end
