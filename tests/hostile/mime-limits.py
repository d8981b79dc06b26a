#!/usr/bin/env python3
"""mime-limits.py - MIME structures past and within the limits, through
mlmd's milter socket to a worker running tests/hostile/mime.lua.

    mime-limits.py SOCKET CASE

Prints the final reply and the X-Parts header the policy added, if any:
"<reply> | X-Parts: N". Cases: empty-parts, deep-multipart, deep-message,
digest-deep, rfc2231-parts, header-flood, many-parts-ok, headers-ok,
deep-ok, dashes-ok, caught, dropped.
"""
import importlib.util
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "mc", os.path.join(here, "..", "milter", "scripts", "milter-client.py"))
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)


def transaction(sock, sender, headers, body):
    s = mc.Session(sock)
    s.step_connect("client.test", "192.0.2.1", quiet=True)
    s.step_helo("client.test", quiet=True)
    mc.send(s.s, b"M", b"<" + sender + b">\0")
    if not s.proto & mc.P_NR_MAIL:
        mc.read(s.s)
    mc.send(s.s, b"R", b"<rcpt@example.org>\0")
    if not s.proto & mc.P_NR_RCPT:
        mc.read(s.s)
    for name, value in headers:
        mc.send(s.s, b"L", name + b"\0" + value + b"\0")
        if not s.proto & mc.P_NR_HDR:
            mc.read(s.s)
    mc.send(s.s, b"N")
    if not s.proto & mc.P_NR_EOH:
        mc.read(s.s)
    for i in range(0, len(body), 65535):
        mc.send(s.s, b"B", body[i:i + 65535])
        if not s.proto & mc.P_NR_BODY:
            mc.read(s.s)
    mc.send(s.s, b"E")
    parts = None
    while True:
        cmd, data = mc.read(s.s)
        final = mc.describe(cmd, data)
        if final is not None:
            break
        if cmd == b"h" and data.startswith(b"X-Parts\0"):
            parts = data.split(b"\0")[1].decode()
    try:
        mc.send(s.s, b"Q")
    except OSError:
        pass
    return final, parts


def multipart(boundary_param, body):
    return [(b"From", b"a@example.org"), (b"Subject", b"mime"),
            (b"MIME-Version", b"1.0"),
            (b"Content-Type", b"multipart/mixed; " + boundary_param)], body


def nested_multipart(depth):
    body = b""
    for i in range(depth):
        body += b"--B%d\r\nContent-Type: multipart/mixed; boundary=\"B%d\"\r\n\r\n" % (i, i + 1)
    body += b"--B%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--B%d--\r\n" % (depth, depth)
    for i in range(depth - 1, -1, -1):
        body += b"--B%d--\r\n" % i
    return multipart(b'boundary="B0"', body)


def nested_message(depth):
    body = b"Content-Type: message/rfc822\r\n\r\n" * depth + b"Subject: inner\r\n\r\ntext\r\n"
    return [(b"From", b"a@example.org"), (b"Subject", b"mime"),
            (b"MIME-Version", b"1.0"), (b"Content-Type", b"message/rfc822")], body


def digest_deep(depth):
    # children of multipart/digest are messages without saying so
    body = b""
    for i in range(depth):
        body += b"--D%d\r\n\r\nContent-Type: multipart/digest; boundary=\"D%d\"\r\n\r\n" % (i, i + 1)
    body += b"--D%d--\r\n" % depth
    return [(b"From", b"a@example.org"), (b"Subject", b"mime"),
            (b"MIME-Version", b"1.0"),
            (b"Content-Type", b'multipart/digest; boundary="D0"')], body


def case(name):
    if name == "empty-parts":  # some 10 MB: 1.4 million empty parts
        return multipart(b'boundary="B"', b"--B\r\n\r\n" * 1400000 + b"--B--\r\n")
    if name == "deep-multipart":
        return nested_multipart(150)
    if name == "deep-message":
        return nested_message(150)
    if name == "digest-deep":
        return digest_deep(150)
    if name == "rfc2231-parts":  # the boundary split in RFC 2231 pieces
        return multipart(b"boundary*0=\"sp\"; boundary*1=\"lit\"",
                         b"--split\r\n\r\nx\r\n" * 20000 + b"--split--\r\n")
    if name == "many-parts-ok":
        return multipart(b'boundary="B"', b"--B\r\n\r\npart\r\n" * 1000 + b"--B--\r\n")
    if name == "deep-ok":
        return nested_multipart(50)
    if name == "dashes-ok":  # a patch: 20,000 lines that start with --
        headers = [(b"From", b"a@example.org"), (b"Subject", b"patch")]
        return headers, b"--- a/x.lua\r\n+++ b/x.lua\r\n" + b"--- old comment\r\n" * 20000
    if name == "header-flood":  # some 10 MB of header lines in one part
        return multipart(b'boundary="B"', b"--B\r\n" + b"X: y\r\n" * 1700000 +
                         b"\r\nbody\r\n--B--\r\n")
    if name == "headers-ok":  # 2,000 parts of 5 fields each
        return multipart(b'boundary="B"', (b"--B\r\nContent-Type: text/plain\r\n"
                         b"X-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n\r\nx\r\n") * 2000 + b"--B--\r\n")
    if name in ("caught", "dropped"):
        return multipart(b'boundary="B"', b"--B\r\n\r\n" * 20000 + b"--B--\r\n")
    raise SystemExit("unknown case " + name)


sock, name = sys.argv[1], sys.argv[2]
headers, body = case(name)
sender = {"caught": b"catch@example.org",
          "dropped": b"drop@example.org"}.get(name, b"a@example.org")
final, parts = transaction(sock, sender, headers, body)
print("%s | X-Parts: %s" % (final, parts))
