-- Shared benchmark plugin (Lua): see bench/ for the runner.
local M = { meta = { name = 'bench-lua', version = '1.0.0', apiVersion = 1, description = 'benchmark exports' } }

function M.noop() end

function M.two(a, b) return #a + #b end

function M.onRequest(req)
  if req.headers['x-block'] then return { status = 403 } end
  return { setHeader = { ['x-plugin'] = '1' } }
end

return M
