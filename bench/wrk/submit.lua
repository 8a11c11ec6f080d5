-- wrk script: submit jobs to jobd (or bench/pyref/server.py) and wait for them.
--
--   JOBD_KIND=primes JOBD_PARAMS='{"n":1000}' JOBD_EXECUTOR=thread \
--     wrk -s bench/wrk/submit.lua -t1 -c50 -d10s http://127.0.0.1:8080
--
-- Environment:
--   JOBD_KIND        job kind                        (default: echo)
--   JOBD_PARAMS      params as JSON text              (default: {"hello":"world"})
--   JOBD_EXECUTOR    executor, omitted when unset     (loop|thread|process|subprocess)
--   JOBD_WAIT        ?wait= seconds                   (default: 5)
--   JOBD_TIMEOUT_MS  timeout_ms, omitted when unset
--   JOBD_DELAY_MS    each connection pauses this long between its requests (default: none):
--                    a rate of at most connections x 1000 / JOBD_DELAY_MS jobs a second
--
-- Each request is POST /v1/jobs?wait=N, so a 200 means the job finished within the
-- wait and its latency is the whole job's. A 202 (wait expired) is a 2xx and not an
-- error, but it is counted separately (accepted_202=) because it means the latency
-- figure is capped by the wait, not the job. A 200 whose job did not succeed
-- (failed, timed_out, ...) is counted as failed_jobs=, so a run where every job
-- fails fast cannot pass for a fast run. Every non-2xx status is counted per code,
-- printed, and added to errors= with wrk's socket errors and timeouts.
--
-- Besides wrk's usual report, done() prints one machine-readable line:
--   RESULT script=submit kind=.. executor=.. rps=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
--          requests=.. accepted_202=.. failed_jobs=.. non2xx=.. errors=..

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\' end
    return string.format('\\u%04x', c:byte())
  end) .. '"'
end

local kind = env("JOBD_KIND", "echo")
local params = env("JOBD_PARAMS", '{"hello":"world"}')
local executor = env("JOBD_EXECUTOR", nil)
local delay_ms = tonumber(env("JOBD_DELAY_MS", "0"))
if delay_ms > 0 then
  function delay() return delay_ms end
end
local wait = env("JOBD_WAIT", "5")
local timeout_ms = env("JOBD_TIMEOUT_MS", nil)

local body = '{"kind":' .. json_string(kind) .. ',"params":' .. params
if executor then body = body .. ',"executor":' .. json_string(executor) end
if timeout_ms then body = body .. ',"timeout_ms":' .. tonumber(timeout_ms) end
body = body .. '}'

-- No request() function: wrk formats this one request once and reuses it.
wrk.method = "POST"
wrk.path = "/v1/jobs?wait=" .. wait
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

-- Per-thread state: each wrk thread has its own Lua state; done() collects them.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}     -- status code -> count (only codes other than 200)
  first_error = nil -- body of the first non-2xx response, to show why
  failed_jobs = 0   -- 200s whose job record is not "state":"succeeded"
  first_failed = nil
end

function response(status, headers, resp_body)
  if status == 200 then
    if not resp_body:find('"state"%s*:%s*"succeeded"') then
      failed_jobs = failed_jobs + 1
      first_failed = first_failed or resp_body
    end
  else
    statuses[status] = (statuses[status] or 0) + 1
    if (status < 200 or status > 299) and first_error == nil then
      first_error = resp_body
    end
  end
end

function done(summary, latency, requests)
  local by_status, accepted, non2xx, sample = {}, 0, 0, nil
  local failed, failed_sample = 0, nil
  for _, t in ipairs(threads) do
    failed = failed + (t:get("failed_jobs") or 0)
    failed_sample = failed_sample or t:get("first_failed")
    for code, n in pairs(t:get("statuses") or {}) do
      by_status[code] = (by_status[code] or 0) + n
    end
    sample = sample or t:get("first_error")
  end
  local codes = {}
  for code, n in pairs(by_status) do
    table.insert(codes, code)
    if code == 202 then accepted = accepted + n
    elseif code < 200 or code > 299 then non2xx = non2xx + n end
  end
  table.sort(codes)
  for _, code in ipairs(codes) do
    io.write(string.format("  status %d: %d responses\n", code, by_status[code]))
  end
  if sample then io.write("  first non-2xx body: " .. sample:sub(1, 300) .. "\n") end
  if failed > 0 then
    io.write(string.format("  jobs not succeeded (in 200s): %d\n", failed))
    io.write("  first such record: " .. failed_sample:sub(1, 400) .. "\n")
  end

  local e = summary.errors
  local errors = non2xx + e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT script=submit kind=%s executor=%s rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d accepted_202=%d failed_jobs=%d non2xx=%d errors=%d\n",
    kind, executor or "default", summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, accepted, failed, non2xx, errors))
end
