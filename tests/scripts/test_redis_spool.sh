#!/usr/bin/env bash
# test_redis_spool.sh: a full disk under --spool is reported, never silent. On a tiny tmpfs the test
# mounts (root; skipped with exit 77 where mounting is not allowed): with Redis down for the whole
# run, one line says the spool cannot be written and why, the exit line counts the alerts that could
# be neither delivered nor spooled (exit 1), and spooled + lost = all; with Redis coming back during
# the run, what the full spool could not take waits in memory and everything arrives, in order; a
# spool directory that cannot be created stops the start with one line.
set -uo pipefail
bin=$1 src=$2
. "$src/tests/scripts/redis_lib.sh"

((EUID == 0)) || skip "mounting a small tmpfs for the full-disk case needs root"
mnt=$tmp/full
mkdir -p "$mnt"
mount -t tmpfs -o size=16k,mode=0700 tmpfs "$mnt" 2>"$tmp/mount.err" ||
    skip "cannot mount a tmpfs here ($(cat "$tmp/mount.err")); the full-disk case needs it"
cleanup() { umount "$mnt" 2>/dev/null; bw_cleanup; }
trap cleanup EXIT

rl_files 'mqtt_*.pcap'
files=$RL_FILES
pace=$RL_PACE
# shellcheck disable=SC2086
total=$("$bin" -q $files | grep -c '"event_type":"alert"')

# ---- Redis down all along: the disk fills, the loss is counted and said ---------------------------
down=$(bw_free_port 127.0.0.1)
# shellcheck disable=SC2086
"$bin" $files --redis "redis://127.0.0.1:$down" --spool "$mnt/spool" -o /dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 ]] && ok || bad "full spool, Redis down: exit $rc, want 1: $(cat "$tmp/err")"
[[ $(grep -c "cannot write to spool $mnt/spool: No space left on device" "$tmp/err") -eq 1 ]] && ok ||
    bad "the full disk must be said exactly once: $(cat "$tmp/err")"
spooled=$(sed -n 's/.* \([0-9]*\) alerts ([0-9]* records) remain spooled in .*/\1/p' "$tmp/err")
lost=$(sed -n 's/^brokerwatch: redis: \([0-9]*\) alerts ([0-9]* records) could not be delivered to .* nor spooled.*/\1/p' "$tmp/err")
[[ -n $spooled && -n $lost && $lost -gt 0 && $((spooled + lost)) -eq $total ]] && ok ||
    bad "spooled ($spooled) + lost ($lost) should be all $total alerts: $(cat "$tmp/err")"
# What made it to disk is whole and delivered first by the next start (the disk still full).
rl_restart_redis "$down" "$tmp/r1" --appendonly no
r1=$RL_PID
"$bin" -q -r "$src/pcaps/mqtt_creds.pcap" --redis "redis://127.0.0.1:$down" --spool "$mnt/spool" -o /dev/null 2>"$tmp/err" && ok ||
    bad "delivering a spool from a full disk: $(cat "$tmp/err")"
creds=$("$bin" -q -r "$src/pcaps/mqtt_creds.pcap" | grep -c '"event_type":"alert"')
[[ $(redis-cli -p "$down" xlen "$RL_DEFAULT_STREAM") -eq $((spooled + creds)) ]] && ok || bad "spooled alerts not delivered"
[[ -z $(ls -A "$mnt/spool") ]] && ok || bad "spool not cleared: $(ls -A "$mnt/spool")"
bw_stop_pid "$r1"

# ---- the disk full before the start, Redis back during the run: nothing lost, order kept -------
dd if=/dev/zero of="$mnt/filler" bs=1k count=64 2>/dev/null    # fills the tmpfs (size=16k)
port=$(bw_free_port 127.0.0.1)
# shellcheck disable=SC2086
bw_start_bg run_pid "$tmp/run.err" "$bin" $files --pace "$pace" -o "$tmp/run.jsonl" \
    --redis "redis://127.0.0.1:$port" --spool "$mnt/spool2"
# Redis comes back once the sensor has tried the full spool (at most 4 s into the 4.5 s replay;
# a fixed wait was too short on a loaded machine, where no alert had been decided yet).
for _ in $(seq 40); do
    grep -q "cannot write to spool" "$tmp/run.err" 2>/dev/null && break
    bw_alive "$run_pid" || break
    sleep 0.1
done
rl_restart_redis "$port" "$tmp/r2" --appendonly no
r2=$RL_PID
for _ in $(seq 200); do bw_alive "$run_pid" || break; sleep 0.1; done
wait "$run_pid"; rc=$?
[[ $rc -eq 0 ]] && ok || bad "full disk, Redis back: exit $rc: $(cat "$tmp/run.err")"
[[ $(grep -c "cannot write to spool $mnt/spool2: No space left on device" "$tmp/run.err") -eq 1 ]] && ok ||
    bad "full disk at start not said once: $(cat "$tmp/run.err")"
"$BW_PY" "$check_py" stream-vs-jsonl 127.0.0.1 "$port" 0 "$RL_DEFAULT_STREAM" "$tmp/run.jsonl" && ok ||
    bad "with a full spool, alerts kept in memory were lost or reordered"
bw_stop_pid "$r2"
rm -f "$mnt/filler"

# ---- a spool directory that cannot be made: one line at start, exit 1 ---------------------------
"$bin" -r "$src/pcaps/mqtt_creds.pcap" --redis "redis://127.0.0.1:$down" --spool "$tmp/no/such/dir" >/dev/null 2>"$tmp/err"; rc=$?
[[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -q "cannot create spool directory '$tmp/no/such/dir'" "$tmp/err" && ok ||
    bad "bad spool dir: exit $rc: $(cat "$tmp/err")"

finish
