-- wrk script for bench/bench_verifier.py: sends pre-built raw HTTP/1.1 requests, and checks answers.
--
--   wrk -t T -c C -d Ns -s bench/wrk_replay.lua http://127.0.0.1:PORT/ -- FILE T once|cycle
--
-- FILE holds the requests, each as "<length>\n<bytes>". Thread t sends requests t, t+T, t+2T, ...
-- in order: each once ("once": every verifier request carries a distinct presentation, and the
-- replay guard refuses a second use), or over and over ("cycle"). A thread that runs out in "once"
-- mode repeats its last request and says so ("exhausted"): those answers are refusals, so they
-- count as bad. wrk calls thread 0's request() once before the run to check the script, so
-- request 0 is never sent (and counts as used). An answer is bad unless it is a 200 whose body holds "decision": true. The done()
-- hook prints one line of JSON; latencies are in microseconds, as wrk measures them.

local threads, created = {}, 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  local path, stride = args[1], tonumber(args[2])
  cycle = args[3] == "cycle"
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  requests = {}
  local pos, index = 1, 0
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    if index % stride == tid then
      requests[#requests + 1] = data:sub(newline + 1, newline + length)
    end
    index = index + 1
    pos = newline + 1 + length
  end
  sent, bad, exhausted = 0, 0, 0
end

function request()
  sent = sent + 1
  if sent > #requests then
    if cycle then sent = 1 else exhausted = 1; sent = #requests end
  end
  return requests[sent]
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"decision":%s*true') then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local bad_total, exhausted_any, most = 0, 0, 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    exhausted_any = math.max(exhausted_any, thread:get("exhausted"))
    most = math.max(most, thread:get("sent"))
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bad": %d, "exhausted": %d, "most_sent_by_a_thread": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, bad_total, exhausted_any, most,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
