-- wrk script: GET /healthz, jobd's cheapest route (an HTTP-overhead baseline, and a
-- probe of how the loop's latency holds up while another wrk drives CPU jobs).
--
--   wrk -s bench/wrk/healthz.lua -t1 -c50 -d10s http://127.0.0.1:8080
--
-- Every non-2xx status is counted per code, printed, and added to errors= with wrk's
-- socket errors and timeouts. Besides wrk's usual report, done() prints one line:
--   RESULT script=healthz rps=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. requests=.. non2xx=.. errors=..

-- No request() function: wrk formats this one request once and reuses it.
wrk.method = "GET"
wrk.path = "/healthz"

-- Per-thread state: each wrk thread has its own Lua state; done() collects them.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}     -- status code -> count (only codes outside 2xx)
  first_error = nil -- body of the first non-2xx response, to show why
end

function response(status, headers, resp_body)
  if status < 200 or status > 299 then
    statuses[status] = (statuses[status] or 0) + 1
    if first_error == nil then first_error = resp_body end
  end
end

function done(summary, latency, requests)
  local by_status, non2xx, sample = {}, 0, nil
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      by_status[code] = (by_status[code] or 0) + n
    end
    sample = sample or t:get("first_error")
  end
  local codes = {}
  for code, n in pairs(by_status) do
    table.insert(codes, code)
    non2xx = non2xx + n
  end
  table.sort(codes)
  for _, code in ipairs(codes) do
    io.write(string.format("  status %d: %d responses\n", code, by_status[code]))
  end
  if sample then io.write("  first non-2xx body: " .. sample:sub(1, 300) .. "\n") end

  local e = summary.errors
  local errors = non2xx + e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT script=healthz rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d errors=%d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, non2xx, errors))
end
