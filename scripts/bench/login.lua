-- wrk: password login (argon2id). /authorize without a session answers the
-- login page with its req/csrf fields and CSRF cookie; the next request of
-- the thread posts the form. A flow = one login answered with a redirect.
dofile(os.getenv("BENCH_DIR") .. "/flows.lua")
local authorize = "/authorize?response_type=code&client_id=demo"
   .. "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcb&scope=openid&state=bench"

local function unescape(s)
   return (s:gsub("&#x2[fF];", "/"):gsub("&quot;", '"'):gsub("&#x27;", "'")
      :gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&"))
end

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function request()
   local form = pop()
   if form then
      return wrk.format("POST", "/login", {
         ["Content-Type"] = "application/x-www-form-urlencoded",
         ["Cookie"] = form.cookie,
      }, "req=" .. urlencode(form.req) .. "&csrf=" .. urlencode(form.csrf)
         .. "&username=alice&password=wonderland-42")
   end
   return wrk.format("GET", authorize)
end

function response(status, headers, body)
   if status == 302 then
      flows = flows + 1
      return
   end
   local req = body:match('name="req" value="([^"]*)"')
   local csrf = body:match('name="csrf" value="([^"]*)"')
   local set = header(headers, "Set-Cookie") or ""
   local cookie = set:match("(tessera_csrf=[^;]+)")
   if status == 200 and req and csrf and cookie then
      push({ req = unescape(req), csrf = unescape(csrf), cookie = cookie })
   else
      failures = failures + 1
   end
end
