-- Gateway middleware in Lua: replaces a path prefix (whole segments only), e.g. /api/users -> /v1/users,
-- and tells the client the original path in a response header.
local M = {
  meta = {
    name = 'path-rewrite',
    version = '1.0.0',
    apiVersion = 1,
    description = 'Rewrites a path prefix (e.g. /api -> /v1)',
    configSchema = {
      type = 'object',
      additionalProperties = false,
      required = { 'from', 'to' },
      properties = {
        from = { type = 'string', pattern = '^/' },
        to = { type = 'string', pattern = '^/' },
      },
    },
  },
}

function M.onRequest(req, ctx)
  local from, to = ctx.config.from, ctx.config.to
  if req.path:sub(1, #from) ~= from then return nil end
  local rest = req.path:sub(#from + 1)
  if rest ~= '' and rest:sub(1, 1) ~= '/' and from:sub(-1) ~= '/' then return nil end -- /apix is not under /api
  if to:sub(-1) == '/' and rest:sub(1, 1) == '/' then rest = rest:sub(2) end
  local path = to .. rest
  return { path = path, state = { original = req.path } }
end

function M.onResponse(res, ctx)
  if ctx.state.original then
    return { setHeaders = { ['x-original-path'] = ctx.state.original } }
  end
end

return M
