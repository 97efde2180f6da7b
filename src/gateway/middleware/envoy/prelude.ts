/**
 * The Lua side of the Envoy adapter: run after an Envoy filter's chunk in the same state, it
 * returns the Terrarium middleware exports `onRequest` / `onResponse`, each building Envoy's
 * `handle` over the request the gateway passed in, calling `envoy_on_request(handle)` /
 * `envoy_on_response(handle)`, and turning what the filter changed into a decision.
 *
 * Why in Lua: `headers():get` is what filters call most, and here it is a lookup in a Lua table
 * the marshaller already built (no host call per header). Only `httpCall`, the crypto functions
 * and the clock reach the host (`host.envoy`, capability.ts). Methods the gateway cannot honour
 * raise `{ envoyUnsupported = name, where = "file:line" }`, which the gateway turns into
 * ERR_ENVOY_UNSUPPORTED (calls.ts).
 */
export const ENVOY_PRELUDE_BODY = String.raw`
local BODY, MAX_BODY = ...
local on_request, on_response = envoy_on_request, envoy_on_response
local hostenv = host
local type, pairs, next, tostring, tonumber, error, pcall, setmetatable, select = type, pairs, next, tostring, tonumber, error, pcall, setmetatable, select
local lower, sub, concat, insert, remove, floor, byte, char = string.lower, string.sub, table.concat, table.insert, table.remove, math.floor, string.byte, string.char

-- "file:line" of the caller 'level' frames above the function calling where()
local function where(level)
  local _, e = pcall(error, '', level + 3)
  e = tostring(e)
  return (e:gsub(': $', ''))
end

local function unsupported(name)
  return function()
    error({ envoyUnsupported = name, where = where(1) }, 0)
  end
end

local function objectOf(name, methods)
  return setmetatable(methods, { __index = function(_, k) return unsupported(name .. ':' .. tostring(k) .. '()') end })
end

-- Headers ---------------------------------------------------------------------------------
-- __index is the method table itself (a plain lookup on the fast path); only a miss there
-- reaches the function that refuses unknown methods.
local Headers = {}
Headers.__index = Headers
setmetatable(Headers, { __index = function(_, k) return unsupported('headers():' .. tostring(k) .. '()') end })

local function newHeaders(h, pseudo, readonly)
  return setmetatable({ h = h, dirty = {}, pseudo = pseudo, ro = readonly }, Headers)
end

-- Lower-cased names, cached: the fast path of get makes no C call (string.lower, type).
local LOWER, lowered = {}, 0
local function lowerName(name)
  local k = LOWER[name]
  if k == nil then
    k = lower(name)
    if lowered < 1024 then LOWER[name] = k; lowered = lowered + 1 end
  end
  return k
end

-- Envoy joins the values of a repeated header with ','. v[1] is nil for a string (its
-- metatable's __index is the string library), so no type() call is needed to tell them apart.
function Headers.get(self, name)
  local v = self.h[LOWER[name] or lowerName(name)]
  if v ~= nil and v[1] ~= nil then return concat(v, ',') end
  return v
end

function Headers.getAtIndex(self, name, i)
  local v = self.h[lower(name)]
  if v == nil then return nil end
  if type(v) == 'table' then return v[i + 1] end
  if i == 0 then return v end
  return nil
end

function Headers.getNumValues(self, name)
  local v = self.h[lower(name)]
  if v == nil then return 0 end
  if type(v) == 'table' then return #v end
  return 1
end

local function writable(self, what)
  if self.ro then error('headers():' .. what .. '() cannot modify these headers here', 3) end
end

Headers.getValueSize = Headers.getNumValues

function Headers.add(self, name, value)
  writable(self, 'add')
  local k = lower(name)
  value = tostring(value)
  local v = self.h[k]
  if v == nil then self.h[k] = value
  elseif type(v) == 'table' then v[#v + 1] = value
  else self.h[k] = { v, value } end
  self.dirty[k] = true
end

function Headers.replace(self, name, value)
  writable(self, 'replace')
  local k = lower(name)
  self.h[k] = tostring(value)
  self.dirty[k] = true
end

function Headers.remove(self, name)
  writable(self, 'remove')
  local k = lower(name)
  self.h[k] = nil
  self.dirty[k] = true
end

function Headers.setHttp1ReasonPhrase(self, reason)
  self.reason = tostring(reason)
end

-- pairs(headers): pseudo-headers first, then one (name, value) per value
function Headers.__pairs(self)
  local list, n = {}, 0
  local h = self.h
  for _, p in pairs(self.pseudo) do
    if h[p] ~= nil then n = n + 1; list[n] = { p, h[p] } end
  end
  for k, v in next, h do
    if sub(k, 1, 1) ~= ':' then
      if type(v) == 'table' then
        for i = 1, #v do n = n + 1; list[n] = { k, v[i] } end
      else n = n + 1; list[n] = { k, v } end
    end
  end
  local i = 0
  return function()
    i = i + 1
    local e = list[i]
    if e then return e[1], e[2] end
  end, self, nil
end

-- The gateway frames the message itself (content-length follows a new body).
local MANAGED = { ['content-length'] = true, ['transfer-encoding'] = true, connection = true }

-- What the filter changed, as setHeaders / removeHeaders (pseudo-headers are the caller's).
local function headerChanges(headers)
  local set, rm, ns, nr = nil, nil, 0, 0
  for k in next, headers.dirty do
    if sub(k, 1, 1) ~= ':' and not MANAGED[k] then
      local v = headers.h[k]
      if v == nil then
        rm = rm or {}; nr = nr + 1; rm[nr] = k
      else
        set = set or {}; ns = ns + 1; set[k] = v
      end
    end
  end
  return set, rm
end

-- Body ------------------------------------------------------------------------------------
local Body = {}
Body.__index = Body
setmetatable(Body, { __index = function(_, k) return unsupported('body():' .. tostring(k) .. '()') end })
function Body.length(self) return #self.s end
function Body.getBytes(self, i, n) return sub(self.s, i + 1, i + n) end
function Body.setBytes(self, s)
  self.s = tostring(s)
  self.changed = true
  return #self.s
end

-- base64 (Envoy's handle:base64Escape) -----------------------------------------------------
local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local b64 = {}
for i = 1, 64 do b64[i - 1] = sub(B64, i, i) end
local function base64(s)
  local out, n = {}, 0
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local x = a * 65536 + (b or 0) * 256 + (c or 0)
    n = n + 1
    out[n] = b64[floor(x / 262144) % 64] .. b64[floor(x / 4096) % 64] .. (b and b64[floor(x / 64) % 64] or '=') .. (c and b64[x % 64] or '=')
  end
  return concat(out)
end

-- The handle ------------------------------------------------------------------------------
local RESPOND = {}
local REQUEST_PSEUDO = { ':authority', ':path', ':method', ':scheme' }
local RESPONSE_PSEUDO = { ':status' }

local function envoyHost(name)
  local e = hostenv.envoy
  if e == nil then error(name .. ' needs the gateway (host.envoy is not granted here)', 3) end
  return e
end

local function encodeQuery(q)
  local parts, n = {}, 0
  local function enc(s)
    return (tostring(s):gsub('[^%w%-%._~]', function(c) return string.format('%%%02X', byte(c)) end))
  end
  for k, v in pairs(q) do
    if type(v) == 'table' then
      for i = 1, #v do n = n + 1; parts[n] = enc(k) .. '=' .. enc(v[i]) end
    else n = n + 1; parts[n] = enc(k) .. '=' .. enc(v) end
  end
  table.sort(parts)
  return concat(parts, '&')
end

local function newHandle(phase, r, ctx, state)
  local self = { phase = phase, r = r, ctx = ctx, state = state }
  local handle = {}
  local hdrs, body
  function handle:headers() return hdrs end
  function handle:body(always)
    if body == nil then
      local s = r.body
      if s == '' and not always then return nil end
      if s == nil then
        if BODY then
          if not always then return nil end
          s = ''
        else
          error({ envoyUnsupported = 'body() (the filter source must mention body() so the gateway buffers it)', where = where(1) }, 0)
        end
      end
      body = setmetatable({ s = s }, Body)
    end
    return body
  end
  function handle:bodyChunks()
    local b = handle:body(true)
    local done = false
    return function()
      if done or #b.s == 0 then return nil end
      done = true
      return b
    end
  end
  function handle:trailers() return nil end
  function handle:respond(h, b)
    if phase ~= 'request' then error('respond() is only allowed on the request path', 2) end
    error({ [RESPOND] = true, headers = h or {}, body = b }, 0)
  end
  function handle:httpCall(cluster, h, b, timeout, opts)
    local async = false
    if type(opts) == 'table' then async = opts.asynchronous == true else async = opts == true end
    local res = envoyHost('httpCall').httpCall(cluster, h, b or '', timeout or 0, async)
    if async then return nil end
    return res.headers, res.body
  end
  local function logTo(level)
    return function(_, msg) print('[' .. level .. '] ' .. tostring(msg)) end
  end
  handle.logTrace = logTo('trace'); handle.logDebug = logTo('debug'); handle.logInfo = logTo('info')
  handle.logWarn = logTo('warn'); handle.logErr = logTo('error'); handle.logCritical = logTo('critical')
  local meta = objectOf('metadata()', {})
  function meta:get(k)
    local m = ctx.config and ctx.config.metadata
    if type(m) ~= 'table' then return nil end
    return m[k]
  end
  function handle:metadata() return meta end
  local dyn = objectOf('streamInfo():dynamicMetadata()', {})
  function dyn:set(ns, k, v)
    local d = state.dm[ns]
    if d == nil then d = {}; state.dm[ns] = d end
    d[k] = v
    state.changed = true
  end
  function dyn:get(ns) return state.dm[ns] end
  function dyn.__pairs() return pairs(state.dm) end
  local info = objectOf('streamInfo()', {})
  function info:protocol() return 'HTTP/1.1' end
  function info:dynamicMetadata() return dyn end
  function info:downstreamDirectRemoteAddress() return ctx.client end
  function info:downstreamRemoteAddress() return ctx.client end
  function info:downstreamLocalAddress() return ctx.localAddress end
  function info:requestedServerName() return '' end
  function handle:streamInfo() return info end
  local conn = objectOf('connection()', {})
  function conn:ssl() return nil end
  function handle:connection() return conn end
  local fstate = objectOf('filterState()', {})
  function fstate:get(_) return nil end
  function handle:filterState() return fstate end
  function handle:base64Escape(s) return base64(tostring(s)) end
  function handle:timestamp() return envoyHost('timestamp').now() end
  function handle:importPublicKey(der, len)
    local key = { der = sub(tostring(der), 1, len or #tostring(der)) }
    return objectOf('importPublicKey()', { get = function() return key end })
  end
  function handle:verifySignature(hash, key, sig, siglen, data, datalen)
    local r = envoyHost('verifySignature').verify(hash, hostenv.bytes(key.der or ''), hostenv.bytes(sub(sig, 1, siglen)), hostenv.bytes(sub(data, 1, datalen)))
    return r.ok, r.error
  end
  setmetatable(handle, { __index = function(_, k) return unsupported('handle:' .. tostring(k) .. '()') end })
  return handle, function(h) hdrs = h end, function() return body end
end


-- Run the filter; a respond() arrives as the RESPOND error, anything else is the filter's failure.
local function run(fn, handle)
  local ok, e = pcall(fn, handle)
  if ok then return nil end
  if type(e) == 'table' and e[RESPOND] then return e end
  error(e, 0)
end

local exports = {}

if on_request then
  function exports.onRequest(req, ctx)
    local h = req.headers
    local q = req.query
    local qs = next(q) ~= nil and encodeQuery(q) or nil
    local path = qs and (req.path .. '?' .. qs) or req.path
    h[':path'] = path
    h[':method'] = req.method
    h[':authority'] = h.host
    h.host = nil
    h[':scheme'] = h['x-forwarded-proto'] or 'http'
    local state = { dm = {} }
    local handle, setHeaders, bodyOf = newHandle('request', req, { config = ctx.config, client = req.client.address .. ':' .. req.client.port, localAddress = req.client['local'] or '' }, state)
    local headers = newHeaders(h, REQUEST_PSEUDO, false)
    setHeaders(headers)
    local r = run(on_request, handle)
    if r then
      local out, status = {}, 200
      for k, v in pairs(r.headers) do
        if k == ':status' then status = tonumber(v) or 200
        elseif sub(k, 1, 1) ~= ':' then out[k] = v end
      end
      return { respond = { status = status, headers = out, body = r.body or '' } }
    end
    local decision = {}
    local set, rm = headerChanges(headers)
    if headers.dirty[':authority'] then set = set or {}; set.host = h[':authority'] end
    decision.setHeaders = set
    decision.removeHeaders = rm
    if headers.dirty[':path'] and h[':path'] ~= path then
      local p = h[':path']
      local at = p:find('?', 1, true)
      if at then
        decision.path = sub(p, 1, at - 1)
        local nq = {}
        for pair in sub(p, at + 1):gmatch('[^&]+') do
          local k, v = pair:match('^([^=]*)=?(.*)$')
          k = k:gsub('%%(%x%x)', function(x) return char(tonumber(x, 16)) end)
          v = v:gsub('%%(%x%x)', function(x) return char(tonumber(x, 16)) end)
          local old = nq[k]
          if old == nil then nq[k] = v elseif type(old) == 'table' then old[#old + 1] = v else nq[k] = { old, v } end
        end
        decision.query = nq
      else
        decision.path = p
        decision.query = {}
      end
    end
    local b = bodyOf()
    if b and b.changed then decision.body = b.s end
    if next(state.dm) ~= nil then decision.state = { dm = state.dm } end
    return decision
  end
end

if on_response then
  function exports.onResponse(res, ctx)
    local h = res.headers
    h[':status'] = tostring(res.status)
    local st = ctx.state
    local state = { dm = (type(st) == 'table' and type(st.dm) == 'table') and st.dm or {} }
    local handle, setHeaders, bodyOf = newHandle('response', res, { config = ctx.config, client = '' }, state)
    local headers = newHeaders(h, RESPONSE_PSEUDO, false)
    setHeaders(headers)
    run(on_response, handle)
    local decision = {}
    local set, rm = headerChanges(headers)
    decision.setHeaders = set
    decision.removeHeaders = rm
    if headers.dirty[':status'] then decision.status = tonumber(h[':status']) end
    local b = bodyOf()
    if b and b.changed then decision.body = b.s end
    return decision
  end
end

local gw = BODY and { requestBody = { maxBytes = MAX_BODY }, responseBody = { maxBytes = MAX_BODY } } or nil
exports.meta = { gateway = gw, envoyFilter = true }
return exports
`;
