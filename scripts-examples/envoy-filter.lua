-- An Envoy HTTP Lua filter, run unchanged by the gateway (docs/envoy.md): a file that defines
-- envoy_on_request / envoy_on_response and returns nothing. Routed by gateway.yaml's `envoy` router:
--   curl -i http://127.0.0.1:8080/envoy/hello              # x-envoy-filter reaches the echo service
--   curl -i -H 'x-deny: 1' http://127.0.0.1:8080/envoy/x  # answered 403 by the filter itself

function envoy_on_request(request_handle)
  if request_handle:headers():get("x-deny") then
    request_handle:respond({ [":status"] = "403", ["content-type"] = "text/plain" }, "denied by an Envoy filter")
  end
  request_handle:headers():add("x-envoy-filter", request_handle:metadata():get("greeting") or "hello")
  request_handle:streamInfo():dynamicMetadata():set("example", "path", request_handle:headers():get(":path"))
end

function envoy_on_response(response_handle)
  local seen = response_handle:streamInfo():dynamicMetadata():get("example")
  response_handle:headers():add("x-envoy-path", seen and seen.path or "")
  response_handle:headers():add("x-upstream-status", response_handle:headers():get(":status"))
end
