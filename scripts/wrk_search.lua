-- Indexed equality searches on name, cycling through random persons, with the bearer token.
local token = os.getenv("TOKEN")
math.randomseed(42)
request = function()
  local name = string.format("user%06d", math.random(0, 99999))
  local body = '{"filter":{"eq":["name","' .. name .. '"]}}'
  return wrk.format("POST", "/v1/raw/search", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, non-2xx %d\n", summary.requests, summary.errors.status))
  for _, p in pairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%g %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
