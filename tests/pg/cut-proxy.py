#!/usr/bin/env python3
"""cut-proxy.py LISTEN TARGET FLAG - a unix-socket relay in front of
PostgreSQL that loses answers. FLAG, while it exists, lists patterns, one
a line: after a client packet holding the next pattern (a statement's
Parse), the client's next packet (its Bind/Execute) is passed on, and
then both connections are closed without the server's answer: the server
has run (and committed) the statement, the client sees the connection
lost. A pattern written after "drop:" cuts before the Bind/Execute
reaches the server instead: the statement never runs (a worker killed
before it could send it). Each pattern cuts once, in order, on whichever connection it comes
(a reconnection's too), and leaves FLAG; after the last, FLAG is removed.
FLAG.cut holds the number of cuts so far. Test-only (tests/pg/lost-answer.sh)."""
import os
import socket
import sys
import threading
import time

listen, target, flag = sys.argv[1:4]
lock = threading.Lock()
cuts_done = 0


def patterns():
    try:
        with open(flag, "rb") as f:
            return [p for p in f.read().split(b"\n") if p]
    except FileNotFoundError:
        return []


def next_pattern():
    """The pattern the next cut waits for, or None."""
    left = patterns()
    return left[0] if left else None


def cut_taken():
    """One cut made: its pattern leaves FLAG, removed after the last."""
    global cuts_done
    cuts_done += 1
    with open(flag + ".cut", "w") as f:
        f.write("%d\n" % cuts_done)
    left = patterns()[1:]
    if left:
        with open(flag + ".tmp", "wb") as f:
            f.write(b"\n".join(left) + b"\n")
        os.rename(flag + ".tmp", flag)
    else:
        try:
            os.unlink(flag)
        except FileNotFoundError:
            pass


def relay(client):
    server = socket.socket(socket.AF_UNIX)
    server.connect(target)
    armed = threading.Event()
    drop = threading.Event()
    dead = threading.Event()

    def upstream():
        while True:
            data = client.recv(65536)
            if not data:
                break
            if armed.is_set():
                with lock:
                    cut_taken()
                dead.set()  # no answer goes back from here on
                if not drop.is_set():
                    server.sendall(data)
                    time.sleep(0.5)  # the server runs and commits it
                for s in (server, client):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                return
            with lock:
                pattern = next_pattern()
            if pattern is not None and pattern.startswith(b"drop:"):
                if pattern[5:] in data:
                    drop.set()
                    armed.set()
            elif pattern is not None and pattern in data:
                armed.set()
            server.sendall(data)
        try:
            server.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def downstream():
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                break
            if not data or dead.is_set():
                break
            try:
                client.sendall(data)
            except OSError:
                break
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    threading.Thread(target=downstream, daemon=True).start()


try:
    os.unlink(listen)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX)
srv.bind(listen)
os.chmod(listen, 0o777)
srv.listen(16)
while True:
    conn, _ = srv.accept()
    relay(conn)
