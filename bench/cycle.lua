-- wrk script: issue -> return cycles (mode "app") or the ceiling's write (mode "ceiling").
--
-- Run with as many threads as connections (-t N -c N): each wrk thread then has one
-- connection and its own Lua state, so "the loan this client must return next" is
-- per client. Each client works on its own slice of readers and books, so clients never
-- refuse each other (no 409 is expected: every non-2xx answer is an error).
--
-- args: mode token readers books clients offset
--   mode     "app" or "ceiling"
--   token    the librarian's bearer token (app)
--   readers  reader ids 1..readers (the ceiling's counter rows likewise)
--   books    book ids 1..books
--   clients  number of clients (= threads), to cut the slices
--   offset   where this run starts in each slice (so runs do not repeat each other)

local next_id = 0
local threads = {}

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   token = args[2]
   local readers, books, clients = tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
   offset = tonumber(args[6])
   rcount = math.floor(readers / clients)
   bcount = math.floor(books / clients)
   rbase = tid * rcount
   bbase = tid * bcount
   i = offset
   loan = nil          -- the loan to return next, once issued
   sent = nil          -- what the request in flight is: "issue", "return", "write"
   statuses = {}
   cycles = 0
   issue_headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
   }
   return_headers = { ["Authorization"] = "Bearer " .. token }
   write_headers = { ["Content-Type"] = "application/json" }
end

function request()
   if mode == "ceiling" then
      i = i + 1
      sent = "write"
      return wrk.format("POST", "/write", write_headers,
                        '{"id": ' .. (rbase + i % rcount + 1) .. '}')
   end
   if loan then
      sent = "return"
      return wrk.format("POST", "/api/v1/loans/" .. loan .. "/return", return_headers)
   end
   i = i + 1
   sent = "issue"
   local reader = rbase + i % rcount + 1
   -- A stride prime to the slice size walks every book of the slice.
   local book = bbase + (i * 7919) % bcount + 1
   return wrk.format("POST", "/api/v1/loans", issue_headers,
                     '{"book_id": ' .. book .. ', "reader_id": ' .. reader .. '}')
end

function response(status, headers, body)
   local key = sent .. " " .. status
   statuses[key] = (statuses[key] or 0) + 1
   if sent == "issue" and status == 201 then
      local location = headers["Location"] or headers["location"] or ""
      loan = string.match(location, "(%d+)$")
   elseif sent == "return" then
      if status == 200 then
         cycles = cycles + 1
      end
      loan = nil  -- returned (or refused: start a new cycle rather than retry for ever)
   end
end

function done(summary, latency, requests)
   local counts = {}
   local total_cycles = 0
   for _, thread in ipairs(threads) do
      for key, n in pairs(thread:get("statuses")) do
         counts[key] = (counts[key] or 0) + n
      end
      total_cycles = total_cycles + thread:get("cycles")
   end
   local parts = {}
   for key, n in pairs(counts) do
      table.insert(parts, string.format('"%s": %d', key, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests": %d, "duration_us": %d, "cycles": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
      '"statuses": {%s}}\n',
      summary.requests, summary.duration, total_cycles,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, latency.mean, table.concat(parts, ", ")))
end
