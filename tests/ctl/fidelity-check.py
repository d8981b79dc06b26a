#!/usr/bin/env python3
"""fidelity-check.py - compare a post with what `mlm-ctl try` says a list
member gets (tests/ctl/fidelity.sh).

usage: fidelity-check.py INPUT TRY-OUTPUT PREFIX FOOTER-LAST-LINE LIST-POST [LIST]
       fidelity-check.py --summary TALLY

LIST is the list's address (by default the one LIST-POST names). Prints
one line per problem found and exits 1 when there is any. The properties
checked, each named as the tally counts it:
  text-kept     every line of every leaf part of the input, decoded, is
                found in order in the same leaf of the output (a leaf the
                output adds must be the footer alone);
  body-kept     the body unchanged where no footer was added;
  sealed        each multipart/signed or multipart/encrypted part and each
                S/MIME or PGP leaf (application/pkcs7-mime, pgp-encrypted)
                byte-identical;
  line-998      no line of the output over 998 octets that the input did
                not have (header lines of the message and of its parts);
  fold-78       no line of a header mlm wrote over 78 where its words
                allowed a fold;
  word-75       no encoded word the input did not have over 75 characters,
                in any header field;
  prefix-once   the prefix once in the decoded Subject (or as often as in
                the original when it had the prefix already);
  subject       the decoded Subject the prefix, a space and the original
                (the original when it had the prefix);
  footer-once   where the body was replaced, the footer exactly once in
                what a reader sees: in each choice of every
                multipart/alternative, in no part more than once;
  list-fields   no List-* or Archived-At field but the list's own, each of
                ours once, with the list's values and our spelling
                (List-Id, not List-ID).
With the environment variable FIDELITY_TALLY naming a file, one line
"INPUT PROPERTIES PROBLEMS" is appended to it per run.
"""
import email
import email.policy
import os
import re
import sys

SPELLING = ["List-Id", "List-Post", "List-Help", "List-Subscribe",
            "List-Unsubscribe", "List-Owner"]
OURS = {n.lower() for n in SPELLING}
WRITTEN = OURS | {"subject", "precedence", "x-loop"}
EW = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")

problems = []
checked = []


def problem(text):
    problems.append(text)


def check(name):
    """Count property NAME as checked on this message."""
    if name not in checked:
        checked.append(name)


def split_try_output(data):
    """The message part of try's output: after the first empty line."""
    at = data.find(b"\n\n")
    return data[at + 2:] if at >= 0 else b""


def postfix_split(raw):
    """Header lines and body of the input, split as Postfix splits them."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    head = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == b"":
            i += 1
            break
        if line[:1] in (b" ", b"\t") and head:
            head[-1] += b"\n" + line
        elif re.match(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:", line):
            head.append(line)
        else:
            break
        i += 1
    return head, b"\n".join(lines[i:])


def header_block(msg_bytes):
    at = msg_bytes.find(b"\n\n")
    if at < 0:
        return msg_bytes, b""
    return msg_bytes[:at], msg_bytes[at + 2:]


def fields(block):
    out = []
    for line in block.split(b"\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + b"\n" + line)
        elif b":" in line:
            name, value = line.split(b":", 1)
            out.append((name.strip().decode("ascii", "replace"), value))
    return out


def decoded_subject(value):
    if value is None:
        return ""
    msg = email.message_from_bytes(b"Subject:" + value + b"\n\n",
                                   policy=email.policy.default)
    return str(msg["Subject"] or "").strip()


def leaves(msg):
    return [p for p in msg.walk() if not p.is_multipart()]


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        if isinstance(payload, list):
            return ""
        payload = str(payload).encode("utf-8", "replace")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("latin-1")


def is_footer_part(part, footer):
    """A leaf holding the footer alone (the writer may add one)."""
    return part.get_content_maintype() == "text" and \
        part_text(part).strip().endswith(footer) and \
        len(part_text(part).strip()) <= len(footer) + 8


def check_text_kept(inp, out, footer):
    check("text-kept")
    a = leaves(inp)
    b = [p for p in leaves(out) if not is_footer_part(p, footer)] \
        if len(leaves(out)) > len(a) else leaves(out)
    if len(a) != len(b):
        problem("%d leaf parts in, %d out" % (len(a), len(leaves(out))))
        return
    for i, (pa, pb) in enumerate(zip(a, b)):
        if pa.get_content_type() == "text/html":
            # the footer goes inside the HTML, maybe within a line: compare
            # the text without the footer and without whitespace
            html_b = re.sub(r"<p>[^<]*(?:<br>[^<]*)*%s</p>" % re.escape(footer),
                            "", part_text(pb))
            if re.sub(r"\s+", "", part_text(pa)) != re.sub(r"\s+", "", html_b):
                problem("part %d: the HTML text changed" % (i + 1))
            continue
        ta = [l.rstrip("\r ") for l in part_text(pa).split("\n")]
        tb = [l.rstrip("\r ") for l in part_text(pb).split("\n")]
        j = 0
        for line in ta:
            while j < len(tb) and tb[j] != line:
                j += 1
            if j == len(tb):
                problem("part %d: line lost: %r" % (i + 1, line[:60]))
                break
            j += 1


VIEWS_MAX = 256


def views(part):
    """What a reader may see of PART: a list of choices, each the list of
    leaves shown. A multipart/alternative is one of its parts, any other
    multipart all of them, an attached message its body."""
    if part.get_content_type() == "message/rfc822" or \
            (part.is_multipart() and part.get_content_maintype() == "message"):
        payload = part.get_payload()
        return views(payload[0]) if payload else [[]]
    if not part.is_multipart():
        return [[part]]
    children = part.get_payload()
    if part.get_content_subtype() == "alternative":
        out = []
        for c in children:
            out.extend(views(c))
        return out[:VIEWS_MAX] or [[]]
    out = [[]]
    for c in children:
        out = [v + w for v in out for w in views(c)][:VIEWS_MAX]
    return out


def footer_count(part, footer):
    if part.get_content_maintype() != "text":
        return 0
    return part_text(part).count(footer)


def check_footer(inp, out, footer, replaced):
    """The footer once in each thing a reader may see; never twice in a
    part."""
    if any(footer_count(p, footer) for p in leaves(inp)):
        return  # the input has the text already: its count says nothing
    check("footer-once")
    for i, p in enumerate(leaves(out)):
        if footer_count(p, footer) > 1:
            problem("part %d: the footer %d times" % (i + 1, footer_count(p, footer)))
    if not replaced:
        if any(footer_count(p, footer) for p in leaves(out)):
            problem("a footer with no body change")
        return
    for v in views(out):
        n = sum(footer_count(p, footer) for p in v)
        if n != 1:
            problem("the footer %d times in what a reader sees of %s" %
                    (n, "+".join(p.get_content_type() for p in v) or "nothing"))
            return


SEALED_LEAVES = {"application/pkcs7-mime", "application/x-pkcs7-mime",
                 "application/pgp-encrypted"}


def check_sealed(raw, mime_in, flat_out):
    """Each signed or encrypted part of the input, byte for byte."""
    text = raw.replace(b"\r\n", b"\n")
    for part in mime_in.walk():
        ctype = part.get_content_type()
        if ctype in ("multipart/signed", "multipart/encrypted"):
            check("sealed")
            bnd = part.get_boundary()
            region = None
            if bnd:
                b = re.escape(b"--" + bnd.encode("utf-8", "replace"))
                region = re.search(rb"(?m)^" + b + rb"[ \t]*\n.*?\n" + b + rb"--",
                                   text, re.S)
            if region is None:
                problem("%s: its parts not found in the input" % ctype)
            elif region.group(0) not in flat_out:
                problem("a %s part changed" % ctype)
        elif ctype in SEALED_LEAVES:
            check("sealed")
            body = part.get_payload(decode=False)
            if isinstance(body, str):
                body = body.encode("utf-8", "surrogateescape")
            if body.replace(b"\r\n", b"\n").strip() not in flat_out:
                problem("a %s part changed" % ctype)


def check_list_fields(fout, list_post, list_addr):
    check("list-fields")
    names = [n.lower() for n, _ in fout]
    for n in set(names):
        if (n.startswith("list-") or n == "archived-at") and n not in OURS:
            problem("a foreign header kept: %s" % n)
    for n in OURS:
        if names.count(n) != 1:
            problem("%s %d times" % (n, names.count(n)))
    local, _, domain = list_addr.partition("@")
    want = {
        "list-id": "<%s.%s>" % (local, domain),
        "list-post": list_post,
        "list-owner": "<mailto:%s-owner@%s>" % (local, domain),
        "list-help": "<mailto:%s-request@%s" % (local, domain),
        "list-subscribe": "<mailto:%s-request@%s" % (local, domain),
        "list-unsubscribe": "<mailto:%s-request@%s" % (local, domain),
    }
    for name, value in fout:
        key = name.lower()
        if key not in OURS:
            continue
        spelt = SPELLING[[n.lower() for n in SPELLING].index(key)]
        if name != spelt:
            problem("%s spelt %s" % (spelt, name))
        v = " ".join(value.decode("utf-8", "replace").split())
        if key == "list-id" and not v.endswith(want[key]):
            problem("List-Id: %r, want one ending in %r" % (v, want[key]))
        elif key in ("list-post", "list-owner") and v != want[key]:
            problem("%s: %r, want %r" % (spelt, v, want[key]))
        elif key in ("list-help", "list-subscribe", "list-unsubscribe") and \
                not v.startswith(want[key]):
            problem("%s: %r, want %r..." % (spelt, v, want[key]))


def summary(path):
    """The figures of a tally file: runs, messages, checks, problems."""
    runs, messages, props, checks, bad = 0, set(), set(), 0, 0
    for line in open(path):
        name, names, n = line.split()
        runs += 1
        messages.add(name)
        props.update(names.split(","))
        checks += len(names.split(","))
        bad += int(n)
    print("fidelity: %d runs of %d messages; %d properties (%s), %d checks; "
          "%d problems" % (runs, len(messages), len(props),
                           " ".join(sorted(props)), checks, bad))
    return 1 if bad else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        return summary(sys.argv[2])
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    inp_path, out_path, prefix, footer, list_post = sys.argv[1:6]
    list_addr = sys.argv[6] if len(sys.argv) > 6 else \
        re.sub(r"^<mailto:(.*)>$", r"\1", list_post)
    raw = open(inp_path, "rb").read()
    try_out = open(out_path, "rb").read()
    replaced = b"change: replace_body" in try_out
    out_msg = split_try_output(try_out)
    head_in, body_in = postfix_split(raw)
    block, body_out = header_block(out_msg)
    fin = fields(b"\n".join(head_in))
    fout = fields(block)

    check("line-998")
    lines_in = set(raw.replace(b"\r\n", b"\n").split(b"\n"))
    for line in out_msg.replace(b"\r\n", b"\n").split(b"\n"):
        if len(line) > 998 and line not in lines_in:
            problem("a line of %d octets: %r..." % (len(line), line[:40]))
    check("fold-78")
    check("word-75")
    in_words = set(EW.findall(raw))
    for name, value in fout:
        for w in EW.findall(value):
            if len(w) > 75 and w not in in_words:
                problem("%s: an encoded word of %d characters" % (name, len(w)))
        if name.lower() not in WRITTEN:
            continue
        for line in (name.encode() + b":" + value).split(b"\n"):
            words = line.split()
            if len(line) > 78 and len(words) > 1 and \
                    max(len(w) for w in words) + 1 < 78 and \
                    any(w not in in_words for w in EW.findall(line)):
                problem("%s: a line of %d octets that could fold" % (name, len(line)))

    check_list_fields(fout, list_post, list_addr)

    # Subject
    check("subject")
    sin = [v for n, v in fin if n.lower() == "subject"]
    sout = [v for n, v in fout if n.lower() == "subject"]
    orig = decoded_subject(sin[0]) if sin else ""
    got = decoded_subject(sout[0]) if sout else ""
    if not prefix or prefix in orig:
        want = orig
    else:
        want = (prefix + " " + orig) if orig else prefix
    if got != want:
        problem("Subject %r, want %r" % (got, want))
    if prefix:
        check("prefix-once")
        if got.count(prefix) != max(1, orig.count(prefix)):
            problem("the prefix %d times in %r" % (got.count(prefix), got))

    # bodies
    if not replaced:
        check("body-kept")
        if body_out.rstrip(b"\n") != body_in.replace(b"\r\n", b"\n").rstrip(b"\n"):
            problem("the body changed with no footer added")
    head = b"\n".join(head_in) + b"\n" if head_in else b""
    mime_in = email.message_from_bytes(head + b"\n" + body_in,
                                       policy=email.policy.compat32)
    mime_out = email.message_from_bytes(out_msg, policy=email.policy.compat32)
    check_text_kept(mime_in, mime_out, footer)
    check_footer(mime_in, mime_out, footer, replaced)
    check_sealed(raw, mime_in, out_msg.replace(b"\r\n", b"\n"))

    for p in problems:
        print(p)
    tally = os.environ.get("FIDELITY_TALLY")
    if tally:
        with open(tally, "a") as f:
            f.write("%s %s %d\n" % (inp_path, ",".join(checked), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
