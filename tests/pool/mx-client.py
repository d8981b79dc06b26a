#!/usr/bin/env python3
"""mx-client.py - a client of mx_socket that is not mlmd.

    mx-client.py SOCKET request STAGE SENDER [SPOOL_PATH]
        one request; prints "reply ACTION TEXT", "error TEXT" or "closed"
    mx-client.py SOCKET bigctl
        a control frame that claims 32 MB, 4 KB of it sent; prints the answer
    mx-client.py SOCKET junk
        malformed request frames, each on its own connection; prints one
        line per frame: "error TEXT", "reply ..." or "closed"
    mx-client.py SOCKET ctljunk
        control frames, each on its own connection: a good status first,
        then malformed ones; prints one line per frame: "ctl OK FIRST-LINE",
        "error TEXT" or "closed"
    mx-client.py SOCKET hellojunk
        a hello, then a hello with a byte too many; prints one line each:
        "hello_ok STAGES", "error TEXT" or "closed"

The wire format is common/proto.h's: a 4-byte big-endian payload length,
then version, type, sub, flags, then typed fields.
"""
import socket
import struct
import sys

VERSION, MSG_HELLO, MSG_HELLO_OK, MSG_REQUEST, MSG_REPLY, MSG_ERROR = 2, 1, 2, 3, 4, 7
MSG_CTL, MSG_CTL_REPLY = 8, 9
CTL_STATUS, CTL_STATS, CTL_RELOAD = 0, 1, 2
ACTIONS = ["continue", "accept", "reject", "tempfail", "discard", "failed"]


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">I", len(b)) + b


def strv(items):
    return struct.pack(">I", len(items)) + b"".join(s(i) for i in items)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def request(stage, sender, spool=""):
    body = b"".join(s(x) for x in ("QID1", "192.0.2.1", "client.test",
                                   "client.test", sender, "rcpt@pool.test",
                                   spool))
    body += struct.pack(">Q", 100) + strv(["rcpt@pool.test"]) + strv([]) + strv([])
    return frame(bytes([VERSION, MSG_REQUEST, stage, 0]) + body)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def exchange(path, data):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    try:
        sock.sendall(data)
        head = recv_exact(sock, 4)
        if head is None:
            return "closed"
        payload = recv_exact(sock, struct.unpack(">I", head)[0])
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    finally:
        sock.close()
    if payload is None:
        return "closed"
    kind, sub = payload[1], payload[2]
    if kind == MSG_CTL_REPLY and len(payload) >= 9:
        text = payload[9:].decode(errors="replace")
        return "ctl %d %s" % (payload[4], text.split("\n")[0])
    if kind == MSG_HELLO_OK and len(payload) >= 8:
        return "hello_ok %d" % struct.unpack(">I", payload[4:8])[0]
    fields, at = [], 4
    while at + 4 <= len(payload) and len(fields) < 3:
        n = struct.unpack(">I", payload[at:at + 4])[0]
        fields.append(payload[at + 4:at + 4 + n].decode(errors="replace"))
        at += 4 + n
    if kind == MSG_REPLY:
        return "reply %s %s" % (ACTIONS[sub] if sub < len(ACTIONS) else sub,
                                fields[2] if len(fields) > 2 else "")
    if kind == MSG_ERROR:
        return "error " + (fields[0] if fields else "")
    return "type %d" % kind


def junk_frames():
    good = request(2, "a@pool.test")[4:]
    hdr = bytes([VERSION, MSG_REQUEST, 2, 0])
    return [
        frame(hdr + b"\xff" * 24),                 # a string longer than the frame
        frame(good[:len(good) - 5]),               # cut short
        frame(good + b"\x00"),                     # a byte too many
        frame(hdr + s("q\0id") + good[4 + 8:]),    # NUL inside a string
        frame(good[:-4] + struct.pack(">I", 1) + s("x")),  # macros: a name, no value
        frame(hdr[:2] + bytes([9, 0]) + good[4:]), # no such stage
    ]


def ctl(verb, body, flags=0):
    return frame(bytes([VERSION, MSG_CTL, verb, flags]) + body)


def ctl_frames():
    return [
        ctl(CTL_STATUS, b"\x00"),                 # good: status
        ctl(3, b"\x00"),                          # no such verb
        ctl(255, b"\x00"),                        # no such verb
        ctl(CTL_STATS, b"\x03"),                  # no such stats format
        ctl(CTL_RELOAD, b"\x01"),                 # reload takes no argument
        ctl(CTL_STATUS, b"\x00\x00"),             # a byte too many
        ctl(CTL_STATUS, b""),                     # the argument missing
        ctl(CTL_STATUS, b"\x00", flags=1),        # flags set
        ctl(0, s("status") + s("")),              # version 1's verb as a string
    ]


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "request":
        stage, sender = int(sys.argv[3]), sys.argv[4]
        spool = sys.argv[5] if len(sys.argv) > 5 else ""
        try:
            print(exchange(path, request(stage, sender, spool)))
        except OSError as e:
            print("closed (%s)" % e)
    elif mode == "bigctl":
        data = struct.pack(">I", 32 << 20) + bytes([VERSION, 8, 0, 0]) + b"x" * 4096
        try:
            print(exchange(path, data))
        except OSError as e:
            print("closed (%s)" % e)
    elif mode == "junk":
        for data in junk_frames():
            print(exchange(path, data))
    elif mode == "ctljunk":
        for data in ctl_frames():
            print(exchange(path, data))
    elif mode == "hellojunk":
        hello = bytes([VERSION, MSG_HELLO, 0, 0])
        for data in (frame(hello), frame(hello + b"\x00")):
            print(exchange(path, data))


main()
