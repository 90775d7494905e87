#!/usr/bin/env bash
# test_demo.sh: scripts/demo (with the binary under test, into a temporary directory) runs to the
# end, shows the alerts and the exposure report, writes the HTML report and ends by saying where.
set -uo pipefail
bin=$1 src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bw-demo.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
BW_DEMO_BIN=$bin BW_DEMO_OUT=$tmp/out "$src/scripts/demo" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: scripts/demo exit $rc: $(tail -5 "$tmp/stderr")"; fail=1; }
last=$(tail -n 1 "$tmp/stdout")
[[ $last == "HTML report (one self-contained page, docs/report.md): file://$tmp/out/demo-report.html" ]] ||
    { echo "FAIL: last line: $last"; fail=1; }
head -c 15 "$tmp/out/demo-report.html" | grep -q '<!DOCTYPE html>' || { echo "FAIL: no HTML report"; fail=1; }
grep -q '^Totals: ' "$tmp/stdout" || { echo "FAIL: the exposure report is not shown"; fail=1; }
grep -Eq '^ +[0-9]+  default_credentials +\(critical\)$' "$tmp/stdout" || { echo "FAIL: no counts by kind"; fail=1; }
[[ $fail -eq 0 ]] && echo "demo: ok"
exit $fail
