"""Fake web search backends on one loopback server (HTTPS by default). HOST ONLY: a CPython
test fixture, never frozen or deployed.

Each backend answers at its real path in its real response format, and checks the request the
way the real service does:

- Brave Search API: GET /res/v1/web/search?q=&count= with X-Subscription-Token; answers
  {"type": "search", "query": {...}, "mixed": {...}, "videos": {"results": [...]}, "web":
  {"type": "search", "results": [{"title", "url", "description" (with <strong> and
  entities, as Brave sends), "profile", "meta_url", "extra_snippets", ...}]}}; a wrong token
  gets 422 SUBSCRIPTION_TOKEN_INVALID, none 401, in Brave's ErrorResponse shape.
- Tavily: POST /search, a JSON body {"query", "max_results", "api_key"?, ...} with the key
  as "Authorization: Bearer tvly-..." or in the body; answers {"query", "follow_up_questions",
  "answer", "images", "results": [{"title", "url", "content", "score", "raw_content"}],
  "response_time"}; a bad key 401 {"detail": {"error": ...}}. The official client
  (tavily-python's TavilyClient) takes these answers and errors (test_web_search).
- SearXNG: GET /search?q=&format=json (keyless); {"query", "number_of_results", "results":
  [{"url", "title", "content", "engine", "parsed_url", ...}], "answers", ...}, url before
  title as SearXNG orders them; without format=json, 403 as an instance whose settings.yml
  does not enable json.
- DuckDuckGo: GET /html/?q= answers the HTML page html.duckduckgo.com serves: a form, an ad
  (result--ad, its link to duckduckgo.com/y.js), then results <div class="result
  results_links ..."> with <a class="result__a" href="//duckduckgo.com/l/?uddg=<URL
  percent-encoded>&amp;rut=..."> and <a class="result__snippet"> holding <b> and entities.
  `pad` bytes of markup can be added between results (a page of any size, for the heap test).

`results`: the (title, url, snippet) triples every backend answers with (plain text; each
backend marks them up its own way). `fault`: None, or one of "garbage" (200 with a body that
is not the format), "stall" (read the request, never answer), "empty" (no results), or an int
status (429 with Retry-After: 7, 500, 503, 403, 202 ...) answered in the backend's own shape.
`chunk`: answer chunked in pieces of that many bytes (0: Content-Length).

    with FakeSearch() as s:
        s.results = [("Example", "https://example.com/", "An example")]
        ... base_url = s.base_url + "/res/v1/web/search" ...
        assert s.requests[-1]["backend"] == "brave"
"""
import html
import json
import time
import urllib.parse

from fakes.httpserve import Conn, Server

BRAVE_KEY = "BSAtestkey0123456789"
TAVILY_KEY = "tvly-dev-testkey0123456789"

DEFAULT_RESULTS = [
    ("MicroPython - Python for microcontrollers", "https://micropython.org/",
     "MicroPython is a lean and efficient implementation of the Python 3 programming language "
     "that includes a small subset of the Python standard library & is optimised to run on "
     "microcontrollers."),
    ("PicoClaw: an AI assistant on a $10 board", "https://github.com/sipeed/picoclaw",
     "Ultra-efficient AI assistant in Go. \"Tiny\" <10 MB RAM, boots in 1 s."),
    ("Raspberry Pi Pico W \u2013 datasheet", "https://datasheets.raspberrypi.com/picow/pico-w-datasheet.pdf?x=1&y=2",
     "Wireless-enabled microcontroller board \u00e9t\u00e9 \U0001F600 RP2040."),
]


def _bold(text, words):
    """text HTML-escaped, with the query's words in <b> (as DuckDuckGo marks them)."""
    out = html.escape(text, quote=True)
    for w in words:
        if len(w) > 2:
            out = out.replace(w, "<b>%s</b>" % w)
    return out


class _SearchConn(Conn):
    pass


class FakeSearch(Server):
    _conn_class = _SearchConn

    def __init__(self, tls=True, idle_timeout=30.0, brave_key=BRAVE_KEY, tavily_key=TAVILY_KEY):
        super().__init__("search", tls, idle_timeout)
        self.brave_key = brave_key
        self.tavily_key = tavily_key
        self.results = list(DEFAULT_RESULTS)
        self.fault = None
        self.chunk = 0
        self.pad = 0  # DuckDuckGo: bytes of markup between results
        self.requests = []  # {"backend", "method", "path", "query" {k: v}, "headers", "body", "status"}

    # ----- the server
    def _malformed(self, conn, e):
        with self._cond:
            self.requests.append({"backend": None, "status": 400, "error": str(e)})
        self._send(conn, 400, "text/plain", b"bad request", close=True)

    def _handle(self, conn, req):
        verb, target, version, headers, body = req
        path, _, qs = target.partition("?")
        query = dict(urllib.parse.parse_qsl(qs, keep_blank_values=True))
        if verb == "GET" and path == "/res/v1/web/search":
            backend = "brave"
        elif verb == "POST" and path == "/search":
            backend = "tavily"
        elif verb == "GET" and path == "/search":
            backend = "searxng"
        elif verb == "GET" and path == "/html/":
            backend = "duckduckgo"
        else:
            backend = None
        rec = {"backend": backend, "method": verb, "path": path, "query": query, "headers": headers,
               "body": body, "status": None}
        with self._cond:
            self.requests.append(rec)
        if backend is None:
            return self._answer(conn, rec, 404, "application/json", b'{"error":"not found"}')
        if self.fault == "stall":
            self._stop_event.wait(60)  # never answers: the client's timeout ends it
            return False
        return getattr(self, "_" + backend)(conn, rec)

    def _answer(self, conn, rec, status, ctype, data, extra=()):
        rec["status"] = status
        self._send(conn, status, ctype, data, extra=extra)
        return True

    def _send(self, conn, status, ctype, data, extra=(), close=False):
        reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                  404: "Not Found", 422: "Unprocessable Entity", 429: "Too Many Requests",
                  432: "Plan Limit Exceeded", 500: "Internal Server Error", 503: "Service Unavailable"}
        head = ["HTTP/1.1 %d %s" % (status, reason.get(status, "Status")), "Content-Type: " + ctype,
                "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())]
        head += list(extra)
        if close:
            head.append("Connection: close")
        if self.chunk:
            head.append("Transfer-Encoding: chunked")
            out = ("\r\n".join(head) + "\r\n\r\n").encode()
            for i in range(0, len(data), self.chunk):
                piece = data[i:i + self.chunk]
                out += b"%x\r\n%s\r\n" % (len(piece), piece)
            out += b"0\r\n\r\n"
        else:
            head.append("Content-Length: %d" % len(data))
            out = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        conn.send_raw(out)

    def _fault(self, conn, rec, shape):
        """The configured fault as the backend answers it, or None to answer normally."""
        f = self.fault
        if isinstance(f, int):
            extra = ("Retry-After: 7",) if f == 429 else ()
            return self._answer(conn, rec, f, "application/json", json.dumps(shape(f)).encode(), extra)
        if f == "garbage":
            return self._answer(conn, rec, 200, "text/html", b"<html><body>Bad gateway</body></html>\n")
        return None

    def _results(self):
        return [] if self.fault == "empty" else self.results

    # ----- Brave
    def _brave(self, conn, rec):
        q = rec["query"]
        tok = rec["headers"].get("x-subscription-token")

        def err(status, code="RATE_LIMITED", detail="Request rate limit exceeded for plan."):
            return {"type": "ErrorResponse", "error": {"id": "0e6e1e2c-5a86-4a5e-9d1c-6f1c3c7d0e5b",
                    "status": status, "code": code, "detail": detail, "meta": {"plan": "Free", "rate_limit": 1}},
                    "time": int(time.time())}

        if not tok:
            return self._answer(conn, rec, 401, "application/json", json.dumps(
                err(401, "SUBSCRIPTION_TOKEN_MISSING", "The request requires a subscription token.")).encode())
        if tok != self.brave_key:
            return self._answer(conn, rec, 422, "application/json", json.dumps(
                err(422, "SUBSCRIPTION_TOKEN_INVALID", "The provided subscription token is invalid.")).encode())
        if not q.get("q") or not q.get("count", "20").isdigit() or not 1 <= int(q.get("count", "20")) <= 20:
            return self._answer(conn, rec, 422, "application/json", json.dumps(
                err(422, "VALIDATION", "Unable to validate request parameter(s)")).encode())
        r = self._fault(conn, rec, err)
        if r is not None:
            return r
        words = q["q"].split()
        results = []
        for title, url, snippet in self._results()[:int(q.get("count", "20"))]:
            host = urllib.parse.urlsplit(url).hostname
            results.append({
                "title": html.escape(title, quote=True), "url": url, "is_source_local": False,
                "is_source_both": False,
                "description": _bold(snippet, words).replace("<b>", "<strong>").replace("</b>", "</strong>"),
                "page_age": "2025-11-02T10:00:00", "profile": {"name": host, "url": url, "long_name": host,
                                                                 "img": "https://imgs.search.brave.com/x.png"},
                "language": "en", "family_friendly": True, "type": "search_result", "subtype": "generic",
                "is_live": False, "meta_url": {"scheme": "https", "netloc": host, "hostname": host,
                                               "favicon": "https://imgs.search.brave.com/f.png", "path": "\u203a docs"},
                "extra_snippets": ["another snippet about " + title, "and one more"]})
        body = {"query": {"original": q["q"], "show_strict_warning": False, "is_navigational": False,
                          "is_news_breaking": False, "spellcheck_off": True, "country": "us",
                          "bad_results": False, "should_fallback": False, "postal_code": "", "city": "",
                          "header_country": "", "more_results_available": True, "state": ""},
                "mixed": {"type": "mixed", "main": [{"type": "web", "index": i, "all": False}
                                                    for i in range(len(results))], "top": [], "side": []},
                "type": "search",
                "videos": {"type": "videos", "results": [{"type": "video_result", "title": "A video, not a web result",
                                                          "url": "https://video.example/v", "description": "video"}],
                           "mutated_by_goggles": False},
                "web": {"type": "search", "results": results, "family_friendly": True}}
        return self._answer(conn, rec, 200, "application/json", json.dumps(body).encode())

    # ----- Tavily
    def _tavily(self, conn, rec):
        try:
            b = json.loads(rec["body"])
        except ValueError:
            return self._answer(conn, rec, 400, "application/json", b'{"detail":{"error":"Invalid JSON"}}')
        rec["json"] = b
        auth = rec["headers"].get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else b.get("api_key")
        if key != self.tavily_key or (b.get("api_key") not in (None, self.tavily_key)):
            return self._answer(conn, rec, 401, "application/json",
                                b'{"detail":{"error":"Unauthorized: missing or invalid API key."}}')
        if not isinstance(b.get("query"), str) or not b["query"].strip():
            return self._answer(conn, rec, 400, "application/json", b'{"detail":{"error":"Query is missing."}}')
        n = b.get("max_results", 5)
        if not isinstance(n, int) or not 0 <= n <= 20:
            return self._answer(conn, rec, 400, "application/json",
                                b'{"detail":{"error":"max_results must be between 0 and 20"}}')
        r = self._fault(conn, rec, lambda s: {"detail": {"error": "Error %d" % s}})
        if r is not None:
            return r
        results = [{"title": t, "url": u, "content": s, "score": 0.9 - i / 10, "raw_content": None}
                   for i, (t, u, s) in enumerate(self._results()[:n])]
        body = {"query": b["query"], "follow_up_questions": None, "answer": None, "images": [],
                "results": results, "response_time": 1.09, "request_id": "123e4567-e89b-12d3-a456-426614174111"}
        return self._answer(conn, rec, 200, "application/json", json.dumps(body).encode())

    # ----- SearXNG
    def _searxng(self, conn, rec):
        q = rec["query"]
        if q.get("format") != "json":
            return self._answer(conn, rec, 403, "text/html", b"<html><body><h1>403 Forbidden</h1></body></html>")
        r = self._fault(conn, rec, lambda s: {"error": "status %d" % s})
        if r is not None:
            return r
        results = []
        for i, (t, u, s) in enumerate(self._results()):
            p = urllib.parse.urlsplit(u)
            results.append({"url": u, "title": t, "content": s, "publishedDate": None, "thumbnail": "",
                            "engine": "duckduckgo", "template": "default.html",
                            "parsed_url": [p.scheme, p.netloc, p.path, "", p.query, ""],
                            "img_src": "", "priority": "", "engines": ["duckduckgo", "brave"],
                            "positions": [i + 1], "score": 2.0 / (i + 1), "category": "general"})
        body = {"query": q.get("q", ""), "number_of_results": 0, "results": results, "answers": [],
                "corrections": [], "infoboxes": [], "suggestions": ["micropython esp32"],
                "unresponsive_engines": []}
        return self._answer(conn, rec, 200, "application/json", json.dumps(body).encode())

    # ----- DuckDuckGo (html.duckduckgo.com/html/)
    def _duckduckgo(self, conn, rec):
        q = rec["query"].get("q", "")
        f = self.fault
        if isinstance(f, int):
            return self._answer(conn, rec, f, "text/html", b"<html><body>anomaly</body></html>")
        if f == "garbage":
            return self._answer(conn, rec, 200, "application/json", b'{"not": "a page"}')
        words = q.split()
        esc = html.escape(q, quote=True)
        parts = ['<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                 '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml">\n'
                 '<head>\n<meta http-equiv="content-type" content="text/html; charset=UTF-8" />\n'
                 '<title>%s at DuckDuckGo</title>\n<link title="DuckDuckGo (HTML)" type="application/opensearchdescription+xml" '
                 'rel="search" href="//duckduckgo.com/opensearch_html_v2.xml" />\n'
                 '<style>a.result__a { color: #00c; } .result__snippet b { font-weight: bold; }</style>\n'
                 '<script type="text/javascript">if (a < b && c > d) { document.title = "x"; }</script>\n'
                 '</head>\n<body class="body--html">\n<div class="header__form">\n'
                 '<form action="/html/" method="post"><input name="q" autocomplete="off" class="search__input" '
                 'id="search_form_input_homepage" type="text" value="%s" /></form>\n</div>\n'
                 '<div class="serp__results">\n<div id="links" class="results">\n' % (esc, esc)]
        if self._results():
            parts.append(
                '<div class="result results_links results_links_deep result--ad result--ad--small">\n'
                '<div class="links_main links_deep result__body">\n<h2 class="result__title">\n'
                '<a rel="nofollow" class="result__a" href="https://duckduckgo.com/y.js?ad_domain=shop.example&amp;'
                'ad_provider=bingv7aa&amp;ad_type=txad&amp;u3=https%3A%2F%2Fshop.example">Buy <b>things</b> now</a>\n'
                '</h2>\n<a class="result__snippet" href="https://duckduckgo.com/y.js?ad_domain=shop.example">'
                'An ad, never a result.</a>\n</div>\n</div>\n')
        for t, u, s in self._results():
            href = "//duckduckgo.com/l/?uddg=%s&amp;rut=%s" % (urllib.parse.quote(u, safe=""), "b4a1f" * 8)
            shown = u.split("://", 1)[-1]
            parts.append(
                '<div class="result results_links results_links_deep web-result ">\n'
                '  <div class="links_main links_deep result__body"> <!-- This is the visible part -->\n'
                '    <h2 class="result__title">\n'
                '      <a rel="nofollow" class="result__a" href="%s">%s</a>\n'
                '    </h2>\n'
                '    <div class="result__extras">\n      <div class="result__extras__url">\n'
                '        <span class="result__icon"><a rel="nofollow" href="%s"><img class="result__icon__img" '
                'width="16" height="16" alt="" src="//external-content.duckduckgo.com/ip3/x.ico" name="i15" /></a></span>\n'
                '        <a class="result__url" href="%s">%s</a>\n'
                '      </div>\n    </div>\n'
                '    <a class="result__snippet" href="%s">%s</a>\n'
                '    <div class="clear"></div>\n  </div>\n</div>\n'
                % (href, _bold(t, words), href, href, html.escape(shown), href, _bold(s, words)))
            if self.pad:
                parts.append("<!-- %s -->\n" % ("p" * self.pad))
        if not self._results():
            parts.append('<div class="no-results">No  results.</div>\n')
        parts.append('</div>\n</div>\n<div class="nav-link"><form action="/html/" method="post">'
                     '<input type="submit" class="btn btn--alt" value="Next" /></form></div>\n</body>\n</html>\n')
        return self._answer(conn, rec, 200, "text/html; charset=UTF-8", "".join(parts).encode())
