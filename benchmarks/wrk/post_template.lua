-- POST `data=<base64>` form bodies, each with its own 12-digit id.
-- args: path base64-prefix base64-suffix run
local threads = {}
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
  local a, b, c = s:byte(1, 3)
  local n = a * 65536 + b * 256 + c
  local out = {}
  for shift = 18, 0, -6 do
    local i = math.floor(n / 2 ^ shift) % 64 + 1
    out[#out + 1] = alphabet:sub(i, i)
  end
  return table.concat(out)
end

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  path, prefix, suffix, run = args[1], args[2], args[3], tonumber(args[4])
  triples = {}
  for i = 0, 999 do
    local s = string.format("%03d", i)
    triples[s] = b64(s)
  end
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  n = 0
end

function request()
  n = n + 1
  local id = string.format("%03d%01d%08d", run % 1000, tid % 10, n)
  local body = "data=" .. prefix .. triples[id:sub(1, 3)] .. triples[id:sub(4, 6)]
    .. triples[id:sub(7, 9)] .. triples[id:sub(10, 12)] .. suffix
  return wrk.format("POST", path, headers, body)
end
