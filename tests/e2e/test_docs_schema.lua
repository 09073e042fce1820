-- test_docs_schema.lua - docs/recipes.md and the recipe schema agree
-- (run by test_docs_schema.sh): every schema key up to section.key has a
-- row in its section's table, every row names a schema key, and the
-- default column says what the schema does: `value` for a default, the
-- description for one the engine computes, "created" for a section that
-- always exists, and "—" (or nothing, for required keys) otherwise; an
-- int's type column gives its range as the schema does ("int in 1..1024").
local strata = require "strata"
local doc = arg[1] or "docs/recipes.md"
local loader_keys = {include = true, extends = true} -- consumed by the loader

-- the tables under "## Keys", one per "### section"
local rows, in_keys, section = {}, false, nil
for line in io.lines(doc) do
  if line:match("^## ") then in_keys, section = line:match("^## Keys") ~= nil, nil end
  local h = line:match("^### (.+)$")
  if in_keys and h then section = (h == "top level") and "" or h end
  if section and line:match("^| `") then
    local cells = {}
    line = line:gsub("\\|", "\1") -- an escaped | inside a cell
    for c in line:gmatch("|([^|]*)") do
      cells[#cells + 1] = c:match("^%s*(.-)%s*$"):gsub("\1", "|")
    end
    for key in cells[1]:gmatch("`([^`]+)`") do
      local dotted = section == "" and key or (section .. "." .. key)
      rows[dotted] = {default = cells[3], type = cells[2], line = line}
    end
  end
end

local fails = 0
local function fail(msg) print("FAIL: " .. msg); fails = fails + 1 end
local seen = {}
for _, f in ipairs(strata.schema()) do
  local depth = select(2, f.key:gsub("%.", "")) + 1
  seen[f.key] = true
  local row = rows[f.key]
  if depth <= 2 and not row then
    fail(f.key .. ": not documented in " .. doc)
  elseif row then
    local want
    if f.default then want = "`" .. f.default .. "`"
    elseif f.computed then want = f.computed
    elseif f.created then want = "created"
    end
    -- an int's range is part of its type, and the docs give it
    if f.type:match("^int in ") and row.type ~= f.type then
      fail(("%s: docs say type '%s', the schema '%s'"):format(f.key, row.type, f.type))
    end
    local got = row.default
    if want then
      if got ~= want then fail(("%s: docs say default '%s', the schema '%s'"):format(f.key, got, want)) end
    elseif got ~= "—" and not (f.required and got == "") then
      fail(("%s: docs say default '%s', the schema has none"):format(f.key, got))
    end
  end
end
for k, row in pairs(rows) do
  if not seen[k] and not loader_keys[k] then fail(k .. ": documented but not in the schema: " .. row.line) end
end
if fails > 0 then os.exit(1) end
print("ok")
