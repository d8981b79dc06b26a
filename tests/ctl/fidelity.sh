#!/usr/bin/env bash
# tests/ctl/fidelity.sh - a post reaches members with nothing lost or
# mangled. Messages of the shapes that lost or mangled text
# (tests/ctl/fidelity/), CPython's email test messages
# (tests/corpus/cpython-email/) and the footer writer's corpus
# (tests/unit/footer/) go through `mlm-ctl try` with the shipped list
# policy, once with an ASCII and once with a non-ASCII subject prefix;
# fidelity-check.py compares each output (the bytes try --output writes)
# with its input: text of every part kept, signed and encrypted parts
# byte-identical, no line over 998 octets, header lines mlm writes folded
# at 78, encoded words within 75, the prefix once before the original
# Subject, the footer once in what a reader sees, only the list's own
# List-* fields, spelt as ours. The figures of the run are printed as
# "# fidelity: ..." lines. The checker is shown to find each kind of
# problem in outputs changed by hand. Then message:header() decodes the
# cases of GMime issue #133 right, mlm.encode_header() makes words of at
# most 75 characters, and an announce list says List-Post: NO.
#
# Environment: top_builddir (defaults to this repository), KEEP_TMP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"

command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlm-fidelity-test.XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
mkdir "$tmp/t"
export TMPDIR=$tmp/t
conf=$tmp/mlm.conf
mlm_db_new "$tmp" || exit 1
cat >"$conf" <<EOF
database = $MLM_DB
user =
policy = $top_srcdir/lua/policy.lua
lua_path = $top_srcdir/lua/lib
EOF
ctl() { "$CTL_BIN" -C "$conf" "$@"; }
CHECK="python3 $here/fidelity-check.py"
L=dev@example.org
ctl list create $L --posting open >/dev/null || t_fail "list create"
ctl list set $L footer $'-- \ndev list' >/dev/null || t_fail "list set footer"

# run_corpus PREFIX FILE...: one check per message.
run_corpus() {
    local prefix=$1 f name
    shift
    ctl list set $L subject_prefix "$prefix" >/dev/null || t_fail "set prefix"
    for f in "$@"; do
        name=${f#"$top_srcdir"/tests/}
        if ! ctl try --from alice@example.net --to $L --output "$tmp/msg" "$f" \
            >"$tmp/out" 2>"$tmp/err"; then
            t_fail "$prefix $name: try failed: $(tr '\n' '|' <"$tmp/err")"
            continue
        fi
        # the checker reads try's lines, an empty line and the message's
        # bytes (--output: not escaped for a terminal)
        { sed '/^$/q' "$tmp/out"; cat "$tmp/msg"; } >"$tmp/checked"
        if $CHECK "$f" "$tmp/checked" "$prefix" "dev list" "<mailto:$L>" >"$tmp/problems"; then
            t_ok "$prefix $name"
        else
            t_fail "$prefix $name: $(tr '\n' '|' <"$tmp/problems")"
        fi
    done
}

shapes=("$here"/fidelity/*.eml)
# MLM_FIDELITY_SAMPLE=N (the sanitizer pass of .ci/run): every Nth message
# of the two corpora, every issue-shaped one
sample=${MLM_FIDELITY_SAMPLE:-1} n=0
cpython=()
for f in "$top_srcdir"/tests/corpus/cpython-email/msg_*.txt; do
    n=$((n + 1))
    [ $((n % sample)) -eq 0 ] && cpython+=("$f")
done
# the footer writer's corpus, less deep-200.eml: nested past
# mime_max_depth, it is refused (tests/hostile/mime-limits.sh)
footers=()
for f in "$top_srcdir"/tests/unit/footer/*.eml; do
    n=$((n + 1))
    [ "${f##*/}" = deep-200.eml ] || [ $((n % sample)) -ne 0 ] || footers+=("$f")
done
export FIDELITY_TALLY=$tmp/tally
: >"$FIDELITY_TALLY"
run_corpus "[dev]" "${shapes[@]}" "${cpython[@]}" "${footers[@]}"
run_corpus "[dév]" "${shapes[@]}" "${cpython[@]}" "${footers[@]}"
unset FIDELITY_TALLY
# the figures: messages, properties checked, problems found
$CHECK --summary "$tmp/tally" | sed 's/^/# /'

# The checker finds what it is there to find: outputs of try changed by
# hand, each must be refused with the problem named.
# refused INPUT SED-SCRIPT PATTERN DESCRIPTION
refused() {
    ctl try --from alice@example.net --to $L --output "$tmp/msg" "$1" >"$tmp/out" 2>/dev/null
    { sed '/^$/q' "$tmp/out"; sed "$2" "$tmp/msg"; } >"$tmp/checked"
    if $CHECK "$1" "$tmp/checked" "[dév]" "dev list" "<mailto:$L>" >"$tmp/problems"; then
        t_fail "checker: $4: not found"
    elif grep -q -- "$3" "$tmp/problems"; then
        t_ok "checker: $4"
    else
        t_fail "checker: $4: $(tr '\n' '|' <"$tmp/problems")"
    fi
}
F=$here/fidelity
C=$top_srcdir/tests/corpus/cpython-email
refused "$F/signed.eml" 's/^Signed text with trailing spaces  =20$/Signed text with trailing spaces =20/' \
    'multipart/signed part changed' "a signed part changed"
refused "$C/msg_33.txt" 's/^Content-Type: text\/plain; charset\*=ansi-x3.4-1968.*$/&;x=y/' \
    'multipart/signed part changed' "a signed part with an RFC 2231 boundary changed"
refused "$F/smime-opaque.eml" '$s/AAAA==$/AAAB==/' 'pkcs7-mime part changed' \
    "an S/MIME part changed"
refused "$F/long-subject.eml" 's/^Subject: /&[dév] /' 'the prefix 2 times' "the prefix twice"
refused "$F/thunderbird-subject.eml" '/^ =?UTF-8?B?w4RsdGVy/d' 'Subject ' "a Subject cut short"
refused "$F/alternative.eml" 's/^dev list$/&\ndev list/' 'the footer 2 times' \
    "the footer twice in a part"
refused "$F/alternative.eml" '/^<p>-- <br>$/,/^dev list<\/p>$/d' 'the footer 0 times' \
    "the footer missing from one alternative"
refused "$F/foreign-list.eml" 's/^List-Id:/List-ID:/' 'List-Id spelt List-ID' \
    "a List-* field in another spelling"
refused "$F/foreign-list.eml" 's/^Precedence: list$/&\nList-Archive: <https:\/\/x.example\/>/' \
    'foreign header kept: list-archive' "another list's List-Archive"
refused "$F/flowed.eml" '/^program wrapped it.$/d' 'line lost' "a line of a part lost"
refused "$F/long-subject.eml" 's/^Subject: .*/&'"$(printf 'x%.0s' $(seq 1000))"'/' \
    'a line of' "a header line over 998"

# Shapes the checker does not see on its own.
ctl try "$here/fidelity/flowed.eml" >"$tmp/out" 2>/dev/null
t_check "format=flowed: the footer's \"-- \" keeps its space" grep -qx -- '-- ' "$tmp/out"
ctl try "$here/fidelity/part-without-empty-line.eml" >"$tmp/out" 2>/dev/null
t_check "a part with no empty line after its headers keeps its first line" \
    grep -qx 'first line of text right after the headers' "$tmp/out"
ctl try "$here/fidelity/thunderbird-subject.eml" >"$tmp/out" 2>/dev/null
t_check "a non-ASCII prefix is an encoded word of its own, the original words follow as they came" \
    grep -qx 'Subject: =?UTF-8?B?W2TDqXZdIA==?=' "$tmp/out"
t_check "... the original's first encoded word unchanged on the next line" \
    grep -qx ' =?UTF-8?B?w4RsdGVyZSBOYWNocmljaHQgbWl0IHNlaHIgbGFuZ2VtIEJldHJlZmYgdW5k?=' "$tmp/out"
t_check "List-Owner is ours" grep -qx 'List-Owner: <mailto:dev-owner@example.org>' "$tmp/out"

# message:header() decodes encoded words itself (GMime 3.2.13 issue #133).
cat >"$tmp/decode.lua" <<'EOF'
local mlm = require "mlm"
function filter_message(ctx)
  local s = ctx.message:header("Subject") or ""
  ctx:add_header("X-Decoded", s)
  ctx:add_header("X-Encoded", mlm.encode_header(s))
end
EOF
# decoded SUBJECT WANT DESCRIPTION
decoded() {
    printf 'From: a@example.net\nTo: dev@example.org\nSubject: %s\n\nx\n' "$1" >"$tmp/dec.eml"
    ctl try --policy "$tmp/decode.lua" "$tmp/dec.eml" >"$tmp/out" 2>"$tmp/err"
    local got
    got=$(sed -n '/^X-Decoded: /,/^[^ \t]/p' "$tmp/out" | sed '$d' | tr -d '\n')
    got=${got#X-Decoded: }
    if [ "$got" = "$2" ]; then t_ok "message:header: $3"
    else t_fail "message:header: $3: got '$got', want '$2'"; fi
}
decoded '=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?=' 'Hello world' \
    "adjacent B words, the first ending in padding (gmime #133)"
decoded '=?iso-8859-1?q?Jobbans=F6kan?= - duktig =?iso-8859-1?q?researcher=2Fomv=E4rldsbevakare=2Fomv=E4rldsan?= =?us-ascii?q?alytiker?=' \
    'Jobbansökan - duktig researcher/omvärldsbevakare/omvärldsanalytiker' \
    "Q words in two charsets, text between them kept (gmime's own test)"
decoded 'OT - ich =?iso-8859-1?b?d2Vp3yw=?= trotzdem' 'OT - ich weiß, trotzdem' \
    "a padded B word between text (gmime's own test)"
decoded "=?iso-8859-5?b?$(printf 'tra2%.0s' $(seq 13))?= =?iso-8859-5?b?$(printf 'tra2%.0s' $(seq 13))?= =?iso-8859-5?b?trY=?=" \
    "$(printf 'Ж%.0s' $(seq 80))" "three B words, the last padded (gmime's own test)"
decoded 'Re: !!! =?iso-8859-2?b?TmFi7XrtbSBzY2Fub3bhbu0gbmVnYXRpdvks?= =?iso-8859-2?q?_p=F8edloh_do_A4=2C_=E8=2Fb_lasertov=FD?= tisk a =?iso-8859-2?q?=E8=2Fb_inkoutov=FD?= tisk do A2!!!' \
    'Re: !!! Nabízím scanování negativů, předloh do A4, č/b lasertový tisk a č/b inkoutový tisk do A2!!!' \
    "a B word then Q words and text (gmime's own test)"
decoded '=?UTF-8?B?ww==?= =?UTF-8?B?hGx0ZXI=?=' 'Älter' \
    "a UTF-8 character split over two padded B words"
decoded 'Re: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?B?TcO8bmNoZW4=?=' \
    'Re: Grüße aus München' "text and words mixed, the spaces around words kept"
decoded '=?utf-8?q?a?=  =?utf-8?q?b?= c' 'ab c' "whitespace between two words is not text"
decoded '=?x-no-such-charset?q?abc?= d' 'abc d' "an unknown charset keeps its bytes"
decoded 'no =?words here' 'no =?words here' "an unfinished word is text"

# encoded TEXT DESCRIPTION: mlm.encode_header(TEXT) in words of at most 75,
# folded at 78 (the first word short enough to follow the name), decoding
# to TEXT.
encoded() {
    printf 'From: a@example.net\nTo: dev@example.org\nSubject: %s\n\nx\n' "$1" >"$tmp/dec.eml"
    ctl try --policy "$tmp/decode.lua" "$tmp/dec.eml" >"$tmp/out" 2>/dev/null
    python3 - "$tmp/out" "$1" >"$tmp/problems" <<'EOF'
import email, email.policy, re, sys
out = open(sys.argv[1], "rb").read()
msg = out[out.find(b"\n\n") + 2:]
block = msg[:msg.find(b"\n\n")]
m = re.search(rb"^X-Encoded:(.*(?:\n[ \t].*)*)", block, re.M)
value = m.group(1)
for w in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", value):
    if len(w) > 75:
        print("a word of", len(w))
for line in (b"X-Encoded:" + value).split(b"\n"):
    if len(line) > 78:
        print("a line of", len(line))
p = email.message_from_bytes(b"X-Encoded:" + value + b"\n\n", policy=email.policy.default)
if str(p["X-Encoded"]) != sys.argv[2]:
    print("decodes to", str(p["X-Encoded"]))
EOF
    t_check "mlm.encode_header: $2: words of at most 75, folded at 78, decoding to the text" \
        test ! -s "$tmp/problems"
    [ -s "$tmp/problems" ] && sed 's/^/# /' "$tmp/problems"
}
long=$(printf 'Ünïcödé %.0s' $(seq 40))
encoded "${long% }" "40 words"
encoded "$(printf 'Ü%.0s' $(seq 100))" "one word of 100 letters"
encoded "$(printf 'aé%.0s' $(seq 60))" "one word of 120 letters, half ASCII"
encoded "[dév] $(printf 'x%.0s' $(seq 90))é" "an ASCII run of 90 in a word"

# An announce list takes no posts from members: List-Post: NO.
A=news@example.org
ctl list create $A --posting announce >/dev/null || t_fail "announce list create"
ctl member add $A mod@example.net --role moderator >/dev/null || t_fail "moderator add"
ctl try --from mod@example.net --to $A "$here/fidelity/foreign-list.eml" >"$tmp/out" 2>"$tmp/err"
t_check "announce list: List-Post: NO (RFC 2369 3.4)" grep -qx 'List-Post: NO' "$tmp/out"
t_check "... and the post passes the checker" $CHECK "$here/fidelity/foreign-list.eml" \
    "$tmp/out" "" "dev list" "NO" "$A"

t_done
