#!/usr/bin/env python3
"""smtp-load.py - posts streamed into SMTP servers, every reply recorded.

    smtp-load.py --out FILE --stop FILE --from ADDR --to ADDR \
        [--sessions N] [--limit N] NAME:PORT...

For each NAME:PORT (a server on 127.0.0.1), N sessions (threads) each send
posts one after another over one SMTP connection (a new one when the
server closes it), until the file --stop exists or --limit posts were
sent by that session. Every post has a unique Subject and Message-ID,
"load-NAME-SESSION-SEQ". One line per transaction is appended to --out:

    TOKEN STAGE CODE TEXT

STAGE is the step whose reply ended the transaction: mail, rcpt, data
(the DATA command), dot (the end of DATA: 250 is accepted) or, CODE 0,
"lost" (the connection broke without a reply). Exits 0 when every session
ended; what the replies mean is for the test to judge.
"""
import argparse
import os
import smtplib
import socket
import sys
import threading
import time

lock = threading.Lock()


def record(out, token, stage, code, text):
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = " ".join(str(text).split())
    with lock:
        out.write("%s %s %d %s\n" % (token, stage, code, text))
        out.flush()


def session(out, stop, name, port, num, args):
    smtp = None
    seq = 0
    while seq < args.limit and not os.path.exists(stop):
        seq += 1
        token = "load-%s-%d-%d" % (name, num, seq)
        if smtp is None:
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, "client.mlm.test",
                                    timeout=args.timeout)
                smtp.ehlo("client.mlm.test")
            except (OSError, smtplib.SMTPException):
                # a refused greeting (421) decides no transaction
                smtp = None
                time.sleep(0.2)
                seq -= 1
                continue
        msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n"
               "Message-ID: <%s@example.net>\r\n\r\nPost %s.\r\n"
               % (args.sender, args.to, token, token, token))
        stage = "mail"
        recorded = False
        try:
            code, text = smtp.mail(args.sender)
            if code == 250:
                stage = "rcpt"
                code, text = smtp.rcpt(args.to)
            if code in (250, 251):
                stage = "data"
                code, text = smtp.docmd("DATA")
            if code == 354:
                stage = "dot"
                # no line of msg starts with a dot
                smtp.send(msg.encode("ascii") + b".\r\n")
                code, text = smtp.getreply()
            record(out, token, stage, code, text)
            recorded = True
            if code == 421:
                raise smtplib.SMTPServerDisconnected("421")
            if code != 250:
                smtp.rset()
                time.sleep(0.05)  # a client waits a little before it retries
        except (OSError, smtplib.SMTPException) as e:
            if not recorded:
                record(out, token, stage, 0, "lost: %s" % e)
            try:
                smtp.close()
            except (OSError, smtplib.SMTPException):
                pass
            smtp = None
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--stop", required=True)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--sessions", type=int, default=3)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("servers", nargs="+")
    args = p.parse_args()
    threads = []
    with open(args.out, "a") as out:
        for server in args.servers:
            name, port = server.split(":")
            for num in range(1, args.sessions + 1):
                t = threading.Thread(target=session,
                                     args=(out, args.stop, name, int(port),
                                           num, args))
                t.start()
                threads.append(t)
        for t in threads:
            t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
