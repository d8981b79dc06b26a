#!/bin/sh
# A stand-in for sendmail in tests: stores each message (with its command
# line as the first line) in $FAKE_SENDMAIL_DIR, or in /tmp.
dir=${FAKE_SENDMAIL_DIR:-/tmp}
f=$(mktemp "$dir/sent.XXXXXX")
echo "ARGS: $*" >"$f"
cat >>"$f"
exit 0
