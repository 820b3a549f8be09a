#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that can cut a connection off without closing it: the fault
tests put it between a worker and PostgreSQL. SIGUSR1 stops forwarding (bytes are held, the
connections stay open, as in a network partition); SIGUSR2 resumes.
Usage: pause_proxy.py LISTEN_PORT TARGET_PORT (prints "ready" once listening)."""
import signal
import socket
import sys
import threading
import time

paused = threading.Event()
signal.signal(signal.SIGUSR1, lambda *_: paused.set())
signal.signal(signal.SIGUSR2, lambda *_: paused.clear())


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            while paused.is_set():
                time.sleep(0.02)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen))
    server.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target))
        except OSError:  # the target restarts: this client is refused, the proxy lives on
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
