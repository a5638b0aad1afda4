"""An S3 endpoint that misbehaves: a proxy in front of moto that, on a fixed pseudo-random
schedule, answers some requests 503 SlowDown or 500 InternalError without passing them on,
resets some connections before passing the request on, holds some requests for seconds before
passing them on, and passes some PUTs on and then drops the connection before answering (the
write happened; the client never learns). Everything else is passed through unchanged: reads,
writes, lists and conditional puts alike, and DynamoDB's and SQS's calls when they share the
endpoint. It prints what it did to each request to its log, and keeps running totals in STATS
(JSON) for the test to read.

    s3_fault_proxy.py PORT UPSTREAM_URL SEED STATS [LOSE_ONCE]

LOSE_ONCE: comma-separated parts of paths; the first PUT to a path holding each one loses its
answer, whatever the schedule says, so that the writes a test cares most about (a commit's
transaction, a job event) are sure to meet the fault.
"""
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

port, upstream, seed, stats_path = int(sys.argv[1]), urlsplit(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lose_once = [p for p in (sys.argv[5] if len(sys.argv) > 5 else "").split(",") if p]
SLOW_DOWN_RATE = 0.06
INTERNAL_ERROR_RATE = 0.03
RESET_RATE = 0.03
LOST_ANSWER_RATE = 0.06
DELAY_RATE = 0.02
DELAY_SECONDS = 2.5
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}

lock = threading.Lock()
rng = random.Random(seed)
stats = {"requests": 0, "slow_down": 0, "internal_error": 0, "reset": 0, "delayed": 0, "lost_answer": 0, "passed": 0}


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
    """A request's two rolls (its fault, its delay), drawn together: however requests interleave,
    the Nth request to draw gets the Nth pair of the seed's schedule."""
    with lock:
        return rng.random(), rng.random()


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

    def error(self, status, code, message):
        payload = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def relay(self):
        body = self.body()
        count("requests")
        forced = self.command == "PUT" and take_lose_once(self.path)
        roll, delay_roll = draw()
        if not forced and roll < SLOW_DOWN_RATE:
            count("slow_down")
            self.error(503, "SlowDown", "Please reduce your request rate.")
            print(f"FAULT slow_down {self.command} {self.path}", flush=True)
            return
        if not forced and roll < SLOW_DOWN_RATE + INTERNAL_ERROR_RATE:
            count("internal_error")
            self.error(500, "InternalError", "We encountered an internal error. Please try again.")
            print(f"FAULT internal_error {self.command} {self.path}", flush=True)
            return
        if not forced and roll < SLOW_DOWN_RATE + INTERNAL_ERROR_RATE + RESET_RATE:
            count("reset")
            # SO_LINGER of 0: the close sends a TCP reset, not a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            print(f"FAULT reset {self.command} {self.path}", flush=True)
            return
        if delay_roll < DELAY_RATE:
            count("delayed")
            print(f"FAULT delayed {DELAY_SECONDS} s {self.command} {self.path}", flush=True)
            time.sleep(DELAY_SECONDS)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        if forced or (self.command == "PUT" and roll >= 1 - LOST_ANSWER_RATE):
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
