-- Shared by the stateful wrk scripts (loaded with dofile): a per-thread
-- queue of values handed from one response to a later request, a counter of
-- completed flows, and a summary line the bench script parses.
local queue = {}
flows, failures = 0, 0

function push(v) queue[#queue + 1] = v end
function pop() return table.remove(queue) end
function queued() return #queue end

function header(headers, name)
   return headers[name] or headers[string.lower(name)]
end

local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
   thread:set("id", #threads)
end

function done(summary, latency, requests)
   local f, x = 0, 0
   for _, t in ipairs(threads) do
      f = f + t:get("flows")
      x = x + t:get("failures")
   end
   io.write(string.format("flows: %d failures: %d\n", f, x))
end
