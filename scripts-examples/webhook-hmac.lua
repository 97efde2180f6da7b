-- A webhook-signature middleware (GitHub's X-Hub-Signature-256 style): the sender signs the raw
-- body with a shared secret, HMAC-SHA256, and sends "sha256=<hex>". A request whose signature is
-- missing or does not match is answered 401 before it reaches the upstream.
-- Config: { secret = "...", header = "x-hub-signature-256" (default) }.
-- Needs the body: the middleware declares it in meta.gateway.requestBody.
local M = {
  meta = { name = 'webhook-hmac', version = '1.0.0', apiVersion = 1, gateway = { requestBody = { maxBytes = 1048576 } } },
}

function M.onRequest(req, ctx)
  local secret = ctx.config.secret
  if type(secret) ~= 'string' or secret == '' then
    return { respond = { status = 500, body = 'webhook-hmac: config.secret is not set' } }
  end
  local header = ctx.config.header or 'x-hub-signature-256'
  local given = req.headers[header]
  if type(given) ~= 'string' or given:sub(1, 7) ~= 'sha256=' then
    return { respond = { status = 401, body = 'missing signature' } }
  end
  local want = 'sha256=' .. hex.encode(crypto.hmac('sha256', secret, req.body or ''))
  if not crypto.equals(string.lower(given), want) then
    return { respond = { status = 401, body = 'bad signature' } }
  end
  return { setHeaders = { ['x-webhook-verified'] = '1' } }
end

return M
