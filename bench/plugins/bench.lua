-- Shared benchmark plugin (Lua), the twin of bench.js: see bench/calls.ts and bench/load.ts.
-- No meta.name: bench/load.ts loads 100 copies of this file into one host, and the name comes
-- from each copy's file name.
local M = {}

function M.noop() end

function M.two(a, b) return #a + #b end

-- Reads every header and returns a 10-header table (the read-everything workload).
function M.readAll(req)
  local out = {}
  for k, v in pairs(req.headers) do out['x-echo-' .. k] = v end
  return { setHeaders = out }
end

-- String building over every header (issue 28's workload): ten 'x-seen-<name>' headers whose
-- values are '<value length>:<method>'.
function M.readStr(req)
  local out = {}
  for k, v in pairs(req.headers) do out['x-seen-' .. k] = tostring(#v) .. ':' .. req.method end
  return { setHeaders = out }
end

function M.onRequest(req)
  if req.headers['x-block'] then return { status = 403 } end
  return { setHeader = { ['x-plugin'] = '1' } }
end

return M
