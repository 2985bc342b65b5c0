-- wrk: the SSO flow of a signed-in browser: /authorize with the session
-- cookie (BENCH_SESSION) answers a redirect with a code, which the next
-- request of the thread redeems at /token. A flow = one code redeemed.
-- Scope `openid` (an ID token and an access token, no refresh token), as
-- in the side-by-side benchmark's sso workload; `refresh` covers rotation.
dofile(os.getenv("BENCH_DIR") .. "/flows.lua")
local basic = os.getenv("BENCH_BASIC")
local cookie = "tessera_session=" .. os.getenv("BENCH_SESSION")
local redirect = "http%3A%2F%2F127.0.0.1%3A8765%2Fcb"
local authorize = "/authorize?response_type=code&client_id=demo&redirect_uri="
   .. redirect .. "&scope=openid&state=bench&nonce=bench"

function request()
   local code = pop()
   if code then
      return wrk.format("POST", "/token", {
         ["Content-Type"] = "application/x-www-form-urlencoded",
         ["Authorization"] = "Basic " .. basic,
      }, "grant_type=authorization_code&redirect_uri=" .. redirect .. "&code=" .. code)
   end
   return wrk.format("GET", authorize, { ["Cookie"] = cookie })
end

function response(status, headers, body)
   local loc = header(headers, "Location")
   local code = loc and loc:match("[?&]code=([^&]+)")
   if status == 302 and code then
      push(code)
   elseif status == 200 and body:match('"id_token"') then
      flows = flows + 1
   else
      failures = failures + 1
   end
end
