-- The request workload as a Lua plugin: block requests carrying x-block, tag the others.
local M = { meta = { name = 'request-lua', version = '1.0.0', apiVersion = 1, description = 'blocks x-block requests, tags the rest' } }

function M.onRequest(req)
  if req.headers['x-block'] then return { respond = { status = 403 } } end
  return { setHeaders = { ['x-plugin'] = '1' } }
end

return M
