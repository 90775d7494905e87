# scripts/common.sh: helpers sourced by scripts/test, scripts/demo and scripts/make-pcaps.
# Owns: Debian package installs, free loopback ports, background servers started and
# stopped by PID, capture helpers for make-pcaps. Never kills anything it did not start.
# Source it from bash: `. "$(dirname "$0")/common.sh"`.

BW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian's interpreter, with Debian's modules (python3-paho-mqtt); another python3 may be
# first on PATH.
BW_PY=/usr/bin/python3

# What building and testing the sensor needs (chromium and a font: the HTML report is rendered
# headless by tests/scripts/test_report_html.sh; mandoc, systemd, dpkg-dev and logrotate: the man
# pages, the unit and the package are checked by test_install.sh and test_package.sh; tshark: it
# reads back the evidence captures (test_evidence.sh) and the certificates (eve_types.py); dbus:
# a private bus whose libpcap capture is an interface of a link type the sensor refuses).
BW_BUILD_PKGS=(tcpreplay cmake gcc clang libclang-rt-14-dev pkg-config libpcap-dev libndpi-dev libgcrypt20-dev
               libhiredis-dev libssl-dev libjansson-dev libcap-ng-dev libseccomp-dev python3 iproute2
               tcpdump redis-server chromium fonts-dejavu-core mandoc systemd dpkg-dev logrotate
               util-linux dbus tshark)

bw_log() { printf '%s: %s\n' "${BW_PROG:-${0##*/}}" "$*" >&2; }
bw_die() { bw_log "error: $*"; exit 1; }

# bw_need_pkgs PKG...: install the Debian packages that are not installed yet.
# Runs `apt-get update` at most once per process and only when something is missing.
BW_APT_UPDATED=${BW_APT_UPDATED:-0}
bw_need_pkgs() {
    local missing=() p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) || st=
        [[ $st == ii* ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if ((EUID != 0)); then
        bw_log "error: missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
        return 1
    fi
    bw_log "installing Debian packages: ${missing[*]}"
    local log
    log=$(mktemp /tmp/bw-apt.XXXXXX.log)
    if ((BW_APT_UPDATED == 0)); then
        if ! DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1; then
            bw_log "error: apt-get update failed, cannot install ${missing[*]} (see $log)"
            return 1
        fi
        BW_APT_UPDATED=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >"$log" 2>&1; then
        bw_log "error: apt-get install failed for ${missing[*]} (see $log)"
        return 1
    fi
    rm -f "$log"
}

# bw_tmpdir: create one temporary directory for this process (BW_TMP), removed at exit
# by bw_cleanup.
bw_tmpdir() {
    if [[ -z ${BW_TMP:-} ]]; then
        BW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/brokerwatch.XXXXXX") || bw_die "mktemp failed"
    fi
}

# Background processes started through bw_start_bg, stopped in reverse order by bw_stop_all.
BW_PIDS=()

# bw_start_bg VAR LOGFILE CMD...: run CMD in the background with stdout+stderr to LOGFILE;
# store its PID in VAR and remember it for bw_stop_all.
bw_start_bg() {
    local __var=$1 __log=$2
    shift 2
    "$@" >"$__log" 2>&1 </dev/null &
    local __pid=$!
    BW_PIDS+=("$__pid")
    printf -v "$__var" '%s' "$__pid"
}

# bw_alive PID: true while PID runs (a zombie waiting to be reaped counts as gone).
bw_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    read -r st <"/proc/$1/stat" 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
}

# bw_stop_pid PID [SIGNAL]: signal one process we started (TERM by default), wait up to
# 10 s for it to exit, then KILL it. Returns 0 once it is gone.
bw_stop_pid() {
    local pid=$1 sig=${2:-TERM} i
    [[ -n $pid ]] || return 0
    if bw_alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            bw_alive "$pid" || break
            sleep 0.1
        done
    fi
    if bw_alive "$pid"; then
        bw_log "pid $pid did not exit on SIG$sig; sending KILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    local p kept=()
    for p in "${BW_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    BW_PIDS=("${kept[@]}")
    return 0
}

bw_stop_all() {
    local i
    for ((i = ${#BW_PIDS[@]} - 1; i >= 0; i--)); do
        bw_stop_pid "${BW_PIDS[i]}"
    done
    BW_PIDS=()
}

# bw_cleanup: the EXIT trap. Stops every process we started, removes BW_TMP.
bw_cleanup() {
    local rc=$?
    bw_stop_all
    if [[ -n ${BW_TMP:-} && -d $BW_TMP && ${BW_KEEP_TMP:-0} != 1 ]]; then
        rm -rf "$BW_TMP"
    fi
    return "$rc"
}
bw_install_trap() {
    trap bw_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# bw_free_port [HOST]: print a TCP port nobody listens on at HOST (default 127.0.0.1).
bw_free_port() {
    "$BW_PY" - "${1:-127.0.0.1}" <<'EOF'
import socket, sys
host = sys.argv[1]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.bind((host, 0))
print(s.getsockname()[1])
s.close()
EOF
}

# bw_wait_listen PORT [SECONDS] [PID]: wait until a TCP socket listens on PORT (checked
# with ss, so no connection is made, and none shows up in a capture). If PID is given
# and that process exits first, fail at once.
bw_wait_listen() {
    local port=$1 secs=${2:-20} pid=${3:-} i
    for ((i = 0; i < secs * 10; i++)); do
        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        if [[ -n $pid ]] && ! bw_alive "$pid"; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# bw_wait_grep FILE REGEX [SECONDS]: wait until FILE contains a line matching REGEX.
bw_wait_grep() {
    local file=$1 re=$2 secs=${3:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---- capture helpers for scripts/make-pcaps and scripts/pcaps/*.sh ----------------------

# bw_ns_lo_setup: inside a fresh network namespace, bring lo up with Ethernet-sized
# segments (MTU 1500, no 64 KiB GSO super-segments), so captures look like a real link.
bw_ns_lo_setup() {
    ip link set lo up mtu 1500 || return 1
    ip link set lo gso_max_size 1500 gso_max_segs 1 2>/dev/null ||
        ip link set lo gso_max_size 1500 2>/dev/null ||
        bw_log "warning: cannot lower gso_max_size on lo; segments may be large"
    ethtool -K lo tso off gso off >/dev/null 2>&1 || true
}

# bw_capture_start FILE [BPF...]: start tcpdump on lo writing FILE, wait until it listens.
# Sets BW_TCPDUMP_PID.
bw_capture_start() {
    local file=$1
    shift
    local log="$file.tcpdump.log"
    # -B: in immediate mode each ring slot holds a whole snaplen (256 KiB), so the default 2 MiB
    # buffer has 8 of them and a burst of segments (a 24 KiB certificate chain) on a busy
    # machine loses some; 64 MiB holds 256.
    bw_start_bg BW_TCPDUMP_PID "$log" \
        tcpdump -i lo -n -U --immediate-mode -B 65536 -w "$file" "$@"
    if ! bw_wait_grep "$log" 'listening on' 10; then
        cat "$log" >&2
        bw_log "error: tcpdump did not start"
        return 1
    fi
}

# bw_capture_stop: let the last packets (FIN, ACK) reach tcpdump, then stop it by PID
# (TERM: background jobs of a script ignore INT; tcpdump flushes its file on TERM).
bw_capture_stop() {
    sleep 0.5
    bw_stop_pid "$BW_TCPDUMP_PID" TERM
    BW_TCPDUMP_PID=
}
