-- Appended to each script: one machine-readable line for ingest_bench.py.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, \"socket_errors\": %d,"
      .. " \"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
