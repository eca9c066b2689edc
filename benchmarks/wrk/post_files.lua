-- POST the files <dir>/NNNNN.body in turn, each at most once per run.
-- args: dir first count path content-type content-encoding authorization
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  dir, count, path = args[1], tonumber(args[3]), args[4]
  n = tonumber(args[2]) + tid
  step = tonumber(args[8])
  headers = { ["Content-Type"] = args[5], ["Authorization"] = args[7] }
  if args[6] ~= "" then headers["Content-Encoding"] = args[6] end
end

function request()
  local f = assert(io.open(string.format("%s/%05d.body", dir, n % count), "rb"))
  local body = f:read("*a")
  f:close()
  n = n + step
  return wrk.format("POST", path, headers, body)
end
