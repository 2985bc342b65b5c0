-- wrk: refresh-token rotation. Each thread starts with the refresh tokens
-- in BENCH_TOKENS_DIR/<thread id> (one per line) and posts each new token
-- the server returns again: long rotation chains, as real clients make.
dofile(os.getenv("BENCH_DIR") .. "/flows.lua")
local basic = os.getenv("BENCH_BASIC")

function init(args)
   for line in io.lines(os.getenv("BENCH_TOKENS_DIR") .. "/" .. id) do push(line) end
end

function request()
   local t = pop()
   if not t then
      -- Every chain of this thread broke; keep the connection busy honestly.
      return wrk.format("GET", "/.well-known/openid-configuration")
   end
   return wrk.format("POST", "/token", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. basic,
   }, "grant_type=refresh_token&refresh_token=" .. t)
end

function response(status, headers, body)
   local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
   if status == 200 and t then
      flows = flows + 1
      push(t)
   elseif not body:match('"issuer"') then
      failures = failures + 1
   end
end
