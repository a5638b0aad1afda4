"""An S3 endpoint that misbehaves: a proxy in front of moto that, on a fixed pseudo-random
schedule, answers some requests 503 SlowDown without passing them on, and passes some PUTs on
and then drops the connection before answering (the write happened; the client never learns).
Everything else is passed through unchanged. It prints what it did to each request to its
log, and keeps running totals in STATS (JSON) for the test to read.

    s3_fault_proxy.py PORT UPSTREAM_URL SEED STATS [LOSE_ONCE]

LOSE_ONCE: comma-separated parts of paths; the first PUT to a path holding each one loses its
answer, whatever the schedule says, so that the writes a test cares most about (a commit's
transaction, a job event) are sure to meet the fault.
"""
import http.client
import json
import os
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

port, upstream, seed, stats_path = int(sys.argv[1]), urlsplit(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lose_once = [p for p in (sys.argv[5] if len(sys.argv) > 5 else "").split(",") if p]
SLOW_DOWN_RATE = 0.08
LOST_ANSWER_RATE = 0.06
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}

lock = threading.Lock()
rng = random.Random(seed)
stats = {"requests": 0, "slow_down": 0, "lost_answer": 0, "passed": 0}


def count(kind):
    with lock:
        stats[kind] += 1
        with open(stats_path + ".tmp", "w") as f:
            json.dump(stats, f)
        os.replace(stats_path + ".tmp", stats_path)


def take_lose_once(path):
    """Whether this PUT is the first to a path holding one of LOSE_ONCE (which is then used up)."""
    with lock:
        for pattern in lose_once:
            if pattern in path:
                lose_once.remove(pattern)
                return True
        return False


def draw():
    with lock:
        return rng.random()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.command, fmt % args))
        sys.stdout.flush()

    def body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def relay(self):
        body = self.body()
        count("requests")
        forced = self.command == "PUT" and take_lose_once(self.path)
        roll = draw()
        if roll < SLOW_DOWN_RATE and not forced:
            count("slow_down")
            payload = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>'
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            print(f"FAULT slow_down {self.command} {self.path}", flush=True)
            return
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        if forced or (self.command == "PUT" and roll < SLOW_DOWN_RATE + LOST_ANSWER_RATE):
            count("lost_answer")
            print(f"FAULT lost_answer {self.command} {self.path} (upstream said {response.status})", flush=True)
            self.close_connection = True
            return
        count("passed")
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        # A HEAD's length is the object's, not its (empty) body's.
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


ThreadingHTTPServer.daemon_threads = True
print(f"s3 fault proxy on 127.0.0.1:{port} in front of {sys.argv[2]}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
