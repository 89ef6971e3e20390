-- wrk script for bench/bench_verifier.py: sends pre-built raw HTTP/1.1 requests and checks answers.
--
--   wrk -t C -c C -d Ns -s bench/wrk_replay.lua http://127.0.0.1:PORT/ -- PREFIX C once|cycle
--
-- One connection per thread (-t equal to -c), so each thread's request() and response() calls
-- alternate and the thread can time each request itself. Thread t reads PREFIX.t, which holds
-- requests t, t+C, t+2C, ... of the pool, each as "<length>\n<bytes>", and sends them in order:
-- each once ("once": every verifier request carries a distinct presentation, and the replay
-- guard refuses a second use), or over and over ("cycle"). A thread that runs out in "once" mode
-- repeats its last request and says so ("exhausted"): those answers are refusals and count as bad.
-- wrk calls thread 0's request() once before the run to check the script; that request is never
-- sent (its time is overwritten by the first real one), and counts as used.
--
-- An answer is bad unless it is a 200 whose body holds "decision": true.
--
-- Why the script times requests itself: wrk applies its coordinated-omission correction to the
-- latency histogram it reports (it adds samples below every latency over twice the mean), which
-- suits an open loop, not this closed one. And wrk starts its clock after the last thread is set
-- up, while the first threads already send; so the rate here is the answers completed while every
-- thread was running (from the latest first send to the earliest last answer) over that window.
-- done() prints one line of JSON; times are in microseconds.

local ffi = require("ffi")
ffi.cdef [[
  struct civicid_timespec { long tv_sec; long tv_nsec; };
  int clock_gettime(int clock_id, struct civicid_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("struct civicid_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local threads, created = {}, 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  cycle = args[3] == "cycle"
  local file = assert(io.open(args[1] .. "." .. tid, "rb"))
  local data = file:read("*a")
  file:close()
  pool = {}
  local pos = 1
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    pool[#pool + 1] = data:sub(newline + 1, newline + length)
    pos = newline + 1 + length
  end
  sent, bad, exhausted = 0, 0, 0
  latencies, finished = {}, {}
  first_sent, sent_at = -1, 0
end

function request()
  sent = sent + 1
  if sent > #pool then
    if cycle then sent = 1 else exhausted = 1; sent = #pool end
  end
  sent_at = now_us()
  return pool[sent]
end

function response(status, headers, body)
  local done_at = now_us()
  if first_sent < 0 then first_sent = sent_at end
  latencies[#latencies + 1] = done_at - sent_at
  finished[#finished + 1] = done_at
  if status ~= 200 or not body:find('"decision":%s*true') then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local bad_total, exhausted_any, most = 0, 0, 0
  local start, stop = -1, math.huge
  local all, per_thread = {}, {}
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    exhausted_any = math.max(exhausted_any, thread:get("exhausted"))
    most = math.max(most, thread:get("sent"))
    local ends = thread:get("finished")
    if #ends > 0 then
      start = math.max(start, thread:get("first_sent"))
      stop = math.min(stop, ends[#ends])
    else
      stop = -1  -- A thread that never got an answer: no window in which all of them ran.
    end
    per_thread[#per_thread + 1] = ends
    for _, value in ipairs(thread:get("latencies")) do all[#all + 1] = value end
  end
  local in_window = 0
  for _, ends in ipairs(per_thread) do
    for _, value in ipairs(ends) do
      if value >= start and value <= stop then in_window = in_window + 1 end
    end
  end
  table.sort(all)
  local function percentile(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(p / 100 * #all))]
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "answered": %d, "in_window": %d, "window_us": %d, "bad": %d, ' ..
    '"exhausted": %d, "most_sent_by_a_thread": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"wrk_corrected_p99_us": %d}\n',
    summary.requests, summary.duration, #all, in_window, math.max(0, stop - start), bad_total,
    exhausted_any, most, e.connect + e.read + e.write + e.timeout, percentile(50), percentile(99),
    latency:percentile(99)))
end
