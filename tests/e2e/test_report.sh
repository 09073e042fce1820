#!/usr/bin/env bash
# report.html through strata.report: a tiny run's page is well-formed XHTML
# (xmllint), its eval table holds the zero-shot and final metrics of the
# run's summary (as strata.run returns summary.json), its plan table the
# plan's modes, its trace table one row per latent space; the run's SVG
# figures and resolved recipe are in it, and every string from the files is
# escaped (the recipe file's name, hence the run's, and the run folder hold
# < & " '). A sweep folder made from the run: results.csv as a table with
# its quoted fields, the run linked to its report. A missing folder and a
# broken summary.json are errors that name them, and leave no page.
set -u
. tests/e2e/assets.sh
command -v xmllint >/dev/null ||
  { echo "xmllint missing: scripts/install_deps installs libxml2-utils"; exit 1; }
name='r<&"'"'"'x' # r<&"'x
cp recipes/quickstart.yaml "$tmp/$name.yaml"
run="$tmp/out <&>/run"
cat > "$tmp/check.lua" <<'LUA'
local strata = require "strata"
local recipe, run, sweep, tmp = arg[1], arg[2], arg[3], arg[4]
local sets = {"train.steps=3", "eval.every=100", "eval.samples=40", "trace.samples=8",
              "data.max_samples=200"}
for i = 5, #arg do if arg[i] ~= "--set" then sets[#sets + 1] = arg[i] end end

local fails = 0
local function fail(...) print("FAIL: " .. string.format(...)); fails = fails + 1 end
local function read(p)
  local f = assert(io.open(p, "rb"))
  local t = f:read("a")
  f:close()
  return t
end
local function write(p, t) local f = assert(io.open(p, "wb")); f:write(t); f:close() end
local function has(hay, needle) return hay:find(needle, 1, true) ~= nil end
local function esc(t)
  return (t:gsub("[<>&\"']", {["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;",
                               ['"'] = "&quot;", ["'"] = "&#39;"}))
end
local function sh(p) return "'" .. p:gsub("'", "'\\''") .. "'" end
local function count(hay, needle)
  local n, i = 0, 1
  while true do
    local j = hay:find(needle, i, true)
    if not j then return n end
    n, i = n + 1, j + 1
  end
end
-- the cells of a table row, in order
local function cells(tr, tag)
  local v = {}
  for c in tr:gmatch("<" .. tag .. "[^>]*>(.-)</" .. tag .. ">") do v[#v + 1] = c end
  return v
end

-- --- a run ---------------------------------------------------------------
local s = strata.run(recipe, {out = run, set = sets})
if s.recipe ~= 'r<&"\'x' then fail("run name %q", s.recipe) end
local page = strata.report(run)
if page ~= run .. "/report.html" then fail("report path %s", page) end
local html = read(page)
-- eval: every metric of the summary under its column
local eval = html:match("<h3>Eval</h3>\n<table>\n(.-)</table>")
if not eval then fail("no eval table") else
  local head = cells(eval:match("<tr>(.-)</tr>"), "th")
  for _, row in ipairs{{"final", s.final}, {"zero%-shot", s.zero_shot}} do
    local tr = eval:match('<tr><th class="l">' .. row[1] .. "</th>(.-)</tr>")
    local got = tr and cells(tr, "td") or {}
    local n = 0
    for i = 2, #head do
      local v = row[2][head[i]]
      if v ~= nil then
        n = n + 1
        if got[i - 1] ~= string.format("%.4f", v) then
          fail("%s %s: page %s, summary %.6f", row[1], head[i], tostring(got[i - 1]), v)
        end
      end
    end
    local want = 0
    for _ in pairs(row[2]) do want = want + 1 end
    if n ~= want or want == 0 then fail("%s: %d of %d metrics on the page", row[1], n, want) end
  end
end
-- the plan's modes, one row per layer
for _, l in ipairs(s.plan.layers) do
  if not has(html, string.format('<td>%d</td><td class="l">%s</td>', l.layer, l.mode)) then
    fail("plan row of layer %d (%s) missing", l.layer, l.mode)
  end
end
local trace = html:match("<h2>Trace</h2>(.-)</table>") or ""
if count(trace, "<tr><td>") ~= #s.plan.layers + 1 then
  fail("trace table: %d rows, want %d", count(trace, "<tr><td>"), #s.plan.layers + 1)
end
-- the figures, inlined as the files hold them
for _, f in ipairs{"loss_curves.svg", "trace.svg"} do
  local svg = read(run .. "/" .. f)
  if not has(html, svg:sub(svg:find("<svg", 1, true))) then fail("%s not inlined", f) end
end
if count(html, "<svg ") ~= 2 then fail("%d SVG figures, want 2", count(html, "<svg ")) end
if not has(html, esc(read(run .. "/recipe.resolved.yaml"))) then fail("recipe not on the page") end
-- escaping: the name and the folder only escaped
if not has(html, "<h1>strata run: " .. esc(s.recipe) .. "</h1>") then fail("title not escaped") end
if not has(html, esc(run)) or has(html, "r<&") or has(html, "out <&>") then
  fail("a raw or missing string from the files")
end

-- --- a sweep folder made from the run ----------------------------------------
local rn = 'a&b"<x'
assert(os.execute("mkdir -p " .. sh(sweep .. "/runs") .. " && cp -r " .. sh(run) .. " " ..
                  sh(sweep .. "/runs/" .. rn) .. " && cp " .. sh(run .. "/trace.svg") .. " " ..
                  sh(sweep .. "/trace.svg")))
write(sweep .. "/results.csv", 'variant,trained_layers,accuracy_mean\n' ..
      'full,"0,1<2 ""x""",0.675000\nsemantic,"4",0.450000\n')
page = strata.report(sweep)
html = read(page)
local t = html:match("<h2>Results</h2>\n<div class=\"scroll\">\n<table>\n(.-)</table>") or ""
local rows = {}
for tr in t:gmatch("<tr>(.-)</tr>") do rows[#rows + 1] = tr end
local want = {{"variant", "trained_layers", "accuracy_mean"},
              {"full", "0,1&lt;2 &quot;x&quot;", "0.675000"}, {"semantic", "4", "0.450000"}}
for i, w in ipairs(want) do
  local got = table.concat(cells(rows[i] or "", i == 1 and "th" or "td"), "|")
  if got ~= table.concat(w, "|") then fail("results row %d: %s", i, got) end
end
if #rows ~= 3 then fail("results table: %d rows", #rows) end
local link = '<a href="runs/a%26b%22%3Cx/report.html">' .. esc(rn) .. "</a>"
local tr = html:match("<tr><td class=\"l\">" .. link:gsub("%p", "%%%0") .. "</td>(.-)</tr>")
if not tr then fail("run %s not linked", rn)
elseif cells(tr, "td")[6] ~= string.format("%.4f", s.final.accuracy) then
  fail("run row: %s", tr)
end
if count(html, "<svg ") ~= 1 then fail("sweep: %d figures, want 1", count(html, "<svg ")) end

-- --- bad input --------------------------------------------------------------
local ok, e = pcall(strata.report, tmp .. "/nowhere")
if ok or not has(e, "nowhere: not a run folder") then fail("missing folder: %s", e) end
assert(os.execute("mkdir -p " .. sh(tmp .. "/broken")))
write(tmp .. "/broken/summary.json", '{"recipe": "x",\n bad')
ok, e = pcall(strata.report, tmp .. "/broken")
if ok or not has(e, "broken/summary.json:2:") then fail("broken summary: %s", e) end
write(tmp .. "/broken/summary.json", "[1, 2]")
ok, e = pcall(strata.report, tmp .. "/broken")
if ok or not has(e, "summary.json: expected a JSON object") then fail("array summary: %s", e) end
if io.open(tmp .. "/broken/report.html") then fail("a page was left for a broken folder") end
if fails > 0 then error(fails .. " check(s) failed") end
print("checks ok")
LUA
"$bin" --threads 1 lua "$tmp/check.lua" "$tmp/$name.yaml" "$run" "$tmp/sweep" "$tmp" \
  "${asset_sets[@]}" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
grep -q "^checks ok" "$tmp/log" || { cat "$tmp/log"; exit 1; }
for f in "$run/report.html" "$tmp/sweep/report.html"; do
  xmllint --noout "$f" || { echo "$f is not well-formed"; exit 1; }
done
echo ok
