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
 *
 * Why method tables: every object the filter sees (handle, headers, body, streamInfo, metadata,
 * ...) is a small table of per-request fields whose metatable is built once per plugin instance;
 * a request allocates those few tables and no closure. The sub-objects are made on first use.
 */
export const ENVOY_PRELUDE_BODY = String.raw`
local BODY, MAX_BODY = ...
local on_request, on_response = envoy_on_request, envoy_on_response
local hostenv = host
local type, pairs, next, tostring, tonumber, error, pcall, setmetatable = type, pairs, next, tostring, tonumber, error, pcall, setmetatable
local lower, sub, concat, floor, byte, char, find, match = string.lower, string.sub, table.concat, math.floor, string.byte, string.char, string.find, string.match

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

-- A method table: __index is the table itself (a plain lookup on the fast path); only a miss
-- reaches the function that refuses unknown methods with ERR_ENVOY_UNSUPPORTED.
-- Instances keep every field they may read, false until set: a nil field would fall through to
-- the refusal and read as a function.
local function class(name)
  local c = {}
  c.__index = c
  setmetatable(c, { __index = function(_, k) return unsupported(name .. ':' .. tostring(k) .. '()') end })
  return c
end

-- Headers ---------------------------------------------------------------------------------
local Headers = class('headers()')

-- Per request: the header table the marshaller built, and which names the filter changed
-- (allocated on the first change; most requests change one header or none).
local function newHeaders(h, pseudo)
  return setmetatable({ h = h, dirty = false, pseudo = pseudo, reason = false }, Headers)
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

-- Whether a (lower-case) name is a pseudo-header, cached like LOWER (headerChanges asks per change).
local PSEUDO, pseudoNames = {}, 0
local function isPseudo(k)
  local p = PSEUDO[k]
  if p == nil then
    p = sub(k, 1, 1) == ':'
    if pseudoNames < 1024 then PSEUDO[k] = p; pseudoNames = pseudoNames + 1 end
  end
  return p
end

-- Envoy joins the values of a repeated header with ','. v[1] is nil for a string (its
-- metatable's __index is the string library), so no type() call is needed to tell them apart.
function Headers.get(self, name)
  local v = self.h[LOWER[name] or lowerName(name)]
  if v ~= nil and v[1] ~= nil then return concat(v, ',') end
  return v
end

function Headers.getAtIndex(self, name, i)
  local v = self.h[LOWER[name] or lowerName(name)]
  if v == nil then return nil end
  if type(v) == 'table' then return v[i + 1] end
  if i == 0 then return v end
  return nil
end

function Headers.getNumValues(self, name)
  local v = self.h[LOWER[name] or lowerName(name)]
  if v == nil then return 0 end
  if type(v) == 'table' then return #v end
  return 1
end
Headers.getValueSize = Headers.getNumValues

local function changed(self, k)
  local d = self.dirty
  if not d then d = {}; self.dirty = d end
  d[k] = true
end

-- A value is a string or a number (Envoy's luaL_checkstring): '..' converts a number without the
-- C call tostring() would be, and refuses nil, a boolean or a table as Envoy does.
function Headers.add(self, name, value)
  local k = LOWER[name] or lowerName(name)
  value = value .. ''
  local v = self.h[k]
  if v == nil then self.h[k] = value
  elseif type(v) == 'table' then v[#v + 1] = value
  else self.h[k] = { v, value } end
  changed(self, k)
end

function Headers.replace(self, name, value)
  local k = LOWER[name] or lowerName(name)
  self.h[k] = value .. ''
  changed(self, k)
end

function Headers.remove(self, name)
  local k = LOWER[name] or lowerName(name)
  self.h[k] = nil
  changed(self, k)
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
  local dirty = headers.dirty
  if not dirty then return nil, nil end
  local set, rm, nr = nil, nil, 0
  for k in next, dirty do
    local pseudo = PSEUDO[k]
    if pseudo == nil then pseudo = isPseudo(k) end
    if not pseudo and not MANAGED[k] then
      local v = headers.h[k]
      if v == nil then
        rm = rm or {}; nr = nr + 1; rm[nr] = k
      else
        set = set or {}; set[k] = v
      end
    end
  end
  return set, rm
end

-- Body ------------------------------------------------------------------------------------
local Body = class('body()')
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

-- Addresses, in Envoy's form: ip:port, [v6]:port ------------------------------------------
local function hostPort(ip, port)
  if find(ip, ':', 1, true) then return '[' .. ip .. ']:' .. port end
  return ip .. ':' .. port
end

-- Envoy's downstream remote address with its defaults (use_remote_address false,
-- xff_num_trusted_hops 0): the last address of x-forwarded-for, port 0; the peer when there is
-- none. The gateway has already dropped the x-forwarded-for of an untrusted peer
-- (entryPoints.<name>.forwardedHeaders), so only a trusted peer's header counts.
local function remoteAddress(xff, peer)
  if type(xff) == 'table' then xff = xff[#xff] end
  if type(xff) ~= 'string' then return peer end
  local last = match(xff, '([^,]*)$')
  last = last and match(last, '^%s*(.-)%s*$')
  if last and (match(last, '^%d+%.%d+%.%d+%.%d+$') or (find(last, ':', 1, true) and match(last, '^[%x:%.]+$'))) then
    return hostPort(last, 0)
  end
  return peer
end

-- Stream info, dynamic metadata, metadata, connection, filter state -----------------------
local DynamicMetadata = class('streamInfo():dynamicMetadata()')
function DynamicMetadata.set(self, ns, k, v)
  local hd = self.hd
  local dm = hd.dm
  if not dm then dm = {}; hd.dm = dm end
  local d = dm[ns]
  if d == nil then d = {}; dm[ns] = d end
  d[k] = v
end
function DynamicMetadata.get(self, ns)
  local dm = self.hd.dm
  if not dm then return nil end
  return dm[ns]
end
function DynamicMetadata.__pairs(self) return next, self.hd.dm or {}, nil end

local FilterState = class('filterState()')
function FilterState.get(_, _) return nil end
local FILTER_STATE = setmetatable({}, FilterState)

local StreamInfo = class('streamInfo()')
function StreamInfo.protocol(_) return 'HTTP/1.1' end
function StreamInfo.dynamicMetadata(self)
  local d = self.dyn
  if not d then d = setmetatable({ hd = self.hd }, DynamicMetadata); self.dyn = d end
  return d
end
function StreamInfo.dynamicTypedMetadata(_, _) return nil end
function StreamInfo.filterState(_) return FILTER_STATE end
function StreamInfo.routeName(self) return self.hd.router or '' end
function StreamInfo.virtualClusterName(_) return '' end
function StreamInfo.downstreamDirectRemoteAddress(self)
  local c = self.hd.client
  if not c then return nil end
  return hostPort(c.address, c.port)
end
function StreamInfo.downstreamRemoteAddress(self)
  local hd = self.hd
  local c = hd.client
  if not c then return nil end
  return remoteAddress(hd.xff, hostPort(c.address, c.port))
end
function StreamInfo.downstreamLocalAddress(self)
  local c = self.hd.client
  if not c then return nil end
  return c['local']
end
StreamInfo.downstreamDirectLocalAddress = StreamInfo.downstreamLocalAddress
function StreamInfo.requestedServerName(_) return '' end
function StreamInfo.downstreamSslConnection(_) return nil end

local Metadata = class('metadata()')
function Metadata.get(self, k)
  local m = self.m
  if type(m) ~= 'table' then return nil end
  return m[k]
end
function Metadata.__pairs(self)
  local m = self.m
  return next, type(m) == 'table' and m or {}, nil
end

local Connection = class('connection()')
function Connection.ssl(_) return nil end
local CONNECTION = setmetatable({}, Connection)

-- Connection-level stream info: nothing is set at that level here (no listener filters, no
-- proxy protocol TLVs), so typed metadata is nil and dynamic metadata starts empty per call.
local ConnectionStreamInfo = class('connectionStreamInfo()')
function ConnectionStreamInfo.dynamicTypedMetadata(_, _) return nil end
function ConnectionStreamInfo.dynamicMetadata(_) return setmetatable({ hd = { dm = false } }, DynamicMetadata) end
local CONNECTION_INFO = setmetatable({}, ConnectionStreamInfo)

local PublicKey = class('importPublicKey()')
function PublicKey.get(self) return self.key end

-- The handle ------------------------------------------------------------------------------
local RESPOND = {}
local REQUEST_PSEUDO = { ':authority', ':path', ':method', ':scheme' }
local RESPONSE_PSEUDO = { ':status' }

local function envoyHost(name)
  local e = hostenv.envoy
  if e == nil then error(name .. ' needs the gateway (host.envoy is not granted here)', 3) end
  return e
end

-- Per request: phase, r (the request or response the gateway passed), config, router, client
-- and xff (request path), dm (dynamic metadata), hdrs, and the sub-objects once asked for.
local Handle = class('handle')

function Handle.headers(self) return self.hdrs end

function Handle.body(self, always)
  local body = self.bd
  if not body then
    local s = self.r.body
    if s == '' and not always then return nil end
    if s == nil then
      if BODY then
        if not always then return nil end
        s = ''
      else
        error({ envoyUnsupported = 'body() (the filter source must mention body() so the gateway buffers it)', where = where(1) }, 0)
      end
    end
    body = setmetatable({ s = s, changed = false }, Body)
    self.bd = body
  end
  return body
end

function Handle.bodyChunks(self)
  local b = Handle.body(self, true)
  local done = false
  return function()
    if done or #b.s == 0 then return nil end
    done = true
    return b
  end
end

function Handle.trailers(_) return nil end

function Handle.respond(self, h, b)
  if self.phase ~= 'request' then error('respond() is only allowed on the request path', 2) end
  error({ [RESPOND] = true, headers = h or {}, body = b }, 0)
end

-- httpCall(cluster, headers, body, timeout_ms[, asynchronous]) or (cluster, headers, body, options)
function Handle.httpCall(_, cluster, h, b, timeout, async)
  local dup = false
  local opts = type(timeout) == 'table' and timeout or type(async) == 'table' and async or nil
  if opts then
    if type(timeout) == 'table' then timeout = opts.timeout_ms end
    async = opts.asynchronous
    dup = opts.return_duplicate_headers == true
  end
  async = async == true
  local res = envoyHost('httpCall').httpCall(cluster, h, b or '', tonumber(timeout) or 0, async, dup)
  if async then return nil end
  local body = res.body
  if body == '' then body = nil end
  return res.headers, body
end

local function logTo(level)
  return function(_, msg) print('[' .. level .. '] ' .. tostring(msg)) end
end
Handle.logTrace = logTo('trace'); Handle.logDebug = logTo('debug'); Handle.logInfo = logTo('info')
Handle.logWarn = logTo('warn'); Handle.logErr = logTo('error'); Handle.logCritical = logTo('critical')

function Handle.metadata(self)
  local m = self.md
  if not m then
    local c = self.config
    m = setmetatable({ m = type(c) == 'table' and c.metadata or false }, Metadata)
    self.md = m
  end
  return m
end

function Handle.streamInfo(self)
  local si = self.si
  if not si then si = setmetatable({ hd = self, dyn = false }, StreamInfo); self.si = si end
  return si
end

function Handle.connection(_) return CONNECTION end
function Handle.connectionStreamInfo(_) return CONNECTION_INFO end
function Handle.filterState(_) return FILTER_STATE end

-- Envoy's LuaPerRoute filter_context; here the middleware config's filterContext key.
function Handle.filterContext(self)
  local c = self.config
  local fc = type(c) == 'table' and c.filterContext or nil
  if type(fc) ~= 'table' then return {} end
  return fc
end

function Handle.base64Escape(_, s) return base64(tostring(s)) end
function Handle.timestamp(_) return envoyHost('timestamp').now() end
function Handle.timestampString(_, resolution)
  return envoyHost('timestampString').nowString(resolution == 1)
end

function Handle.importPublicKey(_, der, len)
  der = tostring(der)
  return setmetatable({ key = { der = sub(der, 1, len or #der) } }, PublicKey)
end

function Handle.verifySignature(_, hash, key, sig, siglen, data, datalen)
  local r = envoyHost('verifySignature').verify(hash, hostenv.bytes(key.der or ''), hostenv.bytes(sub(sig, 1, siglen)), hostenv.bytes(sub(data, 1, datalen)))
  return r.ok, r.error
end

-- Envoy's enum for timestamp() / timestampString(); filters name it as a global.
if EnvoyTimestampResolution == nil then EnvoyTimestampResolution = { MILLISECOND = 0, MICROSECOND = 1 } end

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

local function decode(s)
  return (s:gsub('%%(%x%x)', function(x) return char(tonumber(x, 16)) end))
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
    local path = req.path
    if next(q) ~= nil then path = path .. '?' .. encodeQuery(q) end
    h[':path'] = path
    h[':method'] = req.method
    h[':authority'] = h.host
    h.host = nil
    local proto = h['x-forwarded-proto']
    -- proto[1] is nil for a string (string library), a value for a repeated header's list.
    if proto ~= nil and proto[1] ~= nil then proto = proto[1] end
    h[':scheme'] = proto or 'http'
    local headers = newHeaders(h, REQUEST_PSEUDO)
    local handle = setmetatable({ phase = 'request', r = req, config = ctx.config or false, router = ctx.router or false, client = req.client or false, xff = h['x-forwarded-for'] or false, hdrs = headers, bd = false, md = false, si = false, dm = false }, Handle)
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
    local dirty = headers.dirty
    if dirty then
      if dirty[':authority'] then set = set or {}; set.host = h[':authority'] end
      if dirty[':path'] and h[':path'] ~= path then
        local p = h[':path']
        local at = find(p, '?', 1, true)
        if at then
          decision.path = sub(p, 1, at - 1)
          local nq = {}
          for pair in sub(p, at + 1):gmatch('[^&]+') do
            local k, v = match(pair, '^([^=]*)=?(.*)$')
            k, v = decode(k), decode(v)
            local old = nq[k]
            if old == nil then nq[k] = v elseif type(old) == 'table' then old[#old + 1] = v else nq[k] = { old, v } end
          end
          decision.query = nq
        else
          decision.path = p
          decision.query = {}
        end
      end
    end
    decision.setHeaders = set
    decision.removeHeaders = rm
    local b = handle.bd
    if b and b.changed then decision.body = b.s end
    local dm = handle.dm
    if dm and next(dm) ~= nil then decision.state = { dm = dm } end
    return decision
  end
end

if on_response then
  function exports.onResponse(res, ctx)
    local h = res.headers
    h[':status'] = tostring(res.status)
    local st = ctx.state
    local dm = type(st) == 'table' and type(st.dm) == 'table' and st.dm or nil
    local headers = newHeaders(h, RESPONSE_PSEUDO)
    local handle = setmetatable({ phase = 'response', r = res, config = ctx.config or false, router = ctx.router or false, client = false, xff = false, hdrs = headers, bd = false, md = false, si = false, dm = dm or false }, Handle)
    run(on_response, handle)
    local decision = {}
    local set, rm = headerChanges(headers)
    decision.setHeaders = set
    decision.removeHeaders = rm
    if headers.dirty and headers.dirty[':status'] then decision.status = tonumber(h[':status']) end
    if headers.reason then decision.reason = headers.reason end
    local b = handle.bd
    if b and b.changed then decision.body = b.s end
    return decision
  end
end

local gw = BODY and { requestBody = { maxBytes = MAX_BODY }, responseBody = { maxBytes = MAX_BODY } } or {}
gw.repeatedHeaders = true
exports.meta = { gateway = gw, envoyFilter = true }
return exports
`;
