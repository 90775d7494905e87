#!/usr/bin/env bash
# test_cli.sh: the command line as a user meets it: exit statuses, one-line errors that name the
# file and the cause, alerts kept when a capture is cut short, stdin, BPF filters, several files.
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() { local want=$1; shift; "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?; [[ $rc -eq $want ]] && ok || bad "$* -> exit $rc, want $want: $(cat "$tmp/err")"; }
one_line_err() { [[ $(wc -l <"$tmp/err") -eq 1 ]] && grep -q -- "$1" "$tmp/err" && ok || bad "stderr should be one line containing '$1': $(cat "$tmp/err")"; }

cap=$src/pcaps/mqtt_bruteforce.pcap

expect_rc 0 "$bin" --help;            grep -q "Usage: brokerwatch" "$tmp/out" && ok || bad "--help text"
cp "$tmp/out" "$tmp/help"
expect_rc 0 "$bin" --version;         grep -q "^brokerwatch [0-9]" "$tmp/out" && ok || bad "--version text"
expect_rc 2 "$bin";                   one_line_err "no input"
expect_rc 2 "$bin" -r "$cap" --frobnicate;  one_line_err "unknown option '--frobnicate'"
expect_rc 2 "$bin" -r "$cap" --max-flows x; one_line_err "max-flows"
expect_rc 1 "$bin" -r "$tmp/missing.pcap";  one_line_err "missing.pcap.*No such file"
printf 'this is not a capture\n' >"$tmp/text.pcap"
expect_rc 1 "$bin" -r "$tmp/text.pcap";     one_line_err "text.pcap"
expect_rc 1 "$bin" -r "$cap" 'tcp port port'; one_line_err "filter"
expect_rc 1 "$bin" -r "$cap" -o /nonexistent-dir/x.jsonl; one_line_err "/nonexistent-dir/x.jsonl"

# A capture cut in the middle of a packet: exit 1, one line naming the file, and the alerts
# found before the cut are written.
full=$("$bin" -q -r "$cap" | grep -c '"event_type":"alert"')
size=$(stat -c %s "$cap")
head -c $((size * 2 / 3)) "$cap" >"$tmp/cut.pcap"
"$bin" -q -r "$tmp/cut.pcap" >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && ok || bad "truncated capture: exit $rc, want 1"
one_line_err "cut.pcap"
got=$(grep -c '"event_type":"alert"' "$tmp/out")
[[ $got -gt 0 && $got -le $full ]] && ok || bad "truncated capture: $got alerts written (full capture: $full)"
/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out" && ok || bad "output is not JSON lines"

# stdin, and a BPF filter that removes everything
"$bin" -q -r - <"$cap" >"$tmp/stdin.jsonl" 2>"$tmp/err" && ok || bad "-r - failed: $(cat "$tmp/err")"
[[ $(grep -c '"event_type":"alert"' "$tmp/stdin.jsonl") -eq $full ]] && ok || bad "stdin gives other alerts"
"$bin" -q -r "$cap" tcp port 9 >"$tmp/none.jsonl" && ok || bad "filtered run failed"
[[ ! -s $tmp/none.jsonl ]] && ok || bad "BPF filter did not filter"
# two files are one capture, in order; -o appends to a file
"$bin" -q -r "$cap" -r "$src/pcaps/mqtt_creds.pcap" -o "$tmp/two.jsonl" && ok || bad "two files"
want=$(( full + $("$bin" -q -r "$src/pcaps/mqtt_creds.pcap" | grep -c '"event_type":"alert"') ))
[[ $(grep -c '"event_type":"alert"' "$tmp/two.jsonl") -eq $want ]] && ok || bad "two files: alert count"
# -v prints the counters as one JSON line at exit
"$bin" -q -v -r "$cap" >/dev/null 2>"$tmp/err"
grep -q '"event_type":"stats"' "$tmp/err" && ok || bad "-v counters"

# The progress line: on a terminal only (script(1) gives one), erased at the end; never in a file.
"$bin" -r "$src/pcaps/amqp10_plain_fail.pcap" --pace 4 -o /dev/null 2>"$tmp/err"
grep -q $'\r\\[' "$tmp/err" && bad "progress line written to a file" || ok
if command -v script >/dev/null; then
    script -qc "'$bin' -r '$src/pcaps/amqp10_plain_fail.pcap' --pace 4 -o /dev/null" "$tmp/tty" >/dev/null 2>&1
    grep -q '% ' "$tmp/tty" && grep -q $'\e\\[K' "$tmp/tty" && ok || bad "no progress line on a terminal"
    script -qc "'$bin' -q -r '$src/pcaps/amqp10_plain_fail.pcap' --pace 4 -o /dev/null" "$tmp/tty" >/dev/null 2>&1
    grep -q '% ' "$tmp/tty" && bad "progress line despite -q" || ok
fi

# tcpdump habits: -n/-nn accepted, -c N stops after N packets, -s 0, a capture without its -r.
expect_rc 0 "$bin" -q -n -r "$cap" -o /dev/null
expect_rc 0 "$bin" -q -nn -r "$cap" -o /dev/null
"$bin" -q -v -c 7 -r "$cap" -o /dev/null 2>"$tmp/err"
grep -q '"capture":{"packets":7,' "$tmp/err" && ok || bad "-c 7 did not stop after 7 packets: $(cat "$tmp/err")"
"$bin" -q -v -r "$cap" -o /dev/null 2>"$tmp/all.err"
"$bin" -q -v -c 100000 -r "$cap" -o /dev/null 2>"$tmp/err"
all=$(grep -o '"capture":{"packets":[0-9]*,' "$tmp/all.err")
[[ -n $all ]] && grep -qF "$all" "$tmp/err" && ok || bad "-c larger than the capture should read it all: $(cat "$tmp/err")"
expect_rc 2 "$bin" -r "$cap" -c 0;          one_line_err "-c wants a packet count"
expect_rc 2 "$bin" -i lo -s 63;             one_line_err "or 0 for the maximum"
expect_rc 2 "$bin" -r "$cap" "$src/pcaps/mqtt_creds.pcap"; one_line_err "mqtt_creds.pcap' is a file, not a filter expression: give each capture its own -r"
expect_rc 2 "$bin" -r "$cap" tcp port 1883 "$src/pcaps/mqtt_creds.pcap"; one_line_err "give each capture its own -r"
# filter words stay filter words even when a file of that name exists here
(cd "$tmp" && touch port && "$bin" -q -r "$cap" tcp port 1883 -o /dev/null) && ok || bad "'port' taken for a file"
expect_rc 2 "$bin" -r "$cap" --report-interval 60; one_line_err "applies to live capture"
expect_rc 2 "$bin" -r "$cap" --sandbox maybe;      one_line_err "--sandbox wants kill, log or off"
# -D lists interfaces (tcpdump's shape); lo is always there
if "$bin" -D >"$tmp/out" 2>"$tmp/err"; then
    grep -Eq '^[0-9]+\.lo .*Loopback' "$tmp/out" && ok || bad "-D does not list lo: $(cat "$tmp/out")"
else
    ((EUID == 0)) && bad "-D failed as root: $(cat "$tmp/err")" || ok
fi

# -v: counters at exit; -vv: more (every stats record on stderr); -vvv refused; --help says so.
grep -q -- "-vv also prints" "$tmp/help" && ok || bad "--help does not say what -vv adds"
"$bin" -v -q -r "$cap" --stats-interval 1 -o /dev/null 2>"$tmp/v1"
"$bin" -vv -q -r "$cap" --stats-interval 1 -o /dev/null 2>"$tmp/v2"
n1=$(grep -c '"event_type":"stats"' "$tmp/v1") n2=$(grep -c '"event_type":"stats"' "$tmp/v2")
[[ $n1 -eq 1 && $n2 -gt 1 ]] && ok || bad "-vv should print more stats records than -v ($n2 vs $n1)"
expect_rc 2 "$bin" -vvv -r "$cap";          one_line_err "-v at most twice"

# --stats-interval: records in the JSON lines, by packet time when reading files (this replay
# takes milliseconds of wall time but spans over a second of packet time).
"$bin" -q -r "$cap" --stats-interval 1 -o "$tmp/st.jsonl"
nst=$(grep -c '"event_type":"stats"' "$tmp/st.jsonl")
[[ $nst -ge 1 ]] && ok || bad "--stats-interval 1: no stats record in the JSON lines"
"$bin" -q -r "$cap" --stats-interval 0 -o "$tmp/st0.jsonl"
[[ $(grep -c '"event_type":"stats"' "$tmp/st0.jsonl") -eq 0 ]] && ok || bad "--stats-interval 0 still writes stats"
[[ $(grep -c '"event_type":"stats"' "$tmp/none.jsonl") -eq 0 ]] && ok || bad "default interval: a stats record in a short replay"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
