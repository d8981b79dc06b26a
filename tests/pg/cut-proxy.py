#!/usr/bin/env python3
"""cut-proxy.py LISTEN TARGET FLAG PATTERN - a unix-socket relay in front of
PostgreSQL that loses one answer: while the file FLAG exists, after a
client packet holding PATTERN (a statement's Parse), the client's next
packet (its Bind/Execute) is passed on, and then both connections are
closed without the server's answer: the server has run (and committed)
the statement, the client sees the connection lost. It cuts once, then
removes FLAG and writes FLAG.cut. Test-only (tests/pg/lost-answer.sh)."""
import os
import socket
import sys
import threading
import time

listen, target, flag, pattern = sys.argv[1:5]
pattern = pattern.encode()
cut_done = threading.Event()


def relay(client):
    server = socket.socket(socket.AF_UNIX)
    server.connect(target)
    armed = threading.Event()
    dead = threading.Event()

    def upstream():
        while True:
            data = client.recv(65536)
            if not data:
                break
            if armed.is_set() and not cut_done.is_set():
                cut_done.set()
                try:
                    os.unlink(flag)
                except FileNotFoundError:
                    pass
                with open(flag + ".cut", "w") as f:
                    f.write("cut\n")
                dead.set()  # no answer goes back from here on
                server.sendall(data)
                time.sleep(0.5)  # the server runs and commits it
                for s in (server, client):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                return
            if pattern in data and os.path.exists(flag):
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
