/**
 * The script examples of Envoy's Lua filter documentation
 * (envoyproxy/envoy docs/root/configuration/http/http_filters/lua_filter.rst, Apache-2.0) and
 * Envoy's Lua sandbox (examples/lua), each run unchanged as an Envoy filter over real HTTP. What
 * each example says it does is what the test checks: the headers the upstream receives, what the
 * client gets, the lines the filter logs. Examples using a method the gateway cannot honour are
 * checked to fail with ERR_ENVOY_UNSUPPORTED naming that method (docs/envoy.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, upstream } from './fixtures/gateway/helpers.js';
import { withFilter } from './fixtures/envoy.js';

type Gw = Awaited<ReturnType<typeof withFilter>>;
/** The lines the filters printed (the Lua engine's print, with the handle's level prefix). */
const logged = (gw: Gw) => gw.logger.lines.map((l) => l.msg ?? '').join('\n');

/** An upstream answering "goodbye" with a `foo` header, and a cluster `lua_cluster` answering `foo: bar`. */
async function upstreams(t: { after(fn: () => unknown): void }) {
  const app = await upstream((_req, res) => {
    res.setHeader('foo', 'bar');
    res.setHeader('content-type', 'application/json');
    res.write('good');
    res.end('bye');
  });
  const lua = await upstream((_req, res) => {
    res.setHeader('foo', 'bar');
    res.end('good');
  });
  t.after(() => Promise.all([app.close(), lua.close()]));
  return { app, lua, services: { lua_cluster: { loadBalancer: { servers: [{ url: lua.url }] } } } };
}

describe("Envoy's lua_filter.rst script examples, unchanged", () => {
  it('body sizes: request_body_size to the upstream, response_body_size to the client, foo removed', async (t) => {
    const { app } = await upstreams(t);
    const filter = `-- Called on the request path.
function envoy_on_request(request_handle)
  -- Wait for the entire request body and add a request header with the body size.
  request_handle:headers():add("request_body_size", request_handle:body():length())
end

-- Called on the response path.
function envoy_on_response(response_handle)
  -- Wait for the entire response body and add a response header with the body size.
  response_handle:headers():add("response_body_size", response_handle:body():length())
  -- Remove a response header named 'foo'
  response_handle:headers():remove("foo")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app);
    const r = await request(`${gw.url}/`, { method: 'POST', body: 'helloworld' });
    assert.equal(r.status, 200, r.text);
    assert.equal(app.seen[0]!.headers.request_body_size, '10');
    assert.equal(r.headers.response_body_size, '7');
    assert.equal(r.headers.foo, undefined);
    assert.equal(r.text, 'goodbye');
  });

  it('httpCall, then headers from its answer to the upstream', async (t) => {
    const { app, lua, services } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  -- Make an HTTP call to an upstream host with the following headers, body, and timeout.
  local headers, body = request_handle:httpCall(
  "lua_cluster",
  {
    [":method"] = "POST",
    [":path"] = "/",
    [":authority"] = "lua_cluster"
  },
  "hello world",
  5000)

  -- Add information from the HTTP call into the headers that are about to be sent to the next
  -- filter in the filter chain.
  request_handle:headers():add("upstream_foo", headers["foo"])
  request_handle:headers():add("upstream_body_size", #body)
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services });
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200, r.text);
    assert.equal(lua.seen[0]!.body, 'hello world');
    assert.equal(app.seen[0]!.headers.upstream_foo, 'bar');
    assert.equal(app.seen[0]!.headers.upstream_body_size, '4');
  });

  it('httpCall with a repeated set-cookie, then respond 403 with a header from its answer', async (t) => {
    const { app, lua, services } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  -- Make an HTTP call.
  local headers, body = request_handle:httpCall(
  "lua_cluster",
  {
    [":method"] = "POST",
    [":path"] = "/",
    [":authority"] = "lua_cluster",
    ["set-cookie"] = { "lang=lua; Path=/", "type=binding; Path=/" }
  },
  "hello world",
  5000)

  -- Response directly and set a header from the HTTP call. No further filter iteration
  -- occurs.
  request_handle:respond(
    {[":status"] = "403",
     ["upstream_foo"] = headers["foo"]},
    "nope")
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { services });
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 403);
    assert.equal(r.text, 'nope');
    assert.equal(r.headers.upstream_foo, 'bar');
    assert.deepEqual(lua.seen[0]!.headers['set-cookie'], ['lang=lua; Path=/', 'type=binding; Path=/']);
    assert.equal(app.seen.length, 0);
  });

  it('logs the authority, method, path and status', async (t) => {
    const { app } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  -- Log information about the request
  request_handle:logInfo("Authority: "..request_handle:headers():get(":authority"))
  request_handle:logInfo("Method: "..request_handle:headers():get(":method"))
  request_handle:logInfo("Path: "..request_handle:headers():get(":path"))
end

function envoy_on_response(response_handle)
  -- Log response status code
  response_handle:logInfo("Status: "..response_handle:headers():get(":status"))
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app);
    const r = await request(`${gw.url}/test/long/url?a=1`, { headers: { host: 'host' } });
    assert.equal(r.status, 200);
    const log = logged(gw);
    assert.match(log, /Authority: host\b/);
    assert.match(log, /Method: GET\b/);
    assert.match(log, /Path: \/test\/long\/url\?a=1/);
    assert.match(log, /Status: 200\b/);
  });

  for (const [name, filter] of [
    ['body():setBytes', `function envoy_on_response(response_handle)
  response_handle:body():setBytes("<html><b>Not Found<b></html>")
  response_handle:headers():replace("content-type", "text/html")
end
`],
    ['bodyChunks()', `function envoy_on_response(response_handle)

  -- Sets the content-type.
  response_handle:headers():replace("content-type", "text/html")

  local last
  for chunk in response_handle:bodyChunks() do
    -- Clears each received chunk.
    chunk:setBytes("")
    last = chunk
  end

  last:setBytes("<html><b>Not Found<b></html>")
end
`],
  ] as const) {
    it(`rewrites the upstream's JSON into an HTML page with ${name}`, async (t) => {
      const { app } = await upstreams(t);
      const gw = await withFilter(t, { 'filter.lua': filter }, app);
      const r = await request(`${gw.url}/`);
      assert.equal(r.status, 200);
      assert.equal(r.text, '<html><b>Not Found<b></html>');
      assert.equal(r.headers['content-type'], 'text/html');
      assert.equal(r.headers['content-length'], String(r.text.length));
    });
  }

  it('dynamicMetadata: a table set on the request path is read on the response path', async (t) => {
    const { app } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  request_handle:streamInfo():dynamicMetadata():set("envoy.filters.http.lua", "request.info", {
    auth = headers:get("authorization"),
    token = headers:get("x-request-token"),
  })
end

function envoy_on_response(response_handle)
  local meta = response_handle:streamInfo():dynamicMetadata():get("envoy.filters.http.lua")["request.info"]
  response_handle:logInfo("Auth: "..meta.auth..", token: "..meta.token)
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app);
    const r = await request(`${gw.url}/`, { headers: { authorization: 'Bearer abc', 'x-request-token': 't-1' } });
    assert.equal(r.status, 200, r.text);
    assert.match(logged(gw), /Auth: Bearer abc, token: t-1/);
  });

  it('routeName and virtualClusterName', async (t) => {
    const { app } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  local route_name = request_handle:streamInfo():routeName()
  request_handle:logInfo("Matched route: " .. route_name)
end
`;
    const vc = `function envoy_on_request(request_handle)
  local virtual_cluster = request_handle:streamInfo():virtualClusterName()
  request_handle:logInfo("Matched virtual cluster: " .. virtual_cluster)
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app);
    assert.equal((await request(`${gw.url}/`)).status, 200);
    assert.match(logged(gw), /Matched route: r\b/);
    const gw2 = await withFilter(t, { 'filter.lua': vc }, app);
    assert.equal((await request(`${gw2.url}/`)).status, 200);
    assert.match(logged(gw2), /Matched virtual cluster: $/m);
  });

  it('filterState: nothing set by other filters, so no header is added', async (t) => {
    const { app } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  local filter_state = request_handle:streamInfo():filterState()

  -- All values returned as strings
  local auth_token = filter_state:get("auth.token")
  if auth_token then
    request_handle:headers():add("x-auth-token", auth_token)
  end

  -- Boolean-like string values
  local is_authenticated = filter_state:get("auth.authenticated")
  if is_authenticated == "true" then
    request_handle:headers():add("x-authenticated", "yes")
  end

  -- Access specific fields from objects that support field access
  local user_name = filter_state:get("user.info", "name")
  if user_name then
    request_handle:headers():add("x-user-name", user_name)
  end

  local user_id_str = filter_state:get("user.info", "id")
  if user_id_str then
    local user_id = tonumber(user_id_str)
    if user_id and user_id > 1000 then
      request_handle:headers():add("x-premium-user", "true")
    end
  end
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app);
    assert.equal((await request(`${gw.url}/`)).status, 200);
    const h = app.seen[0]!.headers;
    for (const k of ['x-auth-token', 'x-authenticated', 'x-user-name', 'x-premium-user']) assert.equal(h[k], undefined);
  });

  for (const [name, filter, line] of [
    ['streamInfo():dynamicTypedMetadata', `function envoy_on_request(request_handle)
  -- Access typed metadata set by the set_metadata filter
  local typed_meta = request_handle:streamInfo():dynamicTypedMetadata("envoy.filters.http.set_metadata")

  -- Check if metadata exists
  if typed_meta then
    -- Access specific fields
    local metadata_namespace = typed_meta.metadata_namespace
    local allow_overwrite = typed_meta.allow_overwrite

    request_handle:logInfo(string.format("Metadata namespace: %s, Allow overwrite: %s",
                                        metadata_namespace or "none", tostring(allow_overwrite)))
  else
    request_handle:logInfo("No set_metadata typed metadata available")
  end
end
`, /No set_metadata typed metadata available/],
    ['connectionStreamInfo():dynamicTypedMetadata', `function envoy_on_request(request_handle)
  -- Access proxy protocol typed metadata
  local ppv2_metadata = request_handle:connectionStreamInfo():dynamicTypedMetadata("envoy.filters.listener.proxy_protocol")

  -- Check if typed metadata exists
  if ppv2_metadata then
    -- Access TLV values
    local ppv2_typed_metadata = ppv2_metadata.typed_metadata

    -- Check if TLV values exist
    if ppv2_typed_metadata then
      for tlv_key, tlv_value in pairs(ppv2_typed_metadata) do
        -- Log each TLV key and value
        request_handle:logInfo(string.format("TLV: %s, Value: %s", tlv_key or "none", request_handle:base64Escape(tlv_value) or "none"))
      end
    else
      request_handle:logDebug("No typed metadata found in proxy protocol metadata.")
    end
  else
    request_handle:logInfo("No proxy protocol metadata available.")
  end
end
`, /No proxy protocol metadata available\./],
  ] as const) {
    it(`${name}: no typed metadata here, the example takes its nil branch`, async (t) => {
      const { app } = await upstreams(t);
      const gw = await withFilter(t, { 'filter.lua': filter }, app);
      assert.equal((await request(`${gw.url}/`)).status, 200);
      assert.match(logged(gw), line);
    });
  }

  it('filterContext: the middleware config\'s filterContext (Envoy: LuaPerRoute filter_context)', async (t) => {
    const { app } = await upstreams(t);
    const filter = `function envoy_on_request(request_handle)
  -- Get the filter context
  local filter_context = request_handle:filterContext()

  -- Access the filter context data
  local value = filter_context["key"]
  request_handle:headers():add("x-key", value)
end
`;
    const gw = await withFilter(t, { 'filter.lua': filter }, app, { cfg: { filterContext: { key: 'xxxxxx' } } });
    assert.equal((await request(`${gw.url}/`)).status, 200);
    assert.equal(app.seen[0]!.headers['x-key'], 'xxxxxx');
  });

  for (const [method, filter] of [
    ['handle:setUpstreamOverrideHost()', `function envoy_on_request(request_handle)
  -- Override upstream host without strict mode
  request_handle:setUpstreamOverrideHost("192.168.21.13", false)

  -- Override upstream host with strict mode
  request_handle:setUpstreamOverrideHost("192.168.21.13", true)
end
`],
    ['handle:clearRouteCache()', `function envoy_on_request(request_handle)
  -- Clear the route cache
  request_handle:clearRouteCache()
end
`],
  ] as const) {
    it(`${method} is refused with ERR_ENVOY_UNSUPPORTED naming it (the gateway routes before middlewares)`, async (t) => {
      const { app } = await upstreams(t);
      const gw = await withFilter(t, { 'filter.lua': filter }, app);
      const r = await request(`${gw.url}/`);
      assert.equal(r.status, 502);
      assert.equal(r.json<{ code: string }>().code, 'ERR_ENVOY_UNSUPPORTED');
      assert.equal(app.seen.length, 0);
      assert.ok(logged(gw).includes(method), logged(gw));
    });
  }
});

describe("Envoy's Lua sandbox (examples/lua), unchanged", () => {
  it('require("lib.mylibrary") adds foo: bar upstream; the response gets response-body-size', async (t) => {
    const { app } = await upstreams(t);
    const filter = `local mylibrary = require("lib.mylibrary")

function envoy_on_request(request_handle)
  request_handle:headers():add("foo", mylibrary.foobar())
end
function envoy_on_response(response_handle)
  body_size = response_handle:body():length()
  response_handle:headers():add("response-body-size", tostring(body_size))
end
`;
    const mylibrary = `M = {}

function M.foobar()
    return "bar"
end

return M
`;
    const { mkdir, writeFile } = await import('node:fs/promises');
    const gw = await withFilter(t, { 'filter.lua': filter }, app, {
      setup: async (dir) => {
        await mkdir(`${dir}/lib`);
        await writeFile(`${dir}/lib/mylibrary.lua`, mylibrary);
      },
    });
    const r = await request(`${gw.url}/`);
    assert.equal(r.status, 200, r.text);
    assert.equal(app.seen[0]!.headers.foo, 'bar');
    assert.equal(r.headers['response-body-size'], '7');
  });
});
