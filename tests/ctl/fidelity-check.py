#!/usr/bin/env python3
"""fidelity-check.py - compare a post with what `mlm-ctl try` says a list
member gets (tests/ctl/fidelity.sh).

usage: fidelity-check.py INPUT TRY-OUTPUT PREFIX FOOTER-LAST-LINE LIST-POST

Prints one line per problem found and exits 1 when there is any:
  - text of a part lost (every line of every leaf part of the input,
    decoded, is found in order in the same leaf of the output);
  - the body changed where no footer was added;
  - a multipart/signed or multipart/encrypted part not byte-identical;
  - a header line over 998 octets, or a line of a header mlm wrote over
    78 where its words allowed a fold;
  - an encoded word mlm wrote (not in the input) over 75 characters;
  - the decoded Subject not the prefix, a space and the original (or the
    original when it had the prefix), the prefix more than once;
  - the footer more than once in a part, or in no part when the body
    was replaced;
  - a List-* or Archived-At header that is not the list's own, or one of
    ours missing or twice; List-Post other than LIST-POST.
"""
import email
import email.policy
import re
import sys

OURS = {"list-id", "list-post", "list-help", "list-subscribe",
        "list-unsubscribe", "list-owner"}
WRITTEN = OURS | {"subject", "precedence", "x-loop"}
EW = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")

problems = []


def problem(text):
    problems.append(text)


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


def check_text_kept(inp, out, footer):
    a, b = leaves(inp), leaves(out)
    if len(a) != len(b):
        problem("%d leaf parts in, %d out" % (len(a), len(b)))
        return
    with_footer = 0
    for i, (pa, pb) in enumerate(zip(a, b)):
        if pa.get_content_type() == "text/html":
            # the footer goes inside the HTML, maybe within a line: compare
            # the text without the footer and without whitespace
            html_b = re.sub(r"<p>[^<]*(?:<br>[^<]*)*%s</p>" % re.escape(footer),
                            "", part_text(pb))
            if re.sub(r"\s+", "", part_text(pa)) != re.sub(r"\s+", "", html_b):
                problem("part %d: the HTML text changed" % (i + 1))
            with_footer += footer in part_text(pb)
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
        n = part_text(pb).count(footer) - part_text(pa).count(footer)
        if n > 1:
            problem("part %d: the footer %d times" % (i + 1, n))
        with_footer += n > 0
    return with_footer


def sealed_regions(raw):
    """Raw text of each multipart/signed or /encrypted part of the input."""
    text = raw.replace(b"\r\n", b"\n")
    for m in re.finditer(rb"multipart/(?:signed|encrypted)[^\n]*(?:\n[ \t][^\n]*)*",
                         text, re.I):
        b = re.search(rb'boundary="?([^";\s]+)"?', m.group(0), re.I)
        if not b:
            continue
        bnd = re.escape(b"--" + b.group(1))
        region = re.search(bnd + rb"\n.*?\n" + bnd + rb"--", text[m.end():], re.S)
        if region:
            yield region.group(0)


def main():
    inp_path, out_path, prefix, footer, list_post = sys.argv[1:6]
    raw = open(inp_path, "rb").read()
    try_out = open(out_path, "rb").read()
    replaced = b"change: replace_body" in try_out
    out_msg = split_try_output(try_out)
    head_in, body_in = postfix_split(raw)
    block, body_out = header_block(out_msg)
    fin = fields(b"\n".join(head_in))
    fout = fields(block)

    for line in block.split(b"\n"):
        if len(line) > 998:
            problem("header line of %d octets" % len(line))
    in_words = set(EW.findall(b"\n".join(head_in)))
    for name, value in fout:
        if name.lower() not in WRITTEN:
            continue
        for line in (name.encode() + b":" + value).split(b"\n"):
            words = line.split()
            if len(line) > 78 and len(words) > 1 and \
                    max(len(w) for w in words) + 1 < 78 and \
                    any(w not in in_words for w in EW.findall(line)):
                problem("%s: a line of %d octets that could fold" % (name, len(line)))
        for w in EW.findall(value):
            if len(w) > 75 and w not in in_words:
                problem("%s: an encoded word of %d characters" % (name, len(w)))

    # List-* headers: ours, once each
    names = [n.lower() for n, _ in fout]
    for n in set(names):
        if (n.startswith("list-") or n == "archived-at") and n not in OURS:
            problem("a foreign header kept: %s" % n)
    for n in OURS:
        if names.count(n) != 1:
            problem("%s %d times" % (n, names.count(n)))
    post = [v for n, v in fout if n.lower() == "list-post"]
    if post and post[0].strip() != list_post.encode():
        problem("List-Post: %r" % post[0])

    # Subject
    sin = [v for n, v in fin if n.lower() == "subject"]
    sout = [v for n, v in fout if n.lower() == "subject"]
    orig = decoded_subject(sin[0]) if sin else ""
    got = decoded_subject(sout[0]) if sout else ""
    if not prefix or prefix in orig:
        want = orig
    else:
        want = (prefix + " " + orig) if orig else prefix
    if " ".join(got.split()) != " ".join(want.split()):
        problem("Subject %r, want %r" % (got, want))
    if prefix and got.count(prefix) != max(1, orig.count(prefix)):
        problem("the prefix %d times in %r" % (got.count(prefix), got))

    # bodies
    if not replaced:
        if body_out.rstrip(b"\n") != body_in.replace(b"\r\n", b"\n").rstrip(b"\n"):
            problem("the body changed with no footer added")
    head = b"\n".join(head_in) + b"\n" if head_in else b""
    mime_in = email.message_from_bytes(head + b"\n" + body_in,
                                       policy=email.policy.compat32)
    mime_out = email.message_from_bytes(out_msg, policy=email.policy.compat32)
    n = check_text_kept(mime_in, mime_out, footer)
    if replaced and not n:
        problem("body replaced, but the footer is in no part")
    flat_out = out_msg.replace(b"\r\n", b"\n")
    for region in sealed_regions(raw):
        if region not in flat_out:
            problem("a signed or encrypted part changed")

    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
