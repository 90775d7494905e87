#!/usr/bin/env bash
# test_redis_faults.sh: Redis that refuses, disappears, comes back, stalls. Wrong credentials, an
# unknown host or a missing database: one clear line and exit 1 (--redis-optional keeps running and
# spooling instead). redis-server killed in the middle of a paced replay, restarted, then stalled
# (DEBUG SLEEP): no alert lost, order kept, capture never waits. Redis down at start: records wait in
# memory and go out once it is up; with --spool they survive the exit and go first on the next start.
# Starts its own redis-server instances on free loopback ports and stops them by PID.
set -uo pipefail
bin=$1 src=$2
. "$src/tests/scripts/redis_lib.sh"

cap=$src/pcaps/mqtt_bruteforce.pcap
rl_files 'mqtt_*.pcap'       # about 40 s of capture, alerts all along
files=$RL_FILES
pace=$RL_PACE
one_line() {   # one_line FILE REGEX: FILE is exactly one line, matching REGEX
    [[ $(wc -l <"$1") -eq 1 ]] && grep -Eq -- "$2" "$1"
}

# ---- credentials -----------------------------------------------------------------------------
rl_start_redis a_pid a_port "$tmp/auth" --appendonly no --requirepass adminpw
redis-cli -p "$a_port" -a adminpw --no-auth-warning ACL SETUSER bwuser on '>bwpass' '~*' '&*' '+@all' >/dev/null
A=127.0.0.1:$a_port

"$bin" -r "$cap" --redis "redis://:wrong@$A" >"$tmp/out" 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && ok || bad "wrong password: exit $rc, want 1"
one_line "$tmp/err" "^brokerwatch: redis: Redis at $A refused the credentials" && ok || bad "wrong password message: $(cat "$tmp/err")"
grep -q wrong "$tmp/err" && bad "the password appears in the message" || ok
[[ ! -s $tmp/out ]] && ok || bad "wrong password: output written"

"$bin" -r "$cap" --redis "redis://bwuser:nope@$A" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && one_line "$tmp/err" "refused the credentials of user 'bwuser'" && ok || bad "wrong ACL password: exit $rc: $(cat "$tmp/err")"

"$bin" -r "$cap" --redis "redis://$A" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && one_line "$tmp/err" "requires a password" && ok || bad "no password: exit $rc: $(cat "$tmp/err")"

"$bin" -r "$cap" --redis "redis://no-such-host.invalid:6379" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && one_line "$tmp/err" "cannot resolve Redis host 'no-such-host.invalid'" && ok || bad "unknown host: exit $rc: $(cat "$tmp/err")"

"$bin" -r "$cap" --redis "redis://bwuser:bwpass@$A/99" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && one_line "$tmp/err" "cannot select database 99" && ok || bad "bad db: exit $rc: $(cat "$tmp/err")"

"$bin" -r "$cap" --redis "http://$A" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 2 ]] && one_line "$tmp/err" "redis://" && ok || bad "bad URL: exit $rc, want 2: $(cat "$tmp/err")"

want=$("$bin" -q -r "$cap" | grep -c '"event_type":"alert"')
# password from the environment; ACL user in the URL with its password from the environment
BROKERWATCH_REDIS_PASSWORD=adminpw "$bin" -q -r "$cap" --redis "redis://$A/1" 2>"$tmp/err" && ok || bad "env password: $(cat "$tmp/err")"
[[ $(redis-cli -p "$a_port" -a adminpw --no-auth-warning -n 1 xlen "$RL_DEFAULT_STREAM") -eq $want ]] && ok || bad "env password: alerts not all delivered"
BROKERWATCH_REDIS_PASSWORD=bwpass "$bin" -q -r "$cap" --redis "redis://bwuser@$A/2" 2>"$tmp/err" && ok || bad "ACL user + env password: $(cat "$tmp/err")"
[[ $(redis-cli -p "$a_port" -a adminpw --no-auth-warning -n 2 xlen "$RL_DEFAULT_STREAM") -eq $want ]] && ok || bad "ACL user: alerts not all delivered"

# --redis-optional: wrong password does not stop the run; records are spooled, then delivered
# (first) by the next run that has the right password.
"$bin" -r "$cap" --redis "redis://:wrong@$A/3" --redis-optional --spool "$tmp/opt-spool" -o "$tmp/opt.jsonl" 2>"$tmp/err"; rc=$?
[[ $rc -eq 0 ]] && ok || bad "--redis-optional: exit $rc: $(cat "$tmp/err")"
grep -q "refused the credentials.*--redis-optional: capture goes on" "$tmp/err" && ok || bad "--redis-optional warning: $(cat "$tmp/err")"
grep -q "$want alerts ([0-9]* records) remain spooled in $tmp/opt-spool, delivered first on the next start" "$tmp/err" && ok || bad "spooled line: $(cat "$tmp/err")"
"$bin" -r "$src/pcaps/mqtt_creds.pcap" --redis "redis://:adminpw@$A/3" --spool "$tmp/opt-spool" -o "$tmp/opt.jsonl" 2>"$tmp/err" && ok || bad "delivering the spool: $(cat "$tmp/err")"
if "$BW_PY" - "$a_port" "$tmp/opt.jsonl" "$RL_DEFAULT_STREAM" <<'EOF'; then ok; else bad "after --redis-optional: stream is not spooled-then-new in order"; fi
import subprocess, sys
# both runs appended to opt.jsonl: the stream must hold the same lines, spooled ones first
out = subprocess.run(["redis-cli", "-p", sys.argv[1], "-a", "adminpw", "--no-auth-warning", "-n", "3",
                      "--raw", "xrange", sys.argv[3], "-", "+"], capture_output=True, text=True).stdout
got = [l for l in out.split("\n") if l.startswith("{")]
want = [l.rstrip("\n") for l in open(sys.argv[2]) if '"event_type":"alert"' in l]
sys.exit(0 if got == want and got else 1)
EOF
[[ -z $(ls -A "$tmp/opt-spool") ]] && ok || bad "spool not cleared after delivery: $(ls -A "$tmp/opt-spool")"
bw_stop_pid "$a_pid"

# ---- killed, restarted and stalled during a paced replay -----------------------------------------
kdir=$tmp/kill
kargs=(--appendonly yes --appendfsync always --enable-debug-command yes)
rl_start_redis k_pid k_port "$kdir" "${kargs[@]}"
start=$(date +%s.%N)
# shellcheck disable=SC2086
bw_start_bg run_pid "$tmp/kill.err" "$bin" $files --pace "$pace" --sensor-name t-kill -o "$tmp/kill.jsonl" \
    --redis "redis://127.0.0.1:$k_port" --spool "$tmp/kill-spool"
sleep 1.5
bw_stop_pid "$k_pid" KILL                  # mid-run, without warning
sleep 1.5
rl_restart_redis "$k_port" "$kdir" "${kargs[@]}"
k_pid=$RL_PID
sleep 0.5
redis-cli -p "$k_port" DEBUG SLEEP 1.5 >/dev/null   # then slow: 1.5 s without an answer
for _ in $(seq 200); do bw_alive "$run_pid" || break; sleep 0.1; done
wait "$run_pid"; rc=$?
end=$(date +%s.%N)
[[ $rc -eq 0 ]] && ok || bad "paced replay with a Redis restart: exit $rc: $(cat "$tmp/kill.err")"
grep -q "lost the connection to 127.0.0.1:$k_port" "$tmp/kill.err" && ok || bad "no line about the lost connection: $(cat "$tmp/kill.err")"
grep -q "connected to 127.0.0.1:$k_port again" "$tmp/kill.err" && ok || bad "no line about the reconnection: $(cat "$tmp/kill.err")"
"$BW_PY" "$check_py" stream-vs-jsonl 127.0.0.1 "$k_port" 0 "$(rl_stream t-kill)" "$tmp/kill.jsonl" && ok ||
    bad "after kill/restart/stall the stream differs from the JSONL sink (lost, duplicated or reordered)"
# The capture is paced to last 4.5 s; Redis being away and slow must not slow it down.
awk -v s="$start" -v e="$end" 'BEGIN { exit !(e - s < 7.5) }' && ok || bad "the replay took $(awk -v s="$start" -v e="$end" 'BEGIN{print e-s}') s: capture waited for Redis"
[[ -z $(ls -A "$tmp/kill-spool" 2>/dev/null) ]] && ok || bad "spool left behind after full delivery"
bw_stop_pid "$k_pid"

# ---- down at start, no spool: records wait in memory and go out once Redis is up --------------
d_port=$(bw_free_port 127.0.0.1)
# shellcheck disable=SC2086
bw_start_bg run_pid "$tmp/down.err" "$bin" $files --pace "$pace" --sensor-name t-down -o "$tmp/down.jsonl" \
    --redis "redis://127.0.0.1:$d_port"
sleep 1.2
rl_restart_redis "$d_port" "$tmp/down" --appendonly no
d_pid=$RL_PID
for _ in $(seq 200); do bw_alive "$run_pid" || break; sleep 0.1; done
wait "$run_pid"; rc=$?
[[ $rc -eq 0 ]] && ok || bad "Redis down at start: exit $rc: $(cat "$tmp/down.err")"
grep -q "cannot connect to Redis at 127.0.0.1:$d_port.*capture goes on" "$tmp/down.err" && ok || bad "down-at-start warning: $(cat "$tmp/down.err")"
"$BW_PY" "$check_py" stream-vs-jsonl 127.0.0.1 "$d_port" 0 "$(rl_stream t-down)" "$tmp/down.jsonl" && ok || bad "down at start: stream differs"
bw_stop_pid "$d_pid"

# ---- down for the whole run: with --spool they wait on disk; without, the loss is an error ------
n_port=$(bw_free_port 127.0.0.1)
"$bin" -r "$cap" --redis "redis://127.0.0.1:$n_port" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "could not be delivered to 127.0.0.1:$n_port nor kept (no --spool)" "$tmp/err" && ok ||
    bad "Redis never up, no spool: exit $rc: $(cat "$tmp/err")"
"$bin" -q -r "$cap" --redis "redis://127.0.0.1:$n_port" --spool "$tmp/sp" -o "$tmp/sp1.jsonl" 2>"$tmp/err"; rc=$?
[[ $rc -eq 0 ]] && ok || bad "Redis never up, spool: exit $rc: $(cat "$tmp/err")"
one_line "$tmp/err" "^brokerwatch: redis: 0 alerts delivered .* $want alerts \([0-9]+ records\) remain spooled in $tmp/sp, delivered first" && ok ||
    bad "-q still says what stays spooled, in one line: $(cat "$tmp/err")"
rl_restart_redis "$n_port" "$tmp/n" --appendonly no
n_pid=$RL_PID
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" --redis "redis://127.0.0.1:$n_port" --spool "$tmp/sp" -o "$tmp/sp1.jsonl" 2>"$tmp/err" && ok || bad "second start: $(cat "$tmp/err")"
"$BW_PY" "$check_py" stream-vs-jsonl 127.0.0.1 "$n_port" 0 "$RL_DEFAULT_STREAM" "$tmp/sp1.jsonl" && ok || bad "spooled alerts not first, or not all"
bw_stop_pid "$n_pid"

finish
