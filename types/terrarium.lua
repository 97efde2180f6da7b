---@meta terrarium
-- Annotations for lua-language-server (https://luals.github.io): what a Terrarium Lua plugin sees
-- beyond plain Lua 5.3. Not loaded by Terrarium; point the language server at this directory,
-- e.g. .luarc.json: { "workspace.library": ["node_modules/terrarium-plugins/types"] }.
-- The host-side truth is src/engines/lua/ (host-object.ts, platform.ts) and src/platform/lua.ts;
-- test/author-types.test.ts checks that every function a loaded plugin finds is declared here.

-- ---------------------------------------------------------------------------------------------
-- host: read-only (assigning raises "host is read-only"), pairs(host) lists nothing.
-- log, config and the helpers are always there; kv and fs only when the host grants them.

---A byte string marked to cross to the host as bytes (Uint8Array).
---@class terrarium.Bytes: userdata
---host.null (= json.null): JSON null, and a hole kept inside an array.
---@class terrarium.Null: userdata

---@class terrarium.Host
host = {}

---This plugin's config (options.config[name]; a middleware's is also ctx.config), read fresh on each access.
---@type any
host.config = nil

---host.null: the value that crosses as null (the same value as json.null).
---@type terrarium.Null
host.null = nil

---Mark a table to cross as an array (an empty one stays []).
---@generic T: table
---@param t T
---@return T
function host.array(t) end

---Mark a table to cross as an object (an empty one becomes {} instead of []).
---@generic T: table
---@param t T
---@return T
function host.object(t) end

---Mark a string to cross as bytes (Uint8Array) instead of text.
---@param s string
---@return terrarium.Bytes
function host.bytes(s) end

---host.log.*: arguments joined with spaces (non-strings as JSON) into one line for the host logger.
host.log = {}
---@param ... any
function host.log.debug(...) end
---@param ... any
function host.log.info(...) end
---@param ... any
function host.log.warn(...) end
---@param ... any
function host.log.error(...) end

---host.kv: this plugin's own key space ('@name/key' reaches a namespace granted with
---grants.<plugin>.kv.shared). Present when granted (the gateway: plugins.capabilities.kv).
---@type table?
host.kv = {}
---@param key string
---@return any
function host.kv.get(key) end
---@param key string
---@param value any
---@param ttlMs? integer
---@return true
function host.kv.set(key, value, ttlMs) end
---The new count; the TTL starts when the key is created.
---@param key string
---@param by? number
---@param ttlMs? integer
---@return number
function host.kv.incr(key, by, ttlMs) end
---@param key string
---@return boolean
function host.kv.delete(key) end

---host.fs: text files under the directory the host granted (scopedFs). Present when granted.
---@type table?
host.fs = {}
---The file's text, or nil when it does not exist.
---@param file string
---@return string?
function host.fs.read(file) end
---Create or replace a file (parent directories are created).
---@param file string
---@param text string
---@return true
function host.fs.write(file, text) end
---@param file string
---@return boolean removed false when there was none
function host.fs.remove(file) end
---@param file string
---@return boolean
function host.fs.exists(file) end
---Names in a directory (default: the base), sorted.
---@param dir? string
---@return string[]
function host.fs.list(dir) end

-- ---------------------------------------------------------------------------------------------
-- The platform libraries (docs/platform.md). Binary results are Lua strings of raw bytes.

json = {}
---@type terrarium.Null
json.null = nil
---The marshalling rules: {} encodes as [], host.object({}) as {}; non-UTF-8 strings, NaN and inf are refused.
---@param v any
---@return string
function json.encode(v) end
---JSON null decodes to json.null.
---@param s string
---@return any
function json.decode(s) end

base64 = {}
---@param s string
---@return string
function base64.encode(s) end
---Forgiving-base64 (as atob); nil on invalid input.
---@param s string
---@return string?
function base64.decode(s) end

hex = {}
---Lower-case hex.
---@param s string
---@return string
function hex.encode(s) end
---@param s string
---@return string?
function hex.decode(s) end

---@alias terrarium.DigestAlg 'sha1'|'sha256'|'sha384'|'sha512'|'SHA-1'|'SHA-256'|'SHA-384'|'SHA-512'

crypto = {}
---Raw bytes: hex.encode(crypto.digest('sha256', s)).
---@param alg terrarium.DigestAlg
---@param s string
---@return string
function crypto.digest(alg, s) end
---Raw bytes.
---@param alg terrarium.DigestAlg
---@param key string
---@param s string
---@return string
function crypto.hmac(alg, key, s) end
---n random bytes.
---@param n integer
---@return string
function crypto.random_bytes(n) end

---@alias terrarium.SignAlg 'ES256'|'ES384'|'ES512'|'RS256'|'RS384'|'RS512'|'PS256'|'PS384'|'PS512'|'EdDSA'

---Whether sig is alg's signature of data under key (PEM text or a JWK as JSON); ECDSA signatures are r||s, as in a JWT.
---@param alg terrarium.SignAlg
---@param key string
---@param data string
---@param sig string
---@return boolean
function crypto.verify(alg, key, data, sig) end
---alg's signature (raw bytes) of data with a private key (PEM text or a JWK as JSON).
---@param alg terrarium.SignAlg
---@param key string
---@param data string
---@return string
function crypto.sign(alg, key, data) end
---Constant-time comparison of two strings (for MACs and tokens).
---@param a string
---@param b string
---@return boolean
function crypto.equals(a, b) end

---Only time, date, difftime and clock: no execute, getenv, exit, remove, rename, tmpname, setlocale.
os = {}
---@param t? table
---@return integer
function os.time(t) end
---fengari's os.date does not understand a leading '!' (UTC).
---@param format? string
---@param time? integer
---@return string|osdate
function os.date(format, time) end
---@param t2 integer
---@param t1 integer
---@return number
function os.difftime(t2, t1) end
---Seconds since the instance started (not CPU time).
---@return number
function os.clock() end

-- ---------------------------------------------------------------------------------------------
-- The gateway's middleware contract (src/gateway/middleware/contract.ts, docs/gateway.md).

---@alias terrarium.HeaderValue string|number|string[]

---What onRequest receives as req.
---@class terrarium.Request
---@field method string
---@field path string The path after earlier rewrites; no query.
---@field query table<string, string|string[]>
---@field headers table<string, string|string[]> Lower-cased names (only meta.gateway.requestHeaders when declared).
---@field client { address: string, port: integer }
---@field body? string Only for plugins that declare meta.gateway.requestBody.

---The second argument of both phases.
---@class terrarium.Context
---@field config any This middleware's config from the gateway file (schema defaults filled in).
---@field state table What onRequest returned as state for this request ({} at first).
---@field router string
---@field middleware string

---What onRequest may return (nil or {} continues unchanged).
---@class terrarium.RequestDecision
---@field setHeaders? table<string, terrarium.HeaderValue>
---@field removeHeaders? string[]|string
---@field path? string A new path, starting with '/'.
---@field query? table<string, string|string[]>
---@field body? string Only with meta.gateway.requestBody.
---@field state? table Kept for this middleware's onResponse, as ctx.state.
---@field respond? { status?: integer, headers?: table<string, terrarium.HeaderValue>, body?: any } Answer now.

---What onResponse receives as res.
---@class terrarium.Response
---@field status integer
---@field headers table<string, string|string[]>
---@field body? string Only with meta.gateway.responseBody, within its maxBytes.

---What onResponse may return (nil keeps the response).
---@class terrarium.ResponseDecision
---@field status? integer
---@field reason? string The HTTP/1.1 reason phrase of the status line.
---@field setHeaders? table<string, terrarium.HeaderValue>
---@field removeHeaders? string[]|string
---@field body? any

---meta.gateway of a middleware.
---@class terrarium.GatewayMeta
---@field requestBody? { maxBytes: integer }|boolean
---@field responseBody? { maxBytes: integer }|boolean
---@field requestHeaders? string[] The request headers read (lower-case); only those are copied in.

---One case of meta.tests.
---@class terrarium.SelfTestCase
---@field args? any[]
---@field expect? any

---The meta field of a plugin's table.
---@class terrarium.Meta
---@field name? string
---@field version? string
---@field apiVersion? string|integer
---@field description? string
---@field tests? table<string, terrarium.SelfTestCase[]>
---@field configSchema? table A JSON schema for the middleware's config.
---@field gateway? terrarium.GatewayMeta

---A middleware plugin's table: `---@type terrarium.Middleware` on `local M = { ... }`.
---@class terrarium.Middleware
---@field meta? terrarium.Meta
---@field onRequest? fun(req: terrarium.Request, ctx: terrarium.Context): terrarium.RequestDecision?
---@field onResponse? fun(res: terrarium.Response, ctx: terrarium.Context): terrarium.ResponseDecision?
