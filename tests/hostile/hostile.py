#!/usr/bin/env python3
"""hostile.py - hostile mail straight through mlmd's milter socket.

    hostile.py SOCKET MUX_PID MLMD_PID

Each case is one SMTP transaction from a list member to dev@lists.example
(the shipped list policy: prefix, footer, expansion). Every case must get a
defined final answer (continue, reject, tempfail or discard), no header
action may carry CR or LF, and both daemons must still be running after it.
Prints one "ok - ..." or "FAIL - ..." line per check.
"""
import re
import importlib.util
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "mc", os.path.join(here, "..", "milter", "scripts", "milter-client.py"))
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)

SOCKET, MUX_PID, MLMD_PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
failures = 0


def check(ok, what):
    global failures
    print(("ok - " if ok else "FAIL - ") + what, flush=True)
    failures += 0 if ok else 1


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def transaction(headers, body_chunks):
    """Run one transaction; return (final reply, header action lines)."""
    s = mc.Session(SOCKET)
    s.step_connect("client.test", "192.0.2.1", quiet=True)
    s.step_helo("client.test", quiet=True)
    mc.send(s.s, b"D", b"Mi\0HOSTILE1\0")
    mc.send(s.s, b"M", b"<alice@example.org>\0")
    if not s.proto & mc.P_NR_MAIL:
        mc.read(s.s)
    mc.send(s.s, b"R", b"<dev@lists.example>\0")
    if not s.proto & mc.P_NR_RCPT:
        mc.read(s.s)
    for name, value in headers:
        mc.send(s.s, b"L", name + b"\0" + value + b"\0")
        if not s.proto & mc.P_NR_HDR:
            mc.read(s.s)
    mc.send(s.s, b"N")
    if not s.proto & mc.P_NR_EOH:
        mc.read(s.s)
    for chunk in body_chunks:
        mc.send(s.s, b"B", chunk)
        if not s.proto & mc.P_NR_BODY:
            mc.read(s.s)
    mc.send(s.s, b"D", b"Ei\0HOSTILE1\0")
    mc.send(s.s, b"E")
    actions = []
    while True:
        cmd, data = mc.read(s.s)
        final = mc.describe(cmd, data)
        if final is not None:
            break
        if cmd in (b"h", b"m", b"i"):
            actions.append(data)
    try:
        mc.send(s.s, b"Q")
    except OSError:
        pass
    return final, actions


def chunks(data, size=65535):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def base(subject=b"hostile"):
    return [(b"From", b"alice@example.org"), (b"To", b"dev@lists.example"),
            (b"Subject", subject), (b"Message-ID", b"<h@example.org>")]


def mime_parts(n):
    body = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i
                    for i in range(n)) + b"--B--\r\n"
    return base() + [(b"MIME-Version", b"1.0"),
                     (b"Content-Type", b'multipart/mixed; boundary="B"')], body


def mime_nested(depth):
    body = b""
    for i in range(depth):
        body += b"--B%d\r\nContent-Type: multipart/mixed; boundary=\"B%d\"\r\n\r\n" % (i, i + 1)
    body += b"--B%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--B%d--\r\n" % (depth, depth)
    for i in range(depth - 1, -1, -1):
        body += b"--B%d--\r\n" % i
    return base() + [(b"MIME-Version", b"1.0"),
                     (b"Content-Type", b'multipart/mixed; boundary="B0"')], body


def crlf_subject():
    import base64
    evil = base64.b64encode(b"hi\r\nBcc: victim@example.org\r\n")
    return base(b"=?UTF-8?B?" + evil + b"?=")


CASES = [
    ("a 20 MB body", base(), b"x" * 998 + b"\r\n", 20 * 1024 * 1024 // 1000),
    ("5,000 header fields",
     base() + [(b"X-Filler-%d" % i, b"value %d" % i) for i in range(5000)],
     b"body\r\n", 1),
    ("a 100 KB header line", base() + [(b"X-Long", b"y" * 102400)],
     b"body\r\n", 1),
    ("1,000 MIME parts",) + mime_parts(1000) + (1,),
    ("MIME nested 200 deep",) + mime_nested(200) + (1,),
    ("invalid UTF-8 and raw 8-bit bytes in headers",
     base(b"\xff\xfe caf\xe9 \xc3\x28") + [(b"X-8bit", b"\x80\x81\x82")],
     b"body \xff\r\n", 1),
    ("NUL bytes in the body", base(), b"a\0b\0c\r\n", 1),
    ("broken RFC 2047 words",
     base(b"=?UTF-8?B?####?= =?x?Q?=ZZ?= =?UTF-8?Q?unterminated"),
     b"body\r\n", 1),
    ("addresses with quotes, comments, empty brackets, controls",
     base() + [(b"Reply-To", b'"a \\"quoted\\" b" <q@example.org>'),
               (b"Sender", b"(comment) <> , x@(c)example.org"),
               (b"Cc", b"a\x01b@example.org, <>, \"\"@, @, <<<>>>")],
     b"body\r\n", 1),
    ("a subject crafted to inject CR/LF through the prefix", crlf_subject(),
     b"body\r\n", 1),
]

for name, headers, body, repeat in CASES:
    try:
        data = body * repeat
        final, actions = transaction(headers, chunks(data))
        check(final.split(" ")[0] in ("continue", "accept", "discard", "reject",
                                      "tempfail") or final[:1] in ("4", "5"),
              "%s: a defined answer (%s)" % (name, final[:60]))
        # a LF only as a fold mlm wrote (followed by a blank), never CR
        check(not any(b"\r" in a or re.search(rb"\n(?![ \t])", a)
                      for a in actions),
              "%s: no CR/LF in any header action (but folds)" % name)
    except Exception as e:  # noqa: BLE001 - any failure is a finding
        check(False, "%s: %s" % (name, e))
    check(alive(MUX_PID) and alive(MLMD_PID), "%s: both daemons still up" % name)

sys.exit(1 if failures else 0)
