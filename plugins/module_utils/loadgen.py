# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open-loop RESP load at a set rate: latency at the application's rate, which a closed-loop tool cannot give.

redis-benchmark keeps every connection busy: at saturation it measures its
own queue. An application's pools send when their callers ask, whether or
not earlier replies came. Here each connection sends its requests at
scheduled times (a fixed rate spread over the connections, each with its own
phase); a request that falls due while an earlier reply is outstanding is
pipelined behind it, so a slow server never delays the next send. Latency
is from the send to the reply; the lag of each send behind its schedule is
reported as the generator's own health (it must stay well below the
latencies measured, or the run says so).

Standard library only, one thread: it runs in a short-lived pod (python3)
as `python3 loadgen.py --host ... --rate ...` and prints one JSON object.
The password comes from the environment (REDISCLI_AUTH), never an argument.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import heapq
import json
import math
import os
import random
import selectors
import socket
import ssl
import sys
import time

MS = 1000.0


def resp_command(*parts):
    """One command in RESP (an array of bulk strings)."""
    parts = [p if isinstance(p, bytes) else str(p).encode("utf-8") for p in parts]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def split_replies(buffer):
    """(replies, rest): the complete replies at the start of `buffer` (simple, error, integer or bulk string; each
    as (True for an error, its first line)), and what is left of an incomplete one."""
    replies, position = [], 0
    while True:
        end = buffer.find(b"\r\n", position)
        if end < 0:
            break
        line = buffer[position:end]
        following = end + 2
        if line[:1] == b"$" and int(line[1:]) >= 0:
            following += int(line[1:]) + 2
            if len(buffer) < following:
                break
        replies.append((line[:1] == b"-", line))
        position = following
    return replies, buffer[position:]


def whole_milliseconds(seconds):
    """`seconds` rounded down to whole milliseconds, at least 0: epoll waits in milliseconds and rounds up, which
    would make each send up to a millisecond late; below one it polls instead."""
    return max(0.0, math.floor(seconds * MS) / MS)


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (sorted), in milliseconds; None when empty."""
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, int(round(fraction * len(values))) - 1))] * MS, 3)


def summary(values):
    values = sorted(values)
    return {"count": len(values), "p50_ms": percentile(values, 0.50), "p95_ms": percentile(values, 0.95),
            "p99_ms": percentile(values, 0.99), "max_ms": round(values[-1] * MS, 3) if values else None}


class Connection(object):
    """One client connection: its requests in flight and the replies it has parsed."""

    def __init__(self, address, tls, login):
        started = time.monotonic()
        self.sock = socket.create_connection(address, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=address[0])
        if login:
            self.handshake(resp_command(b"AUTH", *login))
        self.setup_seconds = time.monotonic() - started
        self.sock.setblocking(False)
        self.buffer, self.in_flight = b"", []

    def handshake(self, command):
        self.sock.sendall(command)
        reply = b""
        while b"\r\n" not in reply:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection at AUTH")
            reply += chunk
        if not reply.startswith(b"+OK"):
            raise ConnectionError("AUTH refused: %s" % reply.split(b"\r\n")[0].decode("utf-8", "replace"))

    def send(self, kind, command, now):
        self.in_flight.append((kind, now))
        self.sock.sendall(command)

    def receive(self):
        """Everything readable now (a TLS socket may hold more than the kernel reports)."""
        data = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                break
            if not chunk:
                raise ConnectionError("the server closed a connection")
            data += chunk
            if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
                break
        return data

    def replies(self, data):
        """[(kind, sent at, error)] for the replies completed by `data`."""
        replies, self.buffer = split_replies(self.buffer + data)
        done = [(kind, sent, error) for (kind, sent), (error, dummy) in zip(self.in_flight, replies)]
        del self.in_flight[:len(replies)]
        return done


class Load(object):
    """`rate` requests per second over `connections` connections for `seconds`: GET with `get_ratio`, else SET of
    a `value_size`-byte value, on `keys` keys."""

    def __init__(self, rate, connections, seconds, get_ratio=0.8, value_size=256, keys=100000, seed=None,
                 prefix="loadgen:", expire=0):
        self.rate, self.connections, self.seconds = rate, connections, seconds
        self.get_ratio, self.keys = get_ratio, keys
        self.value = b"v" * value_size
        self.random = random.Random(seed)
        self.prefix = prefix.encode("utf-8")
        self.expire = [b"EX", str(expire).encode()] if expire else []

    def request(self):
        # Numbered as redis-benchmark's __rand_int__ is: the open loop reads what a saturation run wrote.
        key = self.prefix + b"%012d" % self.random.randrange(self.keys)
        if self.random.random() < self.get_ratio:
            return "GET", resp_command(b"GET", key)
        return "SET", resp_command(b"SET", key, self.value, *self.expire)

    def schedule(self, start):
        """A heap of (first due time, connection index), each connection with its own phase."""
        interval = self.connections / float(self.rate)
        heap = [(start + self.random.random() * interval, index) for index in range(self.connections)]
        heapq.heapify(heap)
        return heap, interval

    def run(self, connect):
        """Open the connections with `connect()`, run the load, return the report."""
        connections = [connect() for dummy in range(self.connections)]
        selector = selectors.DefaultSelector()
        for index, connection in enumerate(connections):
            selector.register(connection.sock, selectors.EVENT_READ, index)
        start = time.monotonic() + 0.2
        heap, interval = self.schedule(start)
        until = start + self.seconds
        latencies, errors, lags = {"GET": [], "SET": []}, {"GET": 0, "SET": 0}, []
        in_flight = 0
        while heap or in_flight:
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                due, index = heapq.heappop(heap)
                kind, command = self.request()
                connections[index].send(kind, command, now)
                in_flight += 1
                lags.append(now - due)
                if due + interval < until:
                    heapq.heappush(heap, (due + interval, index))
            if not heap and now > until + 30:
                break  # replies that never come: counted as missing below
            timeout = whole_milliseconds(heap[0][0] - time.monotonic()) if heap else 1.0
            for key, dummy in selector.select(timeout):
                connection = connections[key.data]
                received = time.monotonic()
                for kind, sent, error in connection.replies(connection.receive()):
                    latencies[kind].append(received - sent)
                    errors[kind] += 1 if error else 0
                    in_flight -= 1
        elapsed = time.monotonic() - start
        for connection in connections:
            selector.unregister(connection.sock)
            connection.sock.close()
        return self.report(latencies, errors, lags, [c.setup_seconds for c in connections], in_flight, elapsed)

    def report(self, latencies, errors, lags, setups, missing, elapsed):
        done = sum(len(values) for values in latencies.values())
        return {"rate_asked": self.rate, "connections": self.connections, "seconds": self.seconds,
                "ops_per_second": round(done / min(elapsed, self.seconds), 1), "missing_replies": missing,
                "commands": dict((kind, dict(summary(values), errors=errors[kind]))
                                 for kind, values in latencies.items()),
                "connect": summary(setups), "send_lag": summary(lags)}


def tls_context(cacert):
    context = ssl.create_default_context(cafile=cacert)
    context.check_hostname = False  # the load test connects by address; the chain is still verified
    return context


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--user", default="")
    parser.add_argument("--rate", type=float, required=True, help="requests per second, all connections")
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--get-ratio", type=float, default=0.8)
    parser.add_argument("--value-size", type=int, default=256)
    parser.add_argument("--keys", type=int, default=100000)
    parser.add_argument("--prefix", default="loadgen:", help="of every key")
    parser.add_argument("--expire", type=int, default=0, help="seconds: SET gives every key this TTL")
    parser.add_argument("--cacert", default="", help="speak TLS, verifying the server against this CA")
    options = parser.parse_args(argv)
    password = os.environ.get("REDISCLI_AUTH", "")
    login = [options.user, password] if options.user else ([password] if password else [])
    tls = tls_context(options.cacert) if options.cacert else None
    load = Load(options.rate, options.connections, options.seconds, options.get_ratio, options.value_size,
                options.keys, prefix=options.prefix, expire=options.expire)
    report = load.run(lambda: Connection((options.host, options.port), tls, login))
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
