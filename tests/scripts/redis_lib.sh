# redis_lib.sh: helpers for tests/scripts/test_redis*.sh (sourced; not a test by itself).
# Needs $bin (the brokerwatch binary) and $src (the source dir). Gives: a temporary directory
# ($tmp, removed at exit with every redis-server we started, stopped by PID), pass/fail counting,
# the shared test Redis (scripts/test exports BW_TEST_REDIS_HOST/PORT) or one of our own, our own
# instances on free loopback ports, and the bundled captures in time order.
BW_PROG=${0##*/}
. "$src/scripts/common.sh"

alerts_bin=$(dirname "$bin")/brokerwatch-alerts
check_py="$src/tests/scripts/redis_check.py"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }

skip() { echo "SKIPPED: $*"; exit 77; }

bw_tmpdir
tmp=$BW_TMP
bw_install_trap

command -v redis-server >/dev/null || skip "redis-server is not installed (apt-get install redis-server)"
[[ -x $alerts_bin ]] || { echo "FAIL: $alerts_bin not built"; exit 1; }

# rl_stream SENSOR: the alert stream of a sensor (docs/redis.md: every key carries {SENSOR}).
# RL_DEFAULT_STREAM: that of a run without --sensor-name (the host name).
rl_stream() { printf 'brokerwatch:{%s}:alerts' "$1"; }
RL_DEFAULT_STREAM=$(rl_stream "$(hostname)")

# rl_start_redis PIDVAR PORTVAR DIR [redis-server args...]: our own instance on a free port.
rl_start_redis() {
    local __pv=$1 __qv=$2 dir=$3 port pid
    shift 3
    port=$(bw_free_port 127.0.0.1)
    mkdir -p "$dir"
    bw_start_bg pid "$dir/redis.log" redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --daemonize no --save '' "$@"
    if ! bw_wait_listen "$port" 20 "$pid"; then
        tail -n 20 "$dir/redis.log"
        echo "FAIL: cannot start redis-server"
        exit 1
    fi
    printf -v "$__pv" '%s' "$pid"
    printf -v "$__qv" '%s' "$port"
}

# rl_restart_redis PORT DIR [args...]: start again on the same port (after a kill); PID in RL_PID.
rl_restart_redis() {
    local port=$1 dir=$2 pid
    shift 2
    mkdir -p "$dir"
    bw_start_bg pid "$dir/redis.log" redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --daemonize no --save '' "$@"
    bw_wait_listen "$port" 20 "$pid" || { echo "FAIL: cannot restart redis-server"; exit 1; }
    RL_PID=$pid
}

# rl_shared_redis: RHOST/RPORT of the shared test Redis, or of our own when run outside scripts/test.
rl_shared_redis() {
    if [[ -n ${BW_TEST_REDIS_PORT:-} ]]; then
        RHOST=${BW_TEST_REDIS_HOST:-127.0.0.1}
        RPORT=$BW_TEST_REDIS_PORT
        redis-cli -h "$RHOST" -p "$RPORT" ping >/dev/null 2>&1 ||
            skip "the test Redis at $RHOST:$RPORT does not answer"
    else
        local p
        rl_start_redis p RPORT "$tmp/shared-redis" --appendonly no
        RHOST=127.0.0.1
    fi
}

# rl_files [GLOB]: RL_FILES="-r f1 -r f2 ..." for pcaps/GLOB (default *.pcap) in the order of their
# first packet (one capture). RL_SPAN: seconds from the first to the last packet of them all;
# RL_PACE: the --pace that replays them in about 4.5 s.
rl_files() {
    local out
    out=$("$BW_PY" - "$src/pcaps" "${1:-*.pcap}" <<'EOF'
import glob, os, struct, sys
def times(p):
    """(first, last) packet time of a pcap or pcapng file, in seconds."""
    data = open(p, "rb").read()
    ts = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":                       # pcapng: EPB timestamps (usec)
        bo = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack(bo + "II", data[off:off + 8])
            if blen < 12:
                break
            if btype == 6:
                hi, lo = struct.unpack(bo + "II", data[off + 12:off + 20])
                ts.append(((hi << 32) | lo) / 1e6)
            off += blen
    else:
        magic = struct.unpack("<I", data[:4])[0]
        bo = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        nano = struct.unpack(bo + "I", data[:4])[0] == 0xa1b23c4d
        off = 24
        while off + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack(bo + "IIII", data[off:off + 16])
            ts.append(sec + frac / (1e9 if nano else 1e6))
            off += 16 + incl
    return (min(ts), max(ts)) if ts else (0.0, 0.0)
spans = {p: times(p) for p in glob.glob(os.path.join(sys.argv[1], sys.argv[2]))}
files = sorted(spans, key=lambda p: spans[p][0])
span = max(v[1] for v in spans.values()) - min(v[0] for v in spans.values())
print("%.3f %.3f" % (span, max(span / 4.5, 0.001)))
print(" ".join("-r " + p for p in files))
EOF
)
    read -r RL_SPAN RL_PACE <<<"$(head -1 <<<"$out")"
    RL_FILES=$(tail -1 <<<"$out")
}
