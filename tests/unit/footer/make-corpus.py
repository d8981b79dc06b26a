#!/usr/bin/env python3
# make-corpus.py - writes the footer_test corpus (NAME.eml in CRLF wire form,
# NAME.expect as footer_test.c describes) into the directory given.
# The files are committed; run this only to change or extend them:
#     python3 tests/unit/footer/make-corpus.py tests/unit/footer
import base64, quopri, os, sys

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)

DE = "Liste für Entwickler — ünïcode"
DE2 = "Abmelden: <mailto:dev-request@lists.example.org?subject=unsubscribe> & Archiv"
JA = "開発者向けメーリングリスト"
ASCII_FOOTER = ["dev mailing list", "https://lists.example.org/dev"]
HTML_FOOTER = '<div class="footer">Liste f&uuml;r Entwickler — ünïcode <a href="https://lists.example.org/dev">Archiv</a></div>'

HDR = ("From: Alice <alice@example.org>\n"
       "To: dev@lists.example.org\n"
       "Subject: {subj}\n"
       "Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
       "Message-ID: <{name}@example.org>\n")

def b64(data: bytes) -> str:
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i+76] for i in range(0, len(s), 76)) + "\n"

def qp(data: bytes) -> str:
    return quopri.encodestring(data).decode()

def write(name, msg, expect, raw=False):
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    msg = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(msg)
    with open(os.path.join(OUT, name + ".expect"), "w", encoding="utf-8") as f:
        f.write(expect.lstrip("\n"))

def hdr(name, subj, mime=True):
    h = HDR.format(subj=subj, name=name)
    if mime:
        h += "MIME-Version: 1.0\n"
    return h

def footer_lines(lines):
    return "".join("text: %s\n" % l for l in lines)

PNG = bytes(range(256)) * 3
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"

# 1. plain 7bit ASCII, ASCII footer: appended, nothing else changes
write("plain-7bit", hdr("plain-7bit", "plain ascii") +
      "Content-Type: text/plain; charset=us-ascii\n"
      "Content-Transfer-Encoding: 7bit\n\n"
      "Hello list,\n\nthis is a plain message.\n\n-- \nAlice\n",
      "# us-ascii 7bit text, ASCII footer: appended as is\n" +
      footer_lines(ASCII_FOOTER) +
      "rc: 1\nplain: 1\ncharset: 1=us-ascii\ncte: 1=7bit\n")

# 2. plain 7bit us-ascii, non-ASCII footer: relabelled UTF-8, made QP
write("plain-7bit-utf8-footer", hdr("plain-7bit-utf8-footer", "plain ascii") +
      "Content-Type: text/plain; charset=us-ascii; format=fixed\n"
      "Content-Transfer-Encoding: 7bit\n\n"
      "Hello list,\nplain ASCII text.\n",
      "# us-ascii 7bit text, non-ASCII footer: utf-8 and quoted-printable,\n"
      "# both reported as top-level header changes\n" +
      footer_lines([DE, DE2]) +
      "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=quoted-printable\n"
      "change: CHANGE Content-Type: text/plain; charset=utf-8; format=fixed\n"
      "change: CHANGE Content-Transfer-Encoding: quoted-printable\n")

# 3. plain quoted-printable UTF-8
body = ("Grüße aus Köln! Eine sehr lange Zeile, die mit weichen Umbrüchen kodiert "
        "werden muss, weil sie länger als sechsundsiebzig Zeichen ist.\n"
        "Zeile mit = Gleichheitszeichen und Leerzeichen am Ende   \n").encode()
write("plain-qp-utf8", hdr("plain-qp-utf8", "qp") +
      "Content-Type: text/plain; charset=UTF-8\n"
      "Content-Transfer-Encoding: quoted-printable\n\n" + qp(body),
      "# quoted-printable UTF-8: decoded, footer appended, re-encoded QP\n" +
      footer_lines([DE, DE2]) + "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=quoted-printable\n")

# 4. plain base64 UTF-8
body = ("Привет, список!\nΓειά σου κόσμε.\n" * 20).encode()
write("plain-base64-utf8", hdr("plain-base64-utf8", "b64") +
      "Content-Type: text/plain; charset=\"utf-8\"\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(body),
      "# base64 UTF-8: decoded, footer appended, re-encoded base64\n" +
      footer_lines([DE, DE2]) + "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=base64\n")

# 5. ISO-8859-1 8bit; the footer's em dash is not Latin-1: part becomes UTF-8
body = "Grüße, schöne Grüße aus Düsseldorf.\nÄrger über Öl.\n".encode("latin-1")
msg = (hdr("plain-latin1-8bit", "latin1") +
       "Content-Type: text/plain;\n\tcharset=ISO-8859-1\n"
       "Content-Transfer-Encoding: 8bit\n\n").encode() + body
write("plain-latin1-8bit", msg,
      "# ISO-8859-1 8bit, footer with an em dash (not in Latin-1): the part is\n"
      "# converted to UTF-8 and the charset change reported\n" +
      footer_lines([DE]) +
      "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=8bit\n"
      "change: CHANGE Content-Type: text/plain; charset=utf-8\n")

# 6. ISO-8859-1 quoted-printable, footer that fits Latin-1: charset kept
body = "Grüße aus Düsseldorf.\n".encode("latin-1")
write("plain-latin1-fits", hdr("plain-latin1-fits", "latin1 qp") +
      "Content-Type: text/plain; charset=iso-8859-1\n"
      "Content-Transfer-Encoding: quoted-printable\n\n" + qp(body),
      "# ISO-8859-1 QP, footer representable in Latin-1: converted to Latin-1\n" +
      footer_lines(["Liste für Entwickler – nur Latin-1: ünïcode".replace("–", "-")]) +
      "rc: 1\nplain: 1\ncharset: 1=iso-8859-1\ncte: 1=quoted-printable\n")

# 7/8. Shift_JIS 8bit: Japanese footer fits, German footer does not
body = "こんにちは、開発者の皆さん。\n来週の会議について。\n".encode("shift_jis")
sjis = (hdr("sjis", "sjis") +
        "Content-Type: text/plain; charset=Shift_JIS\n"
        "Content-Transfer-Encoding: 8bit\n\n").encode() + body
write("sjis", sjis,
      "# Shift_JIS 8bit, Japanese footer: converted to Shift_JIS, charset kept\n" +
      footer_lines([JA, "https://lists.example.org/dev"]) +
      "rc: 1\nplain: 1\ncharset: 1=shift_jis\ncte: 1=8bit\n")
write("sjis-convert", sjis.replace(b"<sjis@", b"<sjis-convert@"),
      "# Shift_JIS 8bit, German footer (ü is not in Shift_JIS): part converted\n"
      "# to UTF-8, charset change reported\n" +
      footer_lines([DE]) +
      "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=8bit\n"
      "change: CHANGE Content-Type: text/plain; charset=utf-8\n")

# 9. HTML only, with </body>, us-ascii 7bit: non-ASCII HTML footer as references
write("html-body", hdr("html-body", "html") +
      "Content-Type: text/html; charset=us-ascii\n"
      "Content-Transfer-Encoding: 7bit\n\n"
      "<!DOCTYPE html>\n<html><head><title>x</title></head>\n<body>\n"
      "<p>Hello <b>list</b></p>\n</BODY>\n</html>\n",
      "# text/html 7bit with </BODY>: footer inserted before it, non-ASCII as\n"
      "# character references so the part stays 7bit us-ascii\n" +
      footer_lines([DE]) + "html: " + HTML_FOOTER + "\n"
      "rc: 1\nhtmlpart: 1\ncharset: 1=us-ascii\ncte: 1=7bit\n")

# 10. HTML without </body>: appended; HTML footer derived from the text one
write("html-nobody", hdr("html-nobody", "html fragment") +
      "Content-Type: text/html; charset=utf-8\n"
      "Content-Transfer-Encoding: 8bit\n\n"
      "<p>Grüße, <i>list</i></p>\n<p>second paragraph</p>",
      "# text/html fragment without </body>: derived footer appended\n" +
      footer_lines([DE, DE2]) + "rc: 1\nhtmlpart: 1\ncharset: 1=utf-8\ncte: 1=8bit\n")

# 11. multipart/alternative plain + html
plain = "Hallo Liste,\nGrüße!\n".encode()
html = "<html><body><p>Hallo Liste,<br>Grüße!</p></body></html>\n".encode()
write("alternative", hdr("alternative", "alt") +
      "Content-Type: multipart/alternative; boundary=\"alt-b0undary\"\n\n"
      "This is a multi-part message in MIME format.\n"
      "--alt-b0undary\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n\n" + qp(plain) +
      "\n--alt-b0undary\n"
      "Content-Type: text/html; charset=utf-8\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(html) +
      "\n--alt-b0undary--\n",
      "# multipart/alternative: text footer in text/plain, HTML in text/html\n" +
      footer_lines([DE, DE2]) + "html: " + HTML_FOOTER + "\n"
      "rc: 1\nplain: 1\nhtmlpart: 2\ncte: 1=quoted-printable 2=base64\n")

# 12. alternative, HTML footer only: text/plain stays as it is
write("alternative-html-only", hdr("alternative-html-only", "alt") +
      "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
      "--b1\n"
      "Content-Type: text/plain; charset=us-ascii\n\nplain text\n"
      "--b1\n"
      "Content-Type: text/html; charset=us-ascii\n\n<p>html text</p>\n"
      "--b1--\n",
      "# only an HTML footer given: the text/plain alternative is untouched\n"
      "html: <p>HTML-only footer</p>\n"
      "rc: 1\nhtmlpart: 2\n")

# 13. mixed: text + base64 PDF attachment
write("mixed-attachment", hdr("mixed-attachment", "with pdf") +
      "Content-Type: multipart/mixed; boundary=\"=-mixed-=\"\n\n"
      "--=-mixed-=\n"
      "Content-Type: text/plain\n\nPlease find the report attached.\n"
      "\n--=-mixed-=\n"
      "Content-Type: application/pdf; name=\"report.pdf\"\n"
      "Content-Disposition: attachment; filename=\"report.pdf\"\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(PDF) +
      "--=-mixed-=--\n\nepilogue text\n",
      "# multipart/mixed: footer in the first text part (us-ascii without a\n"
      "# charset: becomes utf-8 QP inside the part, no top-level change);\n"
      "# the PDF attachment is byte-identical\n" +
      footer_lines([DE, DE2]) +
      "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=quoted-printable\n")

# 14. mixed whose first part is an alternative (with related html)
write("mixed-alternative", hdr("mixed-alternative", "nested") +
      "Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
      "preamble\n"
      "--outer\n"
      "Content-Type: multipart/alternative; boundary=\"inner\"\n\n"
      "--inner\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: 8bit\n\nSiehe Anhang. Grüße\n"
      "--inner\n"
      "Content-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\n\n"
      "--rel\n"
      "Content-Type: text/html; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n\n" +
      qp("<html><body><p>Siehe Anhang. Grüße</p><img src=\"cid:logo@x\"></body></html>\n".encode()) +
      "--rel\n"
      "Content-Type: image/png\nContent-ID: <logo@x>\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(PNG) +
      "--rel--\n"
      "--inner--\n"
      "--outer\n"
      "Content-Type: application/octet-stream; name=data.bin\n"
      "Content-Disposition: attachment; filename=data.bin\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(PNG[::-1]) +
      "--outer--\n",
      "# mixed > alternative > (plain, related > (html, png)), then an attachment\n" +
      footer_lines([DE, DE2]) +
      "rc: 1\nplain: 1.1\nhtmlpart: 1.2.1\n")

# 15. multipart/signed at the top: nothing to do
SIGNED_INNER = ("Content-Type: text/plain; charset=us-ascii\n"
                "Content-Transfer-Encoding: 7bit\n\n"
                "This text is signed.   \n\n")
SIG = ("-----BEGIN PGP SIGNATURE-----\n\n"
       "iHUEARYKAB0WIQTexampleexampleexampleexampleexampleFAmWSBkAACgkQ\n"
       "=abcd\n-----END PGP SIGNATURE-----\n")
def signed(b):
    return ("Content-Type: multipart/signed; micalg=pgp-sha256;\n"
            " protocol=\"application/pgp-signature\"; boundary=\"" + b + "\"\n\n"
            "This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\n"
            "--" + b + "\n" + SIGNED_INNER +
            "--" + b + "\n"
            "Content-Type: application/pgp-signature; name=\"signature.asc\"\n"
            "Content-Description: OpenPGP digital signature\n"
            "Content-Disposition: attachment; filename=\"signature.asc\"\n\n" + SIG +
            "\n--" + b + "--\n")
write("signed", hdr("signed", "signed") + signed("sig1"),
      "# top-level multipart/signed: no place for a footer\n" +
      footer_lines([DE]) + "rc: 0\n")

# 16. encrypted and S/MIME at the top
write("encrypted", hdr("encrypted", "encrypted") +
      "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\n"
      " boundary=\"enc\"\n\n"
      "--enc\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n"
      "--enc\nContent-Type: application/octet-stream\n\n"
      "-----BEGIN PGP MESSAGE-----\n\nhQEMA1234\n-----END PGP MESSAGE-----\n\n"
      "--enc--\n",
      "# top-level multipart/encrypted: no place for a footer\n" +
      footer_lines([DE]) + "rc: 0\n")
write("pkcs7", hdr("pkcs7", "smime") +
      "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(PDF),
      "# S/MIME enveloped data: no place for a footer\n" +
      footer_lines([DE]) + "rc: 0\n")

# 17. mixed: a signed part, then a text part after it
write("mixed-signed", hdr("mixed-signed", "forwarded signed") +
      "Content-Type: multipart/mixed; boundary=\"mx\"\n\n"
      "--mx\n" + signed("sig2") +
      "\n--mx\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n\n" + qp("Kommentar: Grüße\n".encode()) +
      "--mx--\n",
      "# mixed(signed(text, sig), text): the signed part is byte-identical, the\n"
      "# text part after it gets the footer\n" +
      footer_lines([DE, DE2]) + "rc: 1\nplain: 2\n")

# 18. no text part at all
write("image-only", hdr("image-only", "picture") +
      "Content-Type: image/png; name=\"pic.png\"\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(PNG),
      "# image only: no place for a footer\n" + footer_lines([DE]) + "rc: 0\n")
write("mixed-attachments-only", hdr("mixed-attachments-only", "files") +
      "Content-Type: multipart/mixed; boundary=\"f\"\n\n"
      "--f\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n" + b64(PNG) +
      "--f\nContent-Type: text/plain; name=notes.txt\n"
      "Content-Disposition: attachment; filename=notes.txt\n\nnotes\n"
      "--f--\n",
      "# mixed with an image and a text attachment: attachments never get it\n" +
      footer_lines([DE]) + "rc: 0\n")

# 19. no Content-Type at all (text/plain us-ascii by default)
write("no-content-type", hdr("no-content-type", "old style", mime=False) +
      "\nAn old-fashioned message without MIME headers.\n",
      "# no MIME headers: non-ASCII footer adds Content-Type, CTE, MIME-Version\n" +
      footer_lines([DE]) +
      "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=quoted-printable\n"
      "change: ADD Content-Type: text/plain; charset=utf-8\n"
      "change: ADD Content-Transfer-Encoding: quoted-printable\n"
      "change: ADD MIME-Version: 1.0\n")
write("no-content-type-ascii", hdr("no-content-type-ascii", "old style", mime=False) +
      "\nAn old-fashioned message without MIME headers,\nand no final line end.",
      "# no MIME headers, ASCII footer: no header change at all\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nplain: 1\n")

# 20. format=flowed with a last line ending in a space
write("flowed", hdr("flowed", "flowed") +
      "Content-Type: text/plain; charset=utf-8; format=flowed\n"
      "Content-Transfer-Encoding: 8bit\n\n"
      "This paragraph is flowed and its last line ends with a \nspace \n",
      "# format=flowed: the footer does not flow into the last paragraph\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nplain: 1\nflowed: 1\n")

# 21. UTF-16 base64 text: not ASCII-compatible, converted to UTF-8
write("utf16", hdr("utf16", "utf16") +
      "Content-Type: text/plain; charset=utf-16\n"
      "Content-Transfer-Encoding: base64\n\n" + b64("Hallo in UTF-16, Grüße\r\n".encode("utf-16")),
      "# UTF-16 text (ASCII is no subset): converted to UTF-8\n" +
      footer_lines(ASCII_FOOTER) +
      "rc: 1\nplain: 1\ncharset: 1=utf-8\ncte: 1=base64\n"
      "change: CHANGE Content-Type: text/plain; charset=utf-8\n")

# 22. HTML in ISO-8859-1 QP with an em dash in the HTML footer
write("html-latin1", hdr("html-latin1", "html latin1") +
      "Content-Type: text/html; charset=ISO-8859-1\n"
      "Content-Transfer-Encoding: quoted-printable\n\n" +
      qp("<html><body><p>Grüße</p></body></html>\n".encode("latin-1")),
      "# HTML footer not representable in Latin-1: character references\n" +
      "html: " + HTML_FOOTER + "\n"
      "rc: 1\nhtmlpart: 1\ncharset: 1=iso-8859-1\ncte: 1=quoted-printable\n")

# 23. mixed whose first part is an attached message
write("mixed-message", hdr("mixed-message", "fwd") +
      "Content-Type: multipart/mixed; boundary=\"mm\"\n\n"
      "--mm\nContent-Type: message/rfc822\n\n"
      "From: bob@example.org\nSubject: inner\nContent-Type: text/plain\n\ninner text\n"
      "--mm\nContent-Type: text/plain\n\nouter text\n"
      "--mm--\n",
      "# an attached message is never changed; the text part after it is\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nplain: 2\n")

# 24. ambiguous top-level headers: two Content-Type fields
write("duplicate-content-type", hdr("duplicate-content-type", "dup") +
      "Content-Type: text/plain; charset=us-ascii\n"
      "Content-Type: text/plain; charset=us-ascii\n\nbody\n",
      "# two Content-Type fields and a change needed: left alone\n" +
      footer_lines([DE]) + "rc: 0\n")

# 25. unknown transfer encoding
write("unknown-cte", hdr("unknown-cte", "uu") +
      "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
      "begin 644 x\n#86)C\n`\nend\n",
      "# a transfer encoding we cannot re-encode: left alone\n" +
      footer_lines(ASCII_FOOTER) + "rc: 0\n")

# 26/27. deep nesting: within and beyond the depth limit
def nested(name, depth):
    s = hdr(name, "deep")
    for i in range(depth):
        s += "Content-Type: multipart/mixed; boundary=\"d%d\"\n\n--d%d\n" % (i, i)
    s += "Content-Type: text/plain\n\ndeep text\n"
    for i in reversed(range(depth)):
        s += "--d%d--\n" % i
    return s
write("deep-40", nested("deep-40", 40),
      "# 40 nested multiparts: within the depth limit\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nplain: " + ".".join(["1"] * 40) + "\n")
write("deep-200", nested("deep-200", 200),
      "# 200 nested multiparts: the walk stops at its depth limit\n" +
      footer_lines(ASCII_FOOTER) + "rc: 0\n")

# 28. Gmail style: no blank line after an end boundary; a signed part whose
# signed content is itself a multipart (GMime's writer adds a line there)
write("signed-nested-tight", hdr("signed-nested-tight", "tight") +
      "Content-Type: multipart/mixed; boundary=\"000000000000outer\"\n\n"
      "--000000000000outer\n"
      "Content-Type: multipart/signed; micalg=pgp-sha256;\n"
      " protocol=\"application/pgp-signature\"; boundary=\"000000000000sig\"\n\n"
      "--000000000000sig\n"
      "Content-Type: multipart/mixed; boundary=\"000000000000inner\"\n\n"
      "--000000000000inner\n"
      "Content-Type: text/plain; charset=\"UTF-8\"\n\nsigned text\n"
      "--000000000000inner\n"
      "Content-Type: message/rfc822\n\n"
      "Subject: embedded\nFrom: c@example.org\nMIME-Version: 1.0\n"
      "Content-Type: multipart/alternative; boundary=\"emb\"\n"
      "X-After-Content-Type: yes\n\n"
      "--emb\nContent-Type: text/plain\n\nembedded text\n"
      "--emb\nContent-Type: text/html\n\n<p>embedded</p>\n"
      "--emb--\n"
      "--000000000000inner--\n"
      "--000000000000sig\n"
      "Content-Type: application/pgp-signature; name=\"signature.asc\"\n\n" + SIG +
      "--000000000000sig--\n"
      "--000000000000outer\n"
      "Content-Type: multipart/alternative; boundary=\"000000000000alt\"\n\n"
      "--000000000000alt\n"
      "Content-Type: text/plain; charset=\"UTF-8\"\n\nmy comment\n"
      "--000000000000alt\n"
      "Content-Type: text/html; charset=\"UTF-8\"\n\n<div dir=\"ltr\">my comment</div>\n"
      "--000000000000alt--\n"
      "--000000000000outer--\n",
      "# nested multiparts without blank lines after end boundaries, a signed\n"
      "# part holding a multipart and an attached message: all kept byte for byte\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nplain: 2.1\nhtmlpart: 2.2\n")

# 29. multipart/related whose start parameter names its second part
write("related-start", hdr("related-start", "related") +
      "Content-Type: multipart/related; boundary=\"r\"; type=\"text/html\";\n"
      " start=\"<root@x>\"\n\n"
      "--r\nContent-Type: image/gif\nContent-ID: <img@x>\n"
      "Content-Transfer-Encoding: base64\n\n" + b64(PNG[:60]) +
      "--r\nContent-Type: text/html; charset=utf-8\nContent-ID: <root@x>\n\n"
      "<html><body><img src=\"cid:img@x\"></body></html>\n"
      "--r--\n",
      "# multipart/related: the footer goes in the start part, not the first\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nhtmlpart: 2\n")

# 30. a text attachment before the body text
write("text-attachment-first", hdr("text-attachment-first", "attachment first") +
      "Content-Type: multipart/mixed; boundary=\"t\"\n\n"
      "--t\nContent-Type: text/plain; name=log.txt\n"
      "Content-Disposition: attachment; filename=log.txt\n\nline 1\nline 2\n"
      "--t\nContent-Type: text/plain; charset=utf-8\n\nSee the log.\n"
      "--t--\n",
      "# a text/plain attachment never takes the footer; the inline text does\n" +
      footer_lines(ASCII_FOOTER) + "rc: 1\nplain: 2\n")

# format=flowed with a signature separator in the footer: "-- " keeps its
# space (RFC 3676 4.3)
write("flowed-signature", hdr("flowed-signature", "flowed signature") +
      "Content-Type: text/plain; charset=utf-8; format=flowed\n"
      "Content-Transfer-Encoding: 8bit\n\n"
      "A flowed paragraph.\n",
      "# format=flowed: the footer's \"-- \" separator is sent as it is\n" +
      footer_lines(["-- "] + ASCII_FOOTER) + "rc: 1\nplain: 1\n")
