/**
 * Envoy's HTTP Lua filters run unchanged as gateway middlewares (issue 25, docs/envoy.md). The
 * filter scripts are those of Envoy's Lua integration tests and documentation
 * (envoyproxy/envoy test/extensions/filters/http/lua/lua_integration_test.cc and
 * docs/root/configuration/http/http_filters/lua_filter.rst, Apache-2.0); each case checks over
 * real HTTP what Envoy's test checks: what the upstream receives, what the client gets, and the
 * httpCall to a local cluster.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, gateway, request, tempDir, upstream } from './fixtures/gateway/helpers.js';
import { METADATA, filterOn, withFilter } from './fixtures/envoy.js';

describe('Envoy Lua filters', () => {
  it('RequestAndResponse: headers, getAtIndex, body length, metadata, dynamic metadata, stream info; response headers and body size', async (t) => {
    const up = await upstream((_req, res) => {
      res.setHeader('foo', 'bar');
      res.write('good');
      res.end('bye');
    });
    t.after(() => up.close());
    // Envoy's RequestAndResponse script, unchanged.
    const filter = `
function envoy_on_request(request_handle)
  request_handle:logTrace("log test")
  request_handle:logDebug("log test")
  request_handle:logInfo("log test")
  request_handle:logWarn("log test")
  request_handle:logErr("log test")
  request_handle:logCritical("log test")

  local metadata = request_handle:metadata():get("foo.bar")
  local body_length = request_handle:body():length()

  request_handle:streamInfo():dynamicMetadata():set("envoy.lb", "foo", "bar")
  local dynamic_metadata_value = request_handle:streamInfo():dynamicMetadata():get("envoy.lb")["foo"]

  local test_header_value_0 = request_handle:headers():getAtIndex("X-Test-Header", 0)
  request_handle:headers():add("test_header_value_0", test_header_value_0)
  local test_header_value_1 = request_handle:headers():getAtIndex("X-TEST-Header", 1)
  request_handle:headers():add("test_header_value_1", test_header_value_1)
  local test_header_value_2 = request_handle:headers():getAtIndex("x-test-header", 2)
  if test_header_value_2 == nil then
    request_handle:headers():add("test_header_value_2", "nil_value")
  end
  local test_header_value_size = request_handle:headers():getNumValues("x-test-header")
  request_handle:headers():add("test_header_value_size", test_header_value_size)
  request_handle:headers():add("cookie_0", request_handle:headers():getAtIndex("set-cookie", 0))
  request_handle:headers():add("cookie_1", request_handle:headers():getAtIndex("set-cookie", 1))
  request_handle:headers():add("cookie_size", request_handle:headers():getNumValues("set-cookie"))

  request_handle:headers():add("request_body_size", body_length)
  request_handle:headers():add("request_metadata_foo", metadata["foo"])
  request_handle:headers():add("request_metadata_baz", metadata["baz"])
  if request_handle:connection():ssl() == nil then
    request_handle:headers():add("request_secure", "false")
  else
    request_handle:headers():add("request_secure", "true")
  end
  request_handle:headers():add("request_protocol", request_handle:streamInfo():protocol())
  request_handle:headers():add("request_dynamic_metadata_value", dynamic_metadata_value)
  request_handle:headers():add("request_downstream_local_address_value",
    request_handle:streamInfo():downstreamLocalAddress())
  request_handle:headers():add("request_downstream_directremote_address_value",
    request_handle:streamInfo():downstreamDirectRemoteAddress())
  request_handle:headers():add("request_downstream_remote_address_value",
    request_handle:streamInfo():downstreamRemoteAddress())
  request_handle:headers():add("request_requested_server_name",
    request_handle:streamInfo():requestedServerName())
end

function envoy_on_response(response_handle)
  local metadata = response_handle:metadata():get("foo.bar")
  local body_length = response_handle:body():length()
  response_handle:headers():add("response_metadata_foo", metadata["foo"])
  response_handle:headers():add("response_metadata_baz", metadata["baz"])
  response_handle:headers():add("response_body_size", body_length)
  response_handle:headers():add("request_protocol", response_handle:streamInfo():protocol())
  response_handle:headers():remove("foo")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, up, { cfg: { metadata: METADATA } });
    const r = await request(`${gw.url}/test/long/url`, { method: 'POST', headers: { 'x-test-header': ['foo', 'bar'] as never, 'set-cookie': ['foo;bar;', '1,3;2,5;'] as never, 'x-forwarded-for': '10.0.0.1' }, body: 'helloworld' });
    assert.equal(r.status, 200, r.text);
    const h = up.seen[0]!.headers;
    // Two x-test-header lines are two values (node's parser would have joined them: guards repeatedHeaders).
    assert.equal(h.test_header_value_0, 'foo');
    assert.equal(h.test_header_value_1, 'bar');
    assert.equal(h.test_header_value_2, 'nil_value');
    assert.equal(h.test_header_value_size, '2');
    assert.equal(h.cookie_0, 'foo;bar;');
    assert.equal(h.cookie_1, '1,3;2,5;');
    assert.equal(h.cookie_size, '2');
    assert.equal(h.request_body_size, '10');
    assert.equal(h.request_metadata_foo, 'bar');
    assert.equal(h.request_metadata_baz, 'bat');
    assert.equal(h.request_secure, 'false');
    assert.equal(h.request_protocol, 'HTTP/1.1');
    // downstreamLocalAddress: the gateway's own address:port the client connected to (guards its implementation).
    assert.equal(h.request_downstream_local_address_value, `127.0.0.1:${new URL(gw.url).port}`);
    assert.equal(h.request_dynamic_metadata_value, 'bar');
    assert.match(String(h.request_downstream_directremote_address_value), /^127\.0\.0\.1:\d+$/);
    // Envoy's defaults: the last x-forwarded-for address of a trusted peer, port 0.
    assert.equal(h.request_downstream_remote_address_value, '10.0.0.1:0');
    assert.equal(h.request_requested_server_name, '');
    assert.equal(up.seen[0]!.body, 'helloworld');
    assert.equal(r.headers.response_body_size, '7');
    assert.equal(r.headers.response_metadata_foo, 'bar');
    assert.equal(r.headers.response_metadata_baz, 'bat');
    assert.equal(r.headers.request_protocol, 'HTTP/1.1');
    assert.equal(r.headers.foo, undefined);
    assert.equal(r.text, 'goodbye');
  });
});

const CALL = `
function envoy_on_request(request_handle)
  local headers, body = request_handle:httpCall(
  "lua_cluster",
  {
    [":method"] = "POST",
    [":path"] = "/",
    [":authority"] = "lua_cluster"
  },
  "hello world",
  5000)

  request_handle:headers():add("upstream_foo", headers["foo"])
  request_handle:headers():add("upstream_body_size", #body)
end
`;

describe('Envoy Lua filters: httpCall to a local cluster', () => {
  it('UpstreamHttpCall: the cluster is http.services.<cluster>; the filter resumes with its headers and body', async (t) => {
    const app = await upstream((_req, res) => res.end('app'));
    const lua = await upstream((_req, res) => {
      res.setHeader('foo', 'bar');
      res.end('good');
    });
    t.after(() => Promise.all([app.close(), lua.close()]));
    const gw = await withFilter(t, { 'filter.lua': CALL }, app, { services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } } });
    const r = await request(`${gw.url}/test/long/url`);
    assert.equal(r.status, 200, r.text);
    assert.equal(lua.seen[0]!.method, 'POST');
    assert.equal(lua.seen[0]!.url, '/');
    assert.equal(lua.seen[0]!.headers.host, 'lua_cluster');
    assert.equal(lua.seen[0]!.body, 'hello world');
    assert.equal(app.seen[0]!.headers.upstream_foo, 'bar');
    assert.equal(app.seen[0]!.headers.upstream_body_size, '4');
  });

  it('UpstreamCallAndRespond: respond() after httpCall answers the client; the upstream is not called', async (t) => {
    const app = await upstream((_req, res) => res.end('app'));
    const lua = await upstream((_req, res) => {
      res.setHeader('foo', 'bar');
      res.end();
    });
    t.after(() => Promise.all([app.close(), lua.close()]));
    const filter = `
function envoy_on_request(request_handle)
  local headers, body = request_handle:httpCall(
  "lua_cluster",
  {
    [":method"] = "POST",
    [":path"] = "/",
    [":authority"] = "lua_cluster"
  },
  "hello world",
  5000)

  request_handle:respond(
    {[":status"] = "403",
     ["upstream_foo"] = headers["foo"]},
    "nope")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } } });
    const r = await request(`${gw.url}/test/long/url`);
    assert.equal(r.status, 403);
    assert.equal(r.text, 'nope');
    assert.equal(r.headers.upstream_foo, 'bar');
    assert.equal(app.seen.length, 0);
  });

  it('UpstreamAsyncHttpCall: an asynchronous call is sent and the request goes on without waiting for it', async (t) => {
    const app = await upstream((_req, res) => res.end('app'));
    let answer: (() => void) | undefined;
    const called = new Promise<void>((resolve) => {
      answer = resolve;
    });
    // The cluster never answers until the test is over: the request must not wait for it.
    const pending: import('node:http').ServerResponse[] = [];
    const lua = await upstream((_req, res) => {
      pending.push(res);
      answer!();
    });
    t.after(async () => {
      for (const res of pending) res.end();
      await Promise.all([app.close(), lua.close()]);
    });
    const filter = `
function envoy_on_request(request_handle)
  local headers, body = request_handle:httpCall(
  "lua_cluster",
  {
    [":method"] = "POST",
    [":path"] = "/",
    [":authority"] = "lua_cluster"
  },
  "hello world",
  5000,
  true)
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } } });
    const r = await request(`${gw.url}/test/long/url`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'app');
    await called;
    assert.equal(lua.seen[0]!.method, 'POST');
    assert.equal(lua.seen[0]!.url, '/');
  });

  it('other requests are served while a filter waits on its httpCall', async (t) => {
    const app = await upstream((_req, res) => res.end('app'));
    let release: (() => void) | undefined;
    const lua = await upstream((req, res) => {
      if (req.url === '/slow') release = () => res.end('late');
      else res.end('fast');
    });
    t.after(() => Promise.all([app.close(), lua.close()]));
    const filter = `
function envoy_on_request(request_handle)
  local path = request_handle:headers():get(":path")
  local headers, body = request_handle:httpCall("lua_cluster", { [":method"] = "GET", [":path"] = path, [":authority"] = "x" }, "", 5000)
  request_handle:headers():add("x-call-body", body)
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } }, limits: { callTimeoutMs: 20000 } });
    const slow = request(`${gw.url}/slow`);
    while (!release) await new Promise((r) => setImmediate(r));
    const fast = await request(`${gw.url}/fast`);
    assert.equal(fast.status, 200);
    release();
    assert.equal((await slow).status, 200);
    assert.deepEqual(app.seen.map((s) => s.headers['x-call-body']).sort(), ['fast', 'late']);
  });
});

describe('Envoy Lua filters: paths, bodies, signatures', () => {
  it('ChangeRoute: a :path rewrite reaches the upstream', async (t) => {
    const filter = `
function envoy_on_request(request_handle)
  request_handle:headers():remove(":path")
  request_handle:headers():add(":path", "/alt/route")
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('ok'));
    const r = await request(`${gw.url}/test/long/url`);
    assert.equal(r.status, 200);
    assert.equal(up.seen[0]!.url, '/alt/route');
  });

  it(':path keeps its query; a rewrite with a query sends that query; :authority is the Host', async (t) => {
    const filter = `
function envoy_on_request(h)
  local hs = h:headers()
  hs:add("x-seen-path", hs:get(":path"))
  hs:add("x-seen-method", hs:get(":method"))
  hs:add("x-seen-authority", hs:get(":authority"))
  hs:replace(":path", "/v2" .. hs:get(":path"))
  hs:replace(":authority", "internal.example")
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('ok'));
    const r = await request(`${gw.url}/a?x=1`, { headers: { host: 'public.example' } });
    assert.equal(r.status, 200);
    assert.equal(up.seen[0]!.headers['x-seen-path'], '/a?x=1');
    assert.equal(up.seen[0]!.headers['x-seen-method'], 'GET');
    assert.equal(up.seen[0]!.headers['x-seen-authority'], 'public.example');
    assert.equal(up.seen[0]!.url, '/v2/a?x=1');
    assert.equal(up.seen[0]!.headers.host, 'internal.example');
  });

  for (const [name, filter] of [
    ['RewriteResponseBuffer', `
function envoy_on_response(response_handle)
  local content_length = response_handle:body():setBytes("ok")
  response_handle:logTrace(content_length)

  response_handle:headers():replace("content-length", content_length)
end
`],
    ['RewriteResponseBufferWithoutHeaderReplaceContentLength', `
function envoy_on_response(response_handle)
  local content_length = response_handle:body():setBytes("ok")
  response_handle:logTrace(content_length)
end
`],
    ['RewriteChunkedBody', `
function envoy_on_response(response_handle)
  response_handle:headers():replace("content-length", 2)
  local last
  for chunk in response_handle:bodyChunks() do
    chunk:setBytes("")
    last = chunk
  end
  last:setBytes("ok")
end
`],
  ] as const) {
    it(`${name}: the client gets the body the filter set, with its length`, async (t) => {
      const up = await upstream((_req, res) => {
        res.setHeader('foo', 'bar');
        res.write('good');
        res.end('bye');
      });
      t.after(() => up.close());
      const gw = await withFilter(t, { 'filter.lua': filter }, up);
      const r = await request(`${gw.url}/test/long/url`, { method: 'POST', body: 'done' });
      assert.equal(r.status, 200);
      assert.equal(r.text, 'ok');
      assert.equal(r.headers['content-length'], '2');
    });
  }

  it('RewriteResponseBufferWithoutUpstreamBody: body(true) wraps an empty body; body(false) is nil', async (t) => {
    const up = await upstream((_req, res) => res.end());
    t.after(() => up.close());
    const always = `
function envoy_on_response(response_handle)
  local content_length = response_handle:body(true):setBytes("ok")
  response_handle:logTrace(content_length)

  response_handle:headers():replace("content-length", content_length)
end
`;
    const gw = await withFilter(t, { 'filter.lua': always }, up);
    const r = await request(`${gw.url}/test/long/url`);
    assert.equal(r.text, 'ok');
    assert.equal(r.headers['content-length'], '2');
    const never = `
function envoy_on_response(response_handle)
  if response_handle:body(false) then
    local content_length = response_handle:body():setBytes("ok")
    response_handle:logTrace(content_length)
    response_handle:headers():replace("content-length", content_length)
  end
end
`;
    const gw2 = await withFilter(t, { 'filter.lua': never }, up);
    const r2 = await request(`${gw2.url}/test/long/url`);
    assert.equal(r2.status, 200);
    assert.equal(r2.text, '');
  });

  it('a request body over the per-filter maximum gets 413, as Envoy answers past its buffer limit', async (t) => {
    const filter = `
function envoy_on_request(h)
  h:headers():add("x-len", h:body():length())
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('ok'));
    const r = await request(`${gw.url}/`, { method: 'POST', body: Buffer.alloc((1 << 20) + 1, 97) });
    assert.equal(r.status, 413);
    assert.equal(up.seen.length, 0);
    const ok = await request(`${gw.url}/`, { method: 'POST', body: 'abc' });
    assert.equal(ok.status, 200);
    assert.equal(up.seen[0]!.headers['x-len'], '3');
  });

  it('SignatureVerification: importPublicKey and verifySignature approve Envoy\'s signed message', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = `
function string.fromhex(str)
  return (str:gsub('..', function (cc)
    return string.char(tonumber(cc, 16))
  end))
end

-- decoding
function dec(data)
  local b='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  data = string.gsub(data, '[^'..b..'=]', '')
  return (data:gsub('.', function(x)
    if (x == '=') then return '' end
    local r,f='',(b:find(x)-1)
    for i=6,1,-1 do r=r..(f%2^i-f%2^(i-1)>0 and '1' or '0') end
    return r;
  end):gsub('%d%d%d?%d?%d?%d?%d?%d?', function(x)
    if (#x ~= 8) then return '' end
    local c=0
    for i=1,8 do c=c+(x:sub(i,i)=='1' and 2^(8-i) or 0) end
    return string.char(c)
  end))
end

function envoy_on_request(request_handle)
  local metadata = request_handle:metadata():get("keyset")
  local keyder = metadata[request_handle:headers():get("keyid")]

  local rawkeyder = dec(keyder)
  local pubkey = request_handle:importPublicKey(rawkeyder, string.len(rawkeyder)):get()

  if pubkey == nil then
    request_handle:logErr("log test")
    request_handle:headers():add("signature_verification", "rejected")
    return
  end

  local hash = request_handle:headers():get("hash")
  local sig = request_handle:headers():get("signature")
  local rawsig = sig:fromhex()
  local data = request_handle:headers():get("message")
  local ok, error = request_handle:verifySignature(hash, pubkey, rawsig, string.len(rawsig), data, string.len(data))

  if ok then
    request_handle:headers():add("signature_verification", "approved")
  else
    request_handle:logErr(error)
    request_handle:headers():add("signature_verification", "rejected")
  end

  request_handle:headers():add("verification", "done")
end
`;
    const signature =
      '345ac3a167558f4f387a81c2d64234d901a7ceaa544db779d2f797b0ea4ef851b740905a63e2f4d5af42cee093a2' +
      '9c7155db9a63d3d483e0ef948f5ac51ce4e10a3a6606fd93ef68ee47b30c37491103039459122f78e1c7ea71a1a5' +
      'ea24bb6519bca02c8c9915fe8be24927c91812a13db72dbcb500103a79e8f67ff8cb9e2a631974e0668ab3977bf5' +
      '70a91b67d1b6bcd5dce84055f21427d64f4256a042ab1dc8e925d53a769f6681a873f5859693a7728fcbe95beace' +
      '1563b5ffbcd7c93b898aeba31421dafbfadeea50229c49fd6c445449314460f3d19150bd29a91333beaced557ed6' +
      '295234f7c14fa46303b7e977d2c89ba8a39a46a35f33eb07a332';
    const gw = await withFilter(t, { 'filter.lua': filter }, up, { cfg: { metadata: METADATA }, limits: { callTimeoutMs: 5000 } });
    const r = await request(`${gw.url}/test/long/url`, { method: 'POST', headers: { message: 'hello', keyid: 'foo', signature, hash: 'sha256' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(up.seen[0]!.headers.signature_verification, 'approved');
    assert.equal(up.seen[0]!.headers.verification, 'done');
    const bad = await request(`${gw.url}/test/long/url`, { method: 'POST', headers: { message: 'hellO', keyid: 'foo', signature, hash: 'sha256' } });
    assert.equal(bad.status, 200);
    assert.equal(up.seen[1]!.headers.signature_verification, 'rejected');
  });
});

describe('Envoy Lua filters: Respond, SurviveMultipleCalls, DirectResponseLuaMetadata', () => {
  it('Respond: respond() answers with its :status and body; the upstream is not called', async (t) => {
    const filter = `
function envoy_on_request(request_handle)
  request_handle:respond(
    {[":status"] = "403"},
    "nope")
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('app'));
    const r = await request(`${gw.url}/alt/route`);
    assert.equal(r.status, 403);
    assert.equal(r.text, 'nope');
    assert.equal(up.seen.length, 0);
  });

  it('SurviveMultipleCalls: 30 requests on one connection, each calling streamInfo():dynamicMetadata()', async (t) => {
    const filter = `
function envoy_on_request(request_handle)
  request_handle:streamInfo():dynamicMetadata()
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('ok'));
    const http = await import('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    for (let i = 0; i < 30; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        http.get(`${gw.url}/test/long/url`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
      assert.equal(status, 200);
    }
    assert.equal(up.seen.length, 30);
  });

  it('DirectResponseLuaMetadata: envoy_on_response reads the metadata (here the middleware config)', async (t) => {
    const filter = `
function envoy_on_response(response_handle)
  response_handle:headers():add('foo', response_handle:metadata():get('foo') or 'nil')
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('hello'), { cfg: { metadata: { foo: 'bar' } } });
    const r = await request(`${gw.url}/lua/direct_response`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.foo, 'bar');
    assert.equal(r.text, 'hello');
  });
});

describe('Envoy Lua filters: Http1ReasonPhrase', () => {
  it('Http1ReasonPhrase: setHttp1ReasonPhrase sets the HTTP/1.1 status line\'s reason phrase', async (t) => {
    // Envoy's script as it is; its test reads Envoy's local 400 (no Host), which the gateway answers
    // before any middleware (RFC 9112), so this request has a Host and reaches the upstream.
    const filter = `
function envoy_on_response(response_handle)
  response_handle:headers():setHttp1ReasonPhrase("Slow Down")
end
`;
    const { gw } = await filterOn(t, filter, (_req, res) => res.end('ok'));
    const net = await import('node:net');
    const { port } = new URL(gw.url);
    const response = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect(Number(port), '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.on('error', reject);
    });
    assert.ok(response.startsWith('HTTP/1.1 200 Slow Down\r\n'), response.split('\r\n')[0]);
  });
});

describe('Envoy Lua filters: repeated headers, addresses, stream info', () => {
  it('a repeated header is its values one by one (request and response); add() appends one more line (guards repeatedHeaders)', async (t) => {
    let raw: string[] = [];
    const filter = `
function envoy_on_request(h)
  local hs = h:headers()
  hs:add("x-n", hs:getNumValues("x-foo"))
  hs:add("x-second", hs:getAtIndex("x-foo", 1))
  hs:add("x-joined", hs:get("x-foo"))
  hs:add("x-foo", "c")
end
function envoy_on_response(h)
  h:headers():add("x-cookies", h:headers():getNumValues("set-cookie"))
  h:headers():add("set-cookie", "c=3")
  h:headers():add("x-rn", h:headers():getNumValues("x-r"))
  h:headers():add("x-r1", h:headers():getAtIndex("x-r", 1))
end
`;
    const { gw, up } = await filterOn(t, filter, (req, res) => {
      raw = req.rawHeaders;
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-r', ['a', 'b']);
      res.end('ok');
    });
    const r = await request(`${gw.url}/`, { headers: { 'x-foo': ['a', 'b'] as never } });
    assert.equal(r.status, 200);
    // The values of one name in the order the upstream received its lines.
    const values = (name: string) => raw.flatMap((v, i) => (i % 2 === 1 && raw[i - 1]!.toLowerCase() === name ? [v] : []));
    assert.deepEqual(values('x-foo'), ['a', 'b', 'c']);
    assert.deepEqual(values('x-n'), ['2']);
    assert.deepEqual(values('x-second'), ['b']);
    assert.deepEqual(values('x-joined'), ['a,b']);
    assert.equal(r.headers['x-cookies'], '2');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2', 'c=3']);
    // The upstream's two x-r lines are two values on the response path too.
    assert.equal(r.headers['x-rn'], '2');
    assert.equal(r.headers['x-r1'], 'b');
  });

  it('downstreamRemoteAddress: the last x-forwarded-for address of a trusted peer (port 0), else the peer', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const filter = `
function envoy_on_request(h)
  h:headers():add("x-remote", h:streamInfo():downstreamRemoteAddress())
  h:headers():add("x-direct", h:streamInfo():downstreamDirectRemoteAddress())
end
`;
    const trusted = await withFilter(t, { 'filter.lua': filter }, up);
    await request(`${trusted.url}/`, { headers: { 'x-forwarded-for': '1.2.3.4, 10.0.0.9' } });
    await request(`${trusted.url}/`);
    const untrusted = await withFilter(t, { 'filter.lua': filter }, up, { trustForwarded: false });
    await request(`${untrusted.url}/`, { headers: { 'x-forwarded-for': '10.0.0.1' } });
    const [a, b, c] = up.seen.map((s) => s.headers);
    assert.equal(a!['x-remote'], '10.0.0.9:0');
    assert.match(String(a!['x-direct']), /^127\.0\.0\.1:\d+$/);
    assert.equal(b!['x-remote'], b!['x-direct']);
    assert.equal(c!['x-remote'], c!['x-direct']);
    assert.match(String(c!['x-remote']), /^127\.0\.0\.1:\d+$/);
  });

  it('streamInfo routeName, virtualClusterName, downstreamDirectLocalAddress, filterState; timestampString; filterContext', async (t) => {
    const filter = `
function envoy_on_request(h)
  local si = h:streamInfo()
  local hs = h:headers()
  hs:add("x-route", si:routeName())
  hs:add("x-vc", "[" .. si:virtualClusterName() .. "]")
  hs:add("x-local", si:downstreamDirectLocalAddress())
  hs:add("x-fs", tostring(si:filterState():get("auth.result")) .. "," .. tostring(h:filterState():get("x")))
  hs:add("x-ssl", tostring(si:downstreamSslConnection()))
  hs:add("x-ms", h:timestampString())
  hs:add("x-us", h:timestampString(EnvoyTimestampResolution.MICROSECOND))
  hs:add("x-fc", h:filterContext()["key"])
end
`;
    const { gw, up } = await filterOn(t, filter, (_req, res) => res.end('ok'), { cfg: { filterContext: { key: 'xxxxxx' } } });
    const before = Date.now();
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200, r.text);
    const h = up.seen[0]!.headers;
    assert.equal(h['x-route'], 'r');
    assert.equal(h['x-vc'], '[]');
    assert.equal(h['x-local'], `127.0.0.1:${new URL(gw.url).port}`);
    assert.equal(h['x-fs'], 'nil,nil');
    assert.equal(h['x-ssl'], 'nil');
    assert.match(String(h['x-ms']), /^\d{13}$/);
    assert.ok(Number(h['x-ms']) >= before - 1000);
    assert.match(String(h['x-us']), /^\d{16}$/);
    assert.equal(h['x-fc'], 'xxxxxx');
  });

  it('httpCall(cluster, headers, body, options): timeout_ms and return_duplicate_headers; a list value is sent as repeated lines', async (t) => {
    const app = await upstream((_req, res) => res.end('app'));
    const lua = await upstream((_req, res) => {
      res.setHeader('key', ['value_0', 'value_1', 'value_2']);
      res.end();
    });
    t.after(() => Promise.all([app.close(), lua.close()]));
    const filter = `
function envoy_on_request(request_handle)
  local headers, body = request_handle:httpCall("lua_cluster", {
    [":method"] = "POST", [":path"] = "/", [":authority"] = "lua_cluster",
    ["set-cookie"] = { "lang=lua; Path=/", "type=binding; Path=/" }
  }, "hello world", { timeout_ms = 5000, return_duplicate_headers = true })
  request_handle:headers():add("x-keys", table.concat(headers["key"], "|"))
  request_handle:headers():add("x-body", tostring(body))
  local last = request_handle:httpCall("lua_cluster", { [":method"] = "GET", [":path"] = "/", [":authority"] = "x" }, nil, 5000)
  request_handle:headers():add("x-last", last["key"])
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } } });
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200, r.text);
    assert.equal(app.seen[0]!.headers['x-keys'], 'value_0|value_1|value_2');
    // An empty body is nil, as Envoy returns it.
    assert.equal(app.seen[0]!.headers['x-body'], 'nil');
    // Without return_duplicate_headers, Envoy keeps the last value.
    assert.equal(app.seen[0]!.headers['x-last'], 'value_2');
    assert.deepEqual(lua.seen[0]!.headers['set-cookie'], ['lang=lua; Path=/', 'type=binding; Path=/']);
  });
});

describe('Envoy Lua filters: LocalReplyWhenWaitingForBodyFollowedByHttpRequest, BasicTestOfLuaPerRoute', () => {
  it('LocalReplyWhenWaitingForBodyFollowedByHttpRequest: a body past the buffer limit is answered locally; the httpCall is never made', async (t) => {
    const app = await upstream((_req, res) => res.end('app'));
    const lua = await upstream((_req, res) => res.end());
    t.after(() => Promise.all([app.close(), lua.close()]));
    const filter = `
function envoy_on_request(request_handle)
  local initial_req_body = request_handle:body()
  local headers, body = request_handle:httpCall(
  "lua_cluster",
  {
    [":method"] = "POST",
    [":path"] = "/",
    [":authority"] = "lua_cluster"
  },
  "hello world",
  1000)
  request_handle:headers():replace("x-code", headers["code"] or "")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } } });
    const r = await request(`${gw.url}/test/long/url`, { method: 'POST', body: Buffer.alloc((1 << 20) + 1, 97) });
    assert.equal(r.status, 413);
    assert.equal(lua.seen.length, 0);
    assert.equal(app.seen.length, 0);
  });

  it('BasicTestOfLuaPerRoute: per-route scripts are per-router middlewares here; a route without one runs no filter', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    const code = (from: string) => `function envoy_on_request(request_handle)
  request_handle:headers():add("code", "${from}")
end
`;
    const d = await tempDir({ 'global.lua': code('code_from_global'), 'hello.lua': code('code_from_hello'), 'byebye.lua': code('code_from_byebye') });
    t.after(() => d.cleanup());
    const router = (prefix: string, mw: string[]) => ({ rule: `PathPrefix(\`/lua/per/route/${prefix}\`)`, middlewares: mw, service: 'app' });
    const config = baseConfig(d.dir, {
      routers: { d: router('default', ['global']), off: router('disabled', []), hello: router('hello', ['hello']), bye: router('byebye', ['byebye']) },
      middlewares: { global: { plugin: { global: {} } }, hello: { plugin: { hello: {} } }, byebye: { plugin: { byebye: {} } } } as never,
      services: { app: { loadBalancer: { servers: [{ url: up.url }] } } } as never,
    });
    const gw = await gateway(t, config);
    for (const [path, expected] of [['default', 'code_from_global'], ['disabled', undefined], ['hello', 'code_from_hello'], ['byebye', 'code_from_byebye']] as const) {
      const r = await request(`${gw.url}/lua/per/route/${path}`);
      assert.equal(r.status, 200);
      assert.equal(up.seen.at(-1)!.headers.code, expected, path);
    }
  });
});

describe('Envoy Lua filters: the handle', () => {
  it('method tables are built once per plugin instance: two requests share them, and only the per-request state differs', async (t) => {
    const up = await upstream((_req, res) => res.end('ok'));
    t.after(() => up.close());
    // Globals persist between requests of one instance (Envoy: per worker): the first request keeps its objects.
    const filter = `
function envoy_on_request(h)
  local hs = h:headers()
  local now = { mt = getmetatable(h), get = h.headers, hmt = getmetatable(hs), si = getmetatable(h:streamInfo()), h = h, hs = hs, v = hs:get("x-v") }
  if first == nil then
    first = now
    hs:add("x-same", "first")
  else
    local same = now.mt == first.mt and now.get == first.get and now.hmt == first.hmt and now.si == first.si
    local fresh = now.h ~= first.h and now.hs ~= first.hs and first.v == "1" and now.v == "2"
    hs:add("x-same", tostring(same) .. "," .. tostring(fresh))
  end
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, up);
    await request(`${gw.url}/`, { headers: { 'x-v': '1' } });
    await request(`${gw.url}/`, { headers: { 'x-v': '2' } });
    assert.deepEqual(up.seen.map((s) => s.headers['x-same']), ['first', 'true,true']);
  });
});

describe('Envoy Lua filters: the example', () => {
  it('scripts-examples/envoy-filter.lua runs behind the example gateway', async (t) => {
    const { readFile } = await import('node:fs/promises');
    const pathMod = await import('node:path');
    const yaml = (await readFile('scripts-examples/gateway.yaml', 'utf8')).replace(/127\.0\.0\.1:808[01]/g, '127.0.0.1:0').replace('dir: .', `dir: ${pathMod.resolve('scripts-examples')}`).replace('watch: true', 'watch: false');
    const d = await tempDir({ 'gateway.yaml': yaml });
    t.after(() => d.cleanup());
    const gw = await gateway(t, pathMod.join(d.dir, 'gateway.yaml'), { watchConfig: false });
    const r = await request(`${gw.url}/envoy/hello`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-envoy-filter'], "hello from Envoy's API");
    assert.equal(r.headers['x-envoy-path'], '/envoy/hello');
    assert.equal(r.headers['x-upstream-status'], '200');
    const denied = await request(`${gw.url}/envoy/x`, { headers: { 'x-deny': '1' } });
    assert.equal(denied.status, 403);
    assert.equal(denied.text, 'denied by an Envoy filter');
  });
});
