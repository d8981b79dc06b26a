#!/usr/bin/env python3
"""zy-peer.py - either end of the fork server's channel, for zygote-proto.sh.

    zy-peer.py server WORKER SCENARIO
        run WORKER -f -Z on a socketpair and play the multiplexor; prints
        "first TYPE TICKET PID-IS-ITS-OWN", then per SCENARIO:
          fork      a good FORK: "answer TYPE TICKET PID-POSITIVE"
          version   a FORK of version 9: "eof" once the server leaves
          nofd      a FORK without a descriptor: "eof"
          type      a FORKED message instead of a FORK: "eof"
        then "log LAST-STDERR-LINE".
    zy-peer.py fake MODE
        be a fork server on fd 0 (worker_program's -Z), wrong in one way:
          version   says READY in version 9
          pid       says READY with a pid not its own
          ticket    answers each FORK with another ticket
        then waits for the end of its socket.

The format is common/zygote_proto.h's: 12 bytes, big-endian: version,
type, 0, 0, u32 ticket, u32 value.
"""
import os
import signal
import socket
import struct
import subprocess
import sys

VERSION, READY, FORK, FORKED, FAILED = 1, 1, 2, 3, 4


def msg(kind, ticket, value, version=VERSION):
    return struct.pack(">BBxxII", version, kind, ticket, value)


def unpack(data):
    version, kind, ticket, value = struct.unpack(">BBxxII", data)
    return version, kind, ticket, value


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def server(worker, scenario):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen([worker, "-f", "-Z"], stdin=theirs,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    theirs.close()
    ours.settimeout(10)
    first = recv_exact(ours, 12)
    version, kind, ticket, value = unpack(first)
    print("first %d %d %d %s" % (version, kind, ticket,
                                  "own-pid" if value == proc.pid else value))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if scenario == "fork":
        socket.send_fds(ours, [msg(FORK, 7, 0)], [b.fileno()])
        version, kind, ticket, value = unpack(recv_exact(ours, 12))
        print("answer %d %d %s" % (kind, ticket,
                                    "positive" if value > 0 else value))
        if kind == FORKED and value > 0:  # our child (CLONE_PARENT) or not
            try:
                os.kill(value, signal.SIGKILL)
                os.waitpid(value, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        ours.close()
    else:
        if scenario == "version":
            socket.send_fds(ours, [msg(FORK, 7, 0, version=9)], [b.fileno()])
        elif scenario == "nofd":
            ours.sendall(msg(FORK, 7, 0))
        elif scenario == "type":
            socket.send_fds(ours, [msg(FORKED, 7, 1)], [b.fileno()])
        print("eof" if ours.recv(12) == b"" else "more")
        ours.close()
    a.close()
    b.close()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    lines = err.decode(errors="replace").strip().splitlines()
    print("log " + (lines[-1] if lines else ""))


def fake(mode):
    sock = socket.socket(fileno=0)
    if mode == "version":
        sock.sendall(msg(READY, 0, os.getpid(), version=9))
    elif mode == "pid":
        sock.sendall(msg(READY, 0, os.getpid() + 1))
    else:
        sock.sendall(msg(READY, 0, os.getpid()))
    while True:
        data, fds, _, _ = socket.recv_fds(sock, 12, 4)
        if not data:
            return
        for fd in fds:
            os.close(fd)
        if mode == "ticket" and len(data) == 12:
            _, _, ticket, _ = unpack(data)
            sock.sendall(msg(FORKED, ticket + 1000, os.getpid()))


if sys.argv[1] == "server":
    server(sys.argv[2], sys.argv[3])
else:
    fake(sys.argv[2])
