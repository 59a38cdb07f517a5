"""A small fault-injecting HTTP proxy between camup-sync and the test's S3 server.

Stdlib only, loopback only. Each request from a client (botocore, keep-alive) is read
whole (headers, then a Content-Length or chunked body; `Expect: 100-continue` is
answered), then either answered with an injected fault or forwarded on a fresh upstream
connection and the response relayed back. Faults are set at run time from the test:

    proxy.fail_next(3, 503, "SlowDown")            # the next 3 requests get an S3 error
    proxy.reset_mid_body(after=1_000_000)          # drop a request with a body mid-way
    proxy.delay(2.0, count=1)                      # hold the next request 2 s
    proxy.hold_response(30, path_contains="?uploads")  # forward it, keep the answer back
    proxy.refuse()  /  proxy.accept_again()        # the port refuses connections
    proxy.error_for("cams/x.jpg", 403, "AccessDenied")   # every request whose path matches
    proxy.deny_reads()                             # 403 to every GET and HEAD (lists are GETs)
    proxy.drop_response(methods={"PUT"})           # forward, store acts, client gets a reset
    proxy.counts["PUT"]                            # requests seen, by method
    proxy.agents                                   # (method, target, User-Agent) of each

`stop()` closes every socket and joins the threads.
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional
from xml.sax.saxutils import escape

_MAX_HEADER_BYTES = 64 * 1024


@dataclass
class _Rule:
    """One kind of fault, for requests that match; `remaining` None means forever."""

    action: str  # "error" | "reset" | "delay" | "hold" | "drop"
    remaining: Optional[int] = 1
    methods: Optional[frozenset[str]] = None
    path_contains: Optional[str] = None
    with_body: bool = False  # only requests that carry a body
    status: int = 503
    code: str = "SlowDown"
    message: str = ""
    after_bytes: int = 0
    seconds: float = 0.0
    fired: int = 0

    def matches(self, method: str, target: str, body_length: int) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.path_contains is not None and self.path_contains not in target:
            return False
        return not (self.with_body and body_length <= 0)


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v.strip()
        return None

    def head_bytes(self, drop: tuple[str, ...] = ()) -> bytes:
        lines = [f"{self.method} {self.target} {self.version}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in drop]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Closed(Exception):
    """The peer closed the connection (cleanly or not)."""


class _Conn:
    """A socket with a read buffer: lines, exact counts, chunked bodies."""

    def __init__(self, sock: socket.socket, meter: Optional[Callable[[int], None]] = None):
        self.sock = sock
        self.buf = b""
        self.meter = meter  # told how many bytes each recv brought (client side only)

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except OSError as exc:
            raise _Closed(str(exc)) from None
        if not data:
            raise _Closed("eof")
        if self.meter is not None:
            self.meter(len(data))
        self.buf += data

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > _MAX_HEADER_BYTES:
                raise _Closed("header too large")
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_upto(self, n: int) -> bytes:
        """Up to n bytes: what is buffered, or one recv's worth."""
        if not self.buf:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_chunked_raw(self) -> bytes:
        """A whole chunked body, returned as it travelled (sizes, chunks, trailers)."""
        out = []
        while True:
            line = self.read_line()
            out.append(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    trailer = self.read_line()
                    out.append(trailer)
                    if trailer == b"\r\n":
                        return b"".join(out)
            out.append(self.read_exact(size + 2))

    def read_to_eof(self) -> bytes:
        out = [self.buf]
        self.buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            out.append(data)
        return b"".join(out)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _Closed(str(exc)) from None


def _parse_request(head: bytes) -> _Request:
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
    return _Request(method, target, version, headers)


def _headers_of(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def s3_error(status: int, code: str, message: str, resource: str, method: str) -> bytes:
    """An S3-shaped error response (no body for HEAD, as S3 does)."""
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
               412: "Precondition Failed", 500: "Internal Server Error", 503: "Service Unavailable"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message or code)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{uuid.uuid4().hex[:16]}</RequestId>"
        "</Error>"
    ).encode()
    head = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}",
            "Content-Type: application/xml",
            f"Content-Length: {0 if method == 'HEAD' else len(body)}",
            f"x-amz-request-id: {uuid.uuid4().hex[:16]}"]
    if code == "SlowDown":
        head.append("Retry-After: 0")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body)


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1"):
        assert host == "127.0.0.1" and upstream_host == "127.0.0.1", "loopback only"
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[str, str]] = []  # (method, target) of every request seen
        self.agents: list[tuple[str, str, str]] = []  # (method, target, User-Agent) likewise
        self.injected: collections.Counter[str] = collections.Counter()  # faults fired by kind
        self.received: list[tuple[float, int]] = []  # (monotonic time, bytes) from clients
        self.spans: list[tuple[str, str, float, float]] = []  # (method, target, start, end) answered
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._listening = False
        self._listen_lock = threading.Lock()
        self._stopping = threading.Event()
        self._release = threading.Event()  # set by clear(): held answers go out
        self._accept_thread: Optional[threading.Thread] = None
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    # ---- lifecycle -----------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        self._listener = self._bind(self.port)
        self._listener.listen(64)
        self._listening = True
        self.port = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept",
                                               daemon=True)
        self._accept_thread.start()
        return self

    def _bind(self, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, port))
        return s

    def stop(self) -> None:
        self._stopping.set()
        self._release.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._drop_connections()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- faults --------------------------------------------------------------------
    def _add(self, rule: _Rule) -> _Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail_next(self, k: int, status: int = 503, code: str = "SlowDown", message: str = "",
                  methods: Optional[set[str]] = None, path_contains: Optional[str] = None) -> None:
        """Answer the next k matching requests with an S3 error instead of forwarding."""
        self._add(_Rule("error", k, frozenset(methods) if methods else None, path_contains,
                        status=status, code=code, message=message or _default_message(code)))

    def error_for(self, path_contains: str, status: int, code: str, message: str = "",
                  methods: Optional[set[str]] = None, count: Optional[int] = None) -> None:
        """Answer every (or the next `count`) request whose path holds the substring."""
        self._add(_Rule("error", count, frozenset(methods) if methods else None, path_contains,
                        status=status, code=code, message=message or _default_message(code)))

    def error_all(self, status: int, code: str, message: str = "") -> None:
        """Answer every request with this S3 error until clear()."""
        self._add(_Rule("error", None, status=status, code=code,
                        message=message or _default_message(code)))

    def reset_mid_body(self, after: int, count: int = 1, methods: Optional[set[str]] = None,
                       path_contains: Optional[str] = None) -> None:
        """Reset the connection after `after` bytes of the next `count` request bodies."""
        self._add(_Rule("reset", count, frozenset(methods) if methods else None, path_contains,
                        with_body=True, after_bytes=after))

    def delay(self, seconds: float, count: Optional[int] = 1, methods: Optional[set[str]] = None,
              path_contains: Optional[str] = None) -> None:
        """Hold the next `count` matching requests for `seconds` before forwarding."""
        self._add(_Rule("delay", count, frozenset(methods) if methods else None, path_contains,
                        seconds=seconds))

    def hold_response(self, seconds: float, count: Optional[int] = 1,
                      methods: Optional[set[str]] = None, path_contains: Optional[str] = None) -> None:
        """Forward the next `count` matching requests, then keep their answers back for
        `seconds` (or until clear()): the server acted, the client has not heard."""
        self._add(_Rule("hold", count, frozenset(methods) if methods else None, path_contains,
                        seconds=seconds))

    def deny_reads(self) -> None:
        """Write-only credentials: AccessDenied to every GET and HEAD (object reads, HEADs,
        bucket listings, multipart listings) until clear(); writes go through."""
        self.error_for("", 403, "AccessDenied", methods={"GET", "HEAD"})

    def drop_response(self, count: Optional[int] = 1, methods: Optional[set[str]] = None,
                      path_contains: Optional[str] = None) -> None:
        """Forward the next `count` matching requests, let the server act, then reset the
        client's connection instead of answering: the answer is lost (the client retries)."""
        self._add(_Rule("drop", count, frozenset(methods) if methods else None, path_contains))

    def clear(self) -> None:
        """No more faults (held answers are released; connections accepted again)."""
        with self._lock:
            self._rules.clear()
            released, self._release = self._release, threading.Event()
        released.set()
        self.accept_again()

    def refuse(self) -> None:
        """Connections to the port are refused (the port stays ours, bound but not listening)."""
        with self._listen_lock:
            if not self._listening:
                return
            if self._listener is not None:
                self._listener.close()
            self._listener = self._bind(self.port)  # bound, not listening: connect() -> RST
            self._listening = False
        self._drop_connections()

    def accept_again(self) -> None:
        with self._listen_lock:
            if self._listening or self._listener is None:
                return
            self._listener.listen(64)
            self._listening = True

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def most_at_once(self, method: str, path_contains: str = "", slack: float = 0.1) -> int:
        """The most `method` requests (whose target holds `path_contains`) in flight at once,
        overlaps shorter than `slack` aside: a client's next request can reach the proxy a
        moment before the thread that answered its last one has noted the end (give the
        requests a delay() well over `slack`)."""
        with self._lock:
            spans = [(a, b - slack) for m, t, a, b in self.spans if m == method and path_contains in t]
        edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])  # ends first on a tie
        most = now = 0
        for _, step in edges:
            now += step
            most = max(most, now)
        return most

    def _take(self, method: str, target: str, body_length: int) -> list[_Rule]:
        """The rules that fire for this request (each consumes one use)."""
        fired = []
        with self._lock:
            self.counts[method] += 1
            self.log.append((method, target))
            kinds = set()
            for rule in self._rules:
                if rule.action in kinds or not rule.matches(method, target, body_length):
                    continue
                kinds.add(rule.action)
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.fired += 1
                self.injected[rule.action if rule.action != "error" else rule.code] += 1
                fired.append(rule)
        return fired

    # ---- serving -------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            with self._listen_lock:
                sock = self._listener if self._listening else None
                if sock is not None:
                    ready, _, _ = select.select([sock], [], [], 0.05)
                    client = sock.accept()[0] if ready else None
                else:
                    client = None
            if sock is None:
                time.sleep(0.05)
                continue
            if client is None:
                continue
            t = threading.Thread(target=self._serve, args=(client,), name="faultproxy-conn", daemon=True)
            with self._lock:
                self._conns.add(client)
                self._threads.add(t)
            t.start()

    def _received(self, n: int) -> None:
        with self._lock:
            self.received.append((time.monotonic(), n))

    def _serve(self, client: socket.socket) -> None:
        conn = _Conn(client, self._received)
        reset = False
        try:
            while not self._stopping.is_set():
                if not self._serve_one(conn):
                    break
        except _Closed:
            pass
        except _Reset:
            reset = True
        finally:
            if reset:  # RST, not FIN: what a dropped network path looks like to the client
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                client.close()
            with self._lock:
                self._conns.discard(client)
                self._threads.discard(threading.current_thread())

    def _serve_one(self, conn: _Conn) -> bool:
        """One request/response; False when the client connection must close."""
        req = _parse_request(conn.read_head())
        chunked = "chunked" in (req.header("Transfer-Encoding") or "").lower()
        length = int(req.header("Content-Length") or 0)
        rules = self._take(req.method, req.target, length if not chunked else 1)
        with self._lock:
            self.agents.append((req.method, req.target, req.header("User-Agent") or ""))
        start = time.monotonic()
        try:
            return self._answer(conn, req, rules, chunked, length)
        finally:
            with self._lock:
                self.spans.append((req.method, req.target, start, time.monotonic()))

    def _answer(self, conn: _Conn, req: _Request, rules: list[_Rule], chunked: bool, length: int) -> bool:
        if (req.header("Expect") or "").lower() == "100-continue":
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        for rule in rules:
            if rule.action == "delay":
                self._stopping.wait(rule.seconds)
        for rule in rules:
            if rule.action == "reset":
                sent = 0
                while sent < rule.after_bytes:
                    sent += len(conn.read_upto(rule.after_bytes - sent))
                raise _Reset()
        body = conn.read_chunked_raw() if chunked else conn.read_exact(length)
        for rule in rules:
            if rule.action == "error":
                conn.send(s3_error(rule.status, rule.code, rule.message,
                                   req.target.split("?", 1)[0], req.method))
                return _keep_alive(req)
        hold = next((r.seconds for r in rules if r.action == "hold"), 0.0)
        drop = any(r.action == "drop" for r in rules)
        return self._forward(conn, req, body, hold, drop)

    def _forward(self, conn: _Conn, req: _Request, body: bytes, hold: float = 0.0,
                 drop: bool = False) -> bool:
        with socket.create_connection(self.upstream, timeout=120) as up_sock:
            with self._lock:
                self._conns.add(up_sock)
            try:
                up = _Conn(up_sock)
                up.send(req.head_bytes(drop=("expect",)) + body)
                while True:
                    head = up.read_head()
                    status = int(head.split(b" ", 2)[1])
                    if status != 100:
                        break
                headers = _headers_of(head)
                if req.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                    resp_body, close_delimited = b"", False
                elif "chunked" in headers.get("transfer-encoding", "").lower():
                    resp_body, close_delimited = up.read_chunked_raw(), False
                elif "content-length" in headers:
                    resp_body, close_delimited = up.read_exact(int(headers["content-length"])), False
                else:
                    resp_body, close_delimited = up.read_to_eof(), True
            finally:
                with self._lock:
                    self._conns.discard(up_sock)
        if drop:
            raise _Reset()  # the server has acted; the client never hears of it
        if hold:
            with self._lock:
                release = self._release
            release.wait(hold)
        if close_delimited:  # the client learns the end of the body from our close
            conn.send(head + b"\r\n\r\n" + resp_body)
            return False
        conn.send(head + b"\r\n\r\n" + resp_body)
        return _keep_alive(req) and headers.get("connection", "").lower() != "close"


class _Reset(Exception):
    """Drop the client connection with a reset."""


def _keep_alive(req: _Request) -> bool:
    conn = (req.header("Connection") or "").lower()
    return conn != "close" and (req.version != "HTTP/1.0" or conn == "keep-alive")


def _default_message(code: str) -> str:
    return {
        "SlowDown": "Please reduce your request rate.",
        "InternalError": "We encountered an internal error. Please try again.",
        "AccessDenied": "Access Denied",
        "RequestTimeTooSkewed": "The difference between the request time and the current time "
                                "is too large.",
        "NoSuchBucket": "The specified bucket does not exist",
    }.get(code, code)
