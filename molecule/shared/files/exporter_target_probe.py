"""Offer the exporter a foreign target and report what that target receives.

Listens on this machine's own address on the pod network (the one that routes
to the pod), asks the exporter to `/scrape?target=redis://<that address>`, and
prints JSON: how many connections the listener got and every byte they sent
(latin-1). The caller asserts that a connection came (the probe can fail) and
that no AUTH and no password was in it. Bounded: one scrape, a few seconds.
"""

import json
import socket
import sys
import threading
import time
import urllib.request


def own_address_towards(pod_ip):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((pod_ip, 9))
        return probe.getsockname()[0]


def serve(listener, received, stop):
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, dummy = listener.accept()
        except socket.timeout:
            continue
        received.append(b"")
        connection.settimeout(1.0)
        with connection:
            try:
                while True:
                    data = connection.recv(65536)
                    if not data:
                        break
                    received[-1] += data
                    connection.sendall(b"-ERR not a redis server\r\n" * data.count(b"\r\n*") or
                                       b"-ERR not a redis server\r\n")
            except OSError:
                pass


def main():
    pod_ip, port = sys.argv[1], int(sys.argv[2])
    address = own_address_towards(pod_ip)
    listener = socket.socket()
    listener.bind((address, 0))
    listener.listen(8)
    received, stop = [], threading.Event()
    thread = threading.Thread(target=serve, args=(listener, received, stop), daemon=True)
    thread.start()
    target = "redis://%s:%d" % (address, listener.getsockname()[1])
    url = "http://%s:%d/scrape?target=%s" % (pod_ip, port, target)
    status = None
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            status = response.status
    except Exception as exc:  # pylint: disable=broad-except  # the exporter may answer 4xx/5xx: reported
        status = str(exc)
    time.sleep(1.0)
    stop.set()
    thread.join(3)
    listener.close()
    print(json.dumps({"target": target, "scrape_status": status, "connections": len(received),
                      "received": [chunk.decode("latin-1") for chunk in received]}))


if __name__ == "__main__":
    main()
