#!/usr/bin/env python3
"""milter-client.py - a tiny MTA side of the milter protocol (v6).

miltertest keeps only the kind of reply it gets at CONNECT, HELO, MAIL and
RCPT (SMFIR_REPLYCODE), not its text, and it has no check for a changed
envelope sender. This client prints what the milter really answered, one
line per step, so the shell tests can grep for exact codes and actions.

    milter-client.py SOCKET STEP...

SOCKET is unix:/path (or local:/path or inet:PORT@HOST). Steps:

    connect HOST IP        helo NAME          macro CMD 'NAME=VALUE ...'
    mail 'ADDR [ARG...]'   rcpt ADDR          header NAME VALUE
    eoh                    body TEXT          eom
    abort                  quit               pause SECONDS

connect and helo are sent with defaults when a later step needs them; a
macro step sends all its NAME=VALUE pairs for command CMD (C, H, M, R) in
one packet, before the step that follows it.
Output: "STEP ARG: REPLY" where REPLY is continue, accept, reject,
tempfail, discard or the full text of a reply code ("550 5.7.1 text");
at eom, each action first: "eom: addheader NAME: VALUE",
"eom: chgheader INDEX NAME: VALUE", "eom: addrcpt <a>", "eom: delrcpt <a>",
"eom: chgfrom <a>", "eom: quarantine REASON", "eom: replbody JSON".
"closed" when the milter hung up. Exit status 0, or 2 on a protocol error.
"""
import json
import os
import socket
import time
import struct
import sys

SMFI_VERSION = 6
# MT_ACTIONS: the actions offered (an MTA without SMFIF_ADDRCPT_PAR, 0x80)
ALL_ACTIONS = int(os.environ.get("MT_ACTIONS", "0x1FF"), 0)
ALL_PROTOCOL = 0x001FFFFF

P_NOCONNECT, P_NOHELO, P_NOMAIL, P_NORCPT = 0x1, 0x2, 0x4, 0x8
P_NOBODY, P_NOHDRS, P_NOEOH, P_NR_HDR = 0x10, 0x20, 0x40, 0x80
P_NR_CONN, P_NR_HELO, P_NR_MAIL, P_NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
P_NR_EOH, P_NR_BODY = 0x40000, 0x80000

FINAL = {b"c": "continue", b"a": "accept", b"r": "reject", b"t": "tempfail",
         b"d": "discard"}


class Closed(Exception):
    pass


def connect(spec):
    if spec.startswith(("unix:", "local:")):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(spec.split(":", 1)[1])
    elif spec.startswith("inet:"):
        port, _, host = spec[5:].partition("@")
        s = socket.create_connection((host or "127.0.0.1", int(port)))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(spec)
    s.settimeout(float(os.environ.get("MT_CLIENT_TIMEOUT", "30")))
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise Closed()
        data += chunk
    return data


def send(s, cmd, data=b""):
    s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)


def read(s):
    (n,) = struct.unpack(">I", recv_exact(s, 4))
    if n < 1 or n > 64 * 1024 * 1024:
        raise ValueError("bad packet length %d" % n)
    body = recv_exact(s, n)
    return body[:1], body[1:]


def cstr(data):
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def describe(cmd, data):
    """A final reply as text, or None for an intermediate packet."""
    if cmd in FINAL:
        return FINAL[cmd]
    if cmd == b"y":
        return cstr(data)
    return None


def action_text(cmd, data):
    parts = data.split(b"\0")
    text = [p.decode("utf-8", "replace") for p in parts]
    if cmd == b"h":
        return "addheader %s: %s" % (text[0], text[1])
    if cmd in (b"m", b"i"):
        (idx,) = struct.unpack(">I", data[:4])
        rest = [p.decode("utf-8", "replace") for p in data[4:].split(b"\0")]
        kind = "chgheader" if cmd == b"m" else "insheader"
        return "%s %d %s: %s" % (kind, idx, rest[0], rest[1])
    if cmd == b"+":
        return "addrcpt %s" % text[0]
    if cmd == b"2":
        return "addrcpt %s" % " ".join(t for t in text if t)
    if cmd == b"-":
        return "delrcpt %s" % text[0]
    if cmd == b"e":
        return "chgfrom %s" % " ".join(t for t in text if t)
    if cmd == b"q":
        return "quarantine %s" % text[0]
    if cmd == b"b":
        return "replbody " + json.dumps(data.decode("utf-8", "replace"))
    if cmd == b"p":
        return None  # progress: keep waiting
    return "action %r %r" % (cmd, data)


class Session:
    def __init__(self, spec):
        self.s = connect(spec)
        self.state = "new"
        self.body_parts = []
        send(self.s, b"O", struct.pack(">III", SMFI_VERSION, ALL_ACTIONS,
                                       ALL_PROTOCOL))
        cmd, data = read(self.s)
        if cmd != b"O" or len(data) < 12:
            raise ValueError("bad negotiation answer %r" % cmd)
        _, self.actions, self.proto = struct.unpack(">III", data[:12])

    def ask(self, cmd, data, no_reply_flag):
        send(self.s, cmd, data)
        if self.proto & no_reply_flag:
            return "continue (no reply expected)"
        c, d = read(self.s)
        return describe(c, d) or "unexpected %r" % c

    def ensure(self, state):
        order = ["new", "connect", "helo"]
        if order.index(self.state) < 1 <= order.index(state):
            self.step_connect("localhost", "127.0.0.1", quiet=True)
        if order.index(self.state) < 2 <= order.index(state):
            self.step_helo("client.test", quiet=True)

    def out(self, line, quiet=False):
        if not quiet:
            print(line, flush=True)

    def step_connect(self, host, ip, quiet=False):
        self.state = "connect"
        if self.proto & P_NOCONNECT:
            return
        fam = b"6" if ":" in ip else b"4"
        data = host.encode() + b"\0" + fam + struct.pack(">H", 25) + \
            ip.encode() + b"\0"
        self.out("connect %s %s: %s" % (host, ip, self.ask(b"C", data,
                                                           P_NR_CONN)), quiet)

    def step_helo(self, name, quiet=False):
        self.ensure("connect")
        self.state = "helo"
        if self.proto & P_NOHELO:
            return
        self.out("helo %s: %s" % (name, self.ask(b"H", name.encode() + b"\0",
                                                 P_NR_HELO)), quiet)

    def step_macro(self, cmd, pairs):
        if cmd in ("M", "R"):
            self.ensure("helo")
        elif cmd == "H":
            self.ensure("connect")
        data = cmd.encode()[:1]
        for pair in pairs.split(" "):
            name, _, value = pair.partition("=")
            data += name.encode() + b"\0" + value.encode() + b"\0"
        send(self.s, b"D", data)

    def step_mail(self, args):
        self.ensure("helo")
        words = args.split(" ")
        data = b"".join(w.encode() + b"\0" for w in words)
        if self.proto & P_NOMAIL:
            self.out("mail %s: skipped (SMFIP_NOMAIL)" % args)
            return
        self.out("mail %s: %s" % (args, self.ask(b"M", data, P_NR_MAIL)))

    def step_rcpt(self, addr):
        if self.proto & P_NORCPT:
            self.out("rcpt %s: skipped (SMFIP_NORCPT)" % addr)
            return
        self.out("rcpt %s: %s" % (addr, self.ask(b"R", addr.encode() + b"\0",
                                                 P_NR_RCPT)))

    def step_header(self, name, value):
        if self.proto & P_NOHDRS:
            return
        r = self.ask(b"L", name.encode() + b"\0" + value.encode() + b"\0",
                     P_NR_HDR)
        if not r.startswith("continue"):
            self.out("header %s: %s" % (name, r))

    def step_eoh(self):
        if self.proto & P_NOEOH:
            return
        r = self.ask(b"N", b"", P_NR_EOH)
        if not r.startswith("continue"):
            self.out("eoh: %s" % r)

    def step_body(self, text):
        if self.proto & P_NOBODY:
            return
        r = self.ask(b"B", text.encode(), P_NR_BODY)
        if not r.startswith("continue"):
            self.out("body: %s" % r)

    def step_eom(self):
        send(self.s, b"E")
        while True:
            cmd, data = read(self.s)
            final = describe(cmd, data)
            if final is not None:
                self.out("eom: %s" % final)
                return
            line = action_text(cmd, data)
            if line:
                self.out("eom: %s" % line)

    def step_abort(self):
        send(self.s, b"A")

    def step_quit(self):
        send(self.s, b"Q")

    def step_pause(self, seconds):
        time.sleep(float(seconds))


ARITY = {"connect": 2, "helo": 1, "macro": 2, "mail": 1, "rcpt": 1,
         "header": 2, "eoh": 0, "body": 1, "eom": 0, "abort": 0, "quit": 0,
         "pause": 1}


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    steps, i = [], 2
    while i < len(argv):
        name = argv[i]
        if name not in ARITY or i + ARITY[name] >= len(argv):
            print("milter-client: bad step %r" % name, file=sys.stderr)
            return 2
        steps.append((name, argv[i + 1:i + 1 + ARITY[name]]))
        i += 1 + ARITY[name]
    try:
        sess = Session(argv[1])
        for name, args in steps:
            getattr(sess, "step_" + name)(*args)
        sess.step_quit()
    except Closed:
        print("closed", flush=True)
    except (OSError, ValueError) as e:
        print("milter-client: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
