-- kv.lua - wrk script: KV writes or reads against Cairn's /v1/kv or etcd's
-- v3 JSON gateway.  Environment: KV_TARGET cairn|etcd, KV_OP put|get,
-- KV_MODE default|stale (cairn) / ser (etcd), KV_KEYS (default 10000).
-- Keys bench/kNNNNNNNN, 100-byte values, random key per request.
local target = os.getenv("KV_TARGET") or "cairn"
local op = os.getenv("KV_OP") or "put"
local mode = os.getenv("KV_MODE") or "default"
local nkeys = tonumber(os.getenv("KV_KEYS") or "10000")
local value = string.rep("x", 100)

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function enc64(s)
  local out, i = {}, 1
  while i <= #s do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {math.floor(n / 262144) % 64, math.floor(n / 4096) % 64,
               math.floor(n / 64) % 64, n % 64}
    for j = 1, 4 do out[#out + 1] = alphabet:sub(q[j] + 1, q[j] + 1) end
    if not b then out[#out] = "="; out[#out - 1] = "=" elseif not c then out[#out] = "=" end
    i = i + 3
  end
  return table.concat(out)
end

local reqs = {}
function init(args)
  local bval = enc64(value)
  for i = 1, 1000 do
    local key = string.format("bench/k%08d", math.random(0, nkeys - 1))
    if target == "etcd" then
      if op == "put" then
        reqs[i] = wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"},
          '{"key":"' .. enc64(key) .. '","value":"' .. bval .. '"}')
      else
        local ser = mode == "ser" and ',"serializable":true' or ""
        reqs[i] = wrk.format("POST", "/v3/kv/range", {["Content-Type"] = "application/json"},
          '{"key":"' .. enc64(key) .. '"' .. ser .. '}')
      end
    else
      if op == "put" then
        reqs[i] = wrk.format("PUT", "/v1/kv/" .. key, nil, value)
      else
        local q = mode == "stale" and "?stale" or ""
        reqs[i] = wrk.format("GET", "/v1/kv/" .. key .. q)
      end
    end
  end
end

local n = 0
function request()
  n = n % #reqs + 1
  return reqs[n]
end
