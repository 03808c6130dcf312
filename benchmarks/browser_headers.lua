-- wrk script: send every request with the headers a desktop browser sends
-- on a page load, so proxies parse realistic requests, not a bare "GET /".
-- The cookies deliberately do NOT include beta=yes: under zerodown's table
-- these requests take the weighted split, not the canary rule.
--
-- Set at load time (no request() function), so wrk builds the request once.

wrk.method = "GET"
wrk.path = "/"

wrk.headers["User-Agent"] =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
  "Chrome/124.0.0.0 Safari/537.36"
wrk.headers["Accept"] =
  "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif," ..
  "image/webp,image/apng,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.9,fr;q=0.8,de;q=0.7"
wrk.headers["Accept-Encoding"] = "gzip, deflate, br"
wrk.headers["Cookie"] =
  "session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; lang=en-GB; " ..
  "_ga=GA1.2.1534873911.1714050000; consent=analytics%3Dno"
wrk.headers["Referer"] = "http://127.0.0.1/catalogue/shoes?page=2"
wrk.headers["Sec-Fetch-Dest"] = "document"
wrk.headers["Sec-Fetch-Mode"] = "navigate"
wrk.headers["Sec-Fetch-Site"] = "same-origin"
wrk.headers["Sec-Fetch-User"] = "?1"
wrk.headers["Cache-Control"] = "max-age=0"
wrk.headers["Upgrade-Insecure-Requests"] = "1"
wrk.headers["DNT"] = "1"
wrk.headers["Connection"] = "keep-alive"
