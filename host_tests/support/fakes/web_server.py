"""A fake web server for web_fetch (HTTP or HTTPS on loopback). HOST ONLY: a CPython test fixture, never frozen or deployed.

Built on httpserve.py (the same listening, strict request reading and throwaway CA as the
Telegram and LLM fakes: leaf + intermediate over TLS). Pages are registered by path; a few
paths misbehave on purpose, as real servers do:

    with FakeWeb(tls=True) as web:
        web.page("/doc.html", html_bytes)                      # text/html; charset=utf-8
        web.page("/old.txt", b"caf\\xe9", "text/plain; charset=iso-8859-1")
        web.redirects("/r", 3, "/doc.html")                    # /r/1 -> /r/2 -> /r/3 -> /doc.html
        web.redirect("/a", "/b"); web.redirect("/b", "/a")     # a loop
        web.endless("/endless", b"<p>more</p>")                # chunked, never ends
        web.stall("/stall", b"<p>start</p>", seconds=30)       # a head and a little, then nothing
        ... fetch web.base_url + "/doc.html" ...
        assert web.requests[-1]["path"] == "/doc.html"

Every answer has Content-Length unless chunked=True; HTTP/1.1 keep-alive as a real server.
"""
import threading
import time

from fakes.httpserve import Conn, Server


class _WebConn(Conn):
    def respond(self, status, headers, body, chunked=False, length=None):
        head = ["HTTP/1.1 %d %s" % (status, _REASON.get(status, "OK"))]
        head += ["%s: %s" % h for h in headers]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append("Content-Length: %d" % (len(body) if length is None else length))
        self.send_raw(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not chunked:
            self.send_raw(body)


_REASON = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect",
           308: "Permanent Redirect", 404: "Not Found"}


class FakeWeb(Server):
    _conn_class = _WebConn

    def __init__(self, tls=False, idle_timeout=30.0):
        super().__init__("web", tls, idle_timeout)
        self.requests = []  # {"path", "headers"} of each request, in order
        self._routes = {}  # path -> callable(conn) -> keep the connection open

    def _listening(self, origin):
        self.base_url = origin
        self.origin = origin.replace("localhost", "127.0.0.1")  # the address a whitelist names

    def url(self, path):
        return self.origin + path

    # ----- what a test registers
    def page(self, path, body, ctype="text/html; charset=utf-8", status=200, headers=()):
        hs = ([("Content-Type", ctype)] if ctype else []) + list(headers)
        self._routes[path] = lambda c: c.respond(status, hs, body) or True

    def redirect(self, path, to, status=302):
        self._routes[path] = lambda c: c.respond(status, [("Location", to), ("Content-Type", "text/html")],
                                                 b"<a href='%s'>moved</a>" % to.encode()) or True

    def redirects(self, prefix, n, to, status=301):
        """prefix/1 -> prefix/2 -> ... -> prefix/n -> to (n redirects)."""
        for i in range(1, n + 1):
            self.redirect("%s/%d" % (prefix, i), "%s/%d" % (prefix, i + 1) if i < n else to, status)

    def endless(self, path, piece, ctype="text/html; charset=utf-8", delay=0.0):
        """A chunked body that never ends (until the client goes, or 200 MB)."""
        def serve(c):
            c.respond(200, [("Content-Type", ctype)], b"", chunked=True)
            sent = 0
            while not self._stopping and sent < 200 << 20:
                c.send_raw(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
                if delay:
                    time.sleep(delay)
            return False
        self._routes[path] = serve

    def stall(self, path, first, seconds, ctype="text/html; charset=utf-8"):
        """Content-Length promises more than `first`, which comes; then nothing for `seconds`."""
        def serve(c):
            c.respond(200, [("Content-Type", ctype)], b"", length=len(first) + 100000)
            c.send_raw(first)
            self._stop_event.wait(seconds)
            return False
        self._routes[path] = serve

    # ----- httpserve.Server's hooks
    def _malformed(self, conn, error):
        with self._cond:
            self.errors.append("malformed request: %s" % error)
        conn.respond(400, [("Content-Type", "text/plain")], b"bad request")

    def _handle(self, conn, req):
        verb, target, version, headers, body = req
        path = target.split("?")[0]
        with self._cond:
            self.requests.append({"verb": verb, "path": path, "target": target, "headers": headers})
        route = self._routes.get(path)
        if route is None:
            conn.respond(404, [("Content-Type", "text/html")], b"<h1>Not Found</h1><p>%s</p>" % path.encode())
            return True
        return route(conn)
