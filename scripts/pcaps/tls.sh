# scripts/pcaps/tls.sh: TLS captures for scripts/make-pcaps (sourced; defines and registers
# cases, runs nothing by itself). Brokers: Debian's mosquitto 2.0 with TLS listeners and
# rabbitmq-server's TLS listener; clients: mosquitto_pub and tls_client.py (Python's ssl
# module: SNI, ALPN, version bounds and OpenSSL's security level under control). Certificates
# are made in each case's private work directory with the openssl command: a CA and a server
# certificate for broker.example (RSA 2048, SHA-256, valid for 825 days from now), and for the
# weak cases a self-signed, expired (2020) RSA 1024 / SHA-1 one; for the long chain a leaf
# with 600 names under three issuing CAs. No password crosses the wire
# in the clear here: the sessions are anonymous, or inside TLS (RabbitMQ's guest).
# What each capture shows: pcaps/README.md.

TLS_PKGS="mosquitto mosquitto-clients openssl python3 tcpdump iproute2"
TLS_RABBIT_PKGS="rabbitmq-server openssl python3 tcpdump iproute2"

# tls_good_certs: ./ca.{key,crt} and ./server.{key,crt} (CN broker.example; SAN broker.example,
# localhost, 127.0.0.1), RSA 2048 signed with SHA-256, valid now.
tls_good_certs() {
    {
        openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 -keyout ca.key -out ca.crt \
            -subj "/C=DE/O=brokerwatch test/CN=brokerwatch test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
            openssl req -newkey rsa:2048 -sha256 -nodes -keyout server.key -out server.csr \
                -subj "/C=DE/O=brokerwatch test/CN=broker.example" &&
            printf '%s\n' "subjectAltName=DNS:broker.example,DNS:localhost,IP:127.0.0.1" \
                "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >server.ext &&
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
                -days 825 -extfile server.ext -out server.crt
    } >certs.log 2>&1 || { cat certs.log >&2; bw_log "cannot make the certificates"; return 1; }
}

# tls_weak_cert: ./weak.{key,crt}: self-signed, RSA 1024, SHA-1, valid only during 2020
# (`openssl ca` is the one command of OpenSSL 3.0 that sets both validity dates).
tls_weak_cert() {
    mkdir -p weakca/newcerts && : >weakca/index.txt && echo 01 >weakca/serial || return 1
    cat >weakca.cnf <<'EOF'
[ ca ]
default_ca = weak
[ weak ]
dir = weakca
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha1
policy = anything
unique_subject = no
[ anything ]
countryName = optional
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
C = DE
O = brokerwatch test
CN = old-broker.example
EOF
    {
        openssl genrsa -out weak.key 1024 &&
            openssl req -new -key weak.key -sha1 -config weakca.cnf -out weak.csr &&
            openssl ca -batch -config weakca.cnf -selfsign -keyfile weak.key -in weak.csr \
                -startdate 20200101000000Z -enddate 20210101000000Z -md sha1 -notext -out weak.crt
    } >weakcert.log 2>&1 || { cat weakcert.log >&2; bw_log "cannot make the weak certificate"; return 1; }
}

# tls_long_chain_certs: ./chain.pem for the broker (leaf, then issuing CAs 3, 2, 1) and
# ./leaf.key, every name under O=brokerwatch.test. A root CA signs CA 1, which signs CA 2, which
# signs CA 3, which signs the leaf: CN=broker.example with 600 DNS names besides broker.example,
# localhost and 127.0.0.1 (about 20 KiB of DER by itself: the Certificate message spans two TLS
# records), RSA 2048 / SHA-256, valid only during 2021 (`openssl ca` sets both dates), so
# expired at capture time.
tls_long_chain_certs() {
    mkdir -p chainca/newcerts && : >chainca/index.txt && echo 10 >chainca/serial || return 1
    cat >chainca.cnf <<'EOF2'
[ ca ]
default_ca = issuing
[ issuing ]
dir = chainca
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
countryName = optional
organizationName = optional
commonName = supplied
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
EOF2
    {
        printf '%s\n' "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >leaf.ext
        printf 'subjectAltName=DNS:broker.example,DNS:localhost,IP:127.0.0.1' >>leaf.ext
        local i
        for ((i = 0; i < 600; i++)); do printf ',DNS:host-%04d.line-%d.plant.example' "$i" $((i % 9)); done >>leaf.ext
        echo >>leaf.ext
        openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 -keyout root.key -out root.crt \
            -subj "/C=DE/O=brokerwatch.test/CN=root-ca.brokerwatch.test" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
            local up=root n
        for n in 1 2 3; do
            openssl req -newkey rsa:2048 -sha256 -nodes -keyout "ca$n.key" -out "ca$n.csr" \
                -subj "/C=DE/O=brokerwatch.test/CN=issuing-ca-$n.brokerwatch.test" &&
                openssl x509 -req -in "ca$n.csr" -CA "$up.crt" -CAkey "$up.key" -CAcreateserial \
                    -sha256 -days 3650 -extfile chainca.cnf -extensions v3_ca -out "ca$n.crt" || return 1
            up=ca$n
        done
        openssl req -newkey rsa:2048 -sha256 -nodes -keyout leaf.key -out leaf.csr \
            -subj "/C=DE/O=brokerwatch.test/CN=broker.example" &&
            openssl ca -batch -config chainca.cnf -cert ca3.crt -keyfile ca3.key -in leaf.csr \
                -startdate 20210101000000Z -enddate 20220101000000Z -md sha256 -extfile leaf.ext \
                -notext -out leaf.crt &&
            cat leaf.crt ca3.crt ca2.crt ca1.crt >chain.pem
    } >chaincerts.log 2>&1 || { cat chaincerts.log >&2; bw_log "cannot make the long chain"; return 1; }
}

# OpenSSL configuration that lets both ends use TLS 1.0/1.1, 1024-bit RSA and SHA-1 (security
# level 0); Debian's default is level 2. Only the processes given OPENSSL_CONF see it.
tls_seclevel0_conf() {
    cat >seclevel0.cnf <<'EOF'
openssl_conf = openssl_init
[ openssl_init ]
ssl_conf = ssl_sect
[ ssl_sect ]
system_default = system_default_sect
[ system_default_sect ]
CipherString = DEFAULT:@SECLEVEL=0
MinProtocol = TLSv1
EOF
}

# OpenSSL configuration capping a client at TLS 1.2, so the server's certificate is sent in the
# clear (mosquitto_pub's --tls-version only sets the minimum).
tls_max12_conf() {
    cat >max12.cnf <<'EOF'
openssl_conf = openssl_init
[ openssl_init ]
ssl_conf = ssl_sect
[ ssl_sect ]
system_default = system_default_sect
[ system_default_sect ]
CipherString = DEFAULT:@SECLEVEL=2
MaxProtocol = TLSv1.2
EOF
}

# tls_mosquitto PORT...: write ./mosquitto.conf (common settings + stdin: listeners), start
# mosquitto (with $TLS_BROKER_ENV in its environment), wait for every PORT.
tls_mosquitto() {
    {
        echo "user root"
        echo "persistence false"
        echo "per_listener_settings false"
        echo "allow_anonymous true"
        echo "log_dest stderr"
        echo "log_type all"
        echo "connection_messages true"
        cat
    } >mosquitto.conf
    bw_start_bg TLS_BROKER_PID mosquitto.log env ${TLS_BROKER_ENV:+"$TLS_BROKER_ENV"} \
        mosquitto -c "$PWD/mosquitto.conf"
    local p
    for p in "$@"; do
        if ! bw_wait_listen "$p" 20 "$TLS_BROKER_PID"; then
            cat mosquitto.log >&2
            bw_log "mosquitto is not listening on port $p"
            return 1
        fi
    done
}

# tls_run CMD...: run one client (at most 20 s), log what it said and its exit status; a
# client that fails is an error (every session here is meant to succeed).
tls_run() {
    printf '$ %s\n' "$*" >>clients.log
    timeout 20 "$@" >>clients.log 2>&1
    local rc=$?
    echo "exit $rc" >>clients.log
    ((rc == 0)) || { cat clients.log >&2; bw_log "client failed ($rc): $*"; return 1; }
}

tls_py() { tls_run "$BW_PY" "$BW_PCAPS_DIR/tls_client.py" "$@"; }

tls_finish() {
    bw_capture_stop
    sed 's/^/    /' clients.log
}

# The good listener: CA-signed certificate, default TLS versions (1.2 and 1.3).
tls_good_listener() {
    printf '%s\n' "listener $1 127.0.0.1" "cafile $PWD/ca.crt" "certfile $PWD/server.crt" \
        "keyfile $PWD/server.key"
}

tls_case_good() {
    tls_good_certs && tls_max12_conf || return
    tls_mosquitto 8883 < <(tls_good_listener 8883) || return
    bw_capture_start "$BW_OUT" tcp port 8883 || return
    # TLS 1.3 (the certificate is encrypted), then TLS 1.2 (the certificate in the clear).
    tls_run mosquitto_pub -h 127.0.0.1 -p 8883 --cafile ca.crt -V mqttv311 -i bw-tls-good-13 \
        -t plant/tls/temp -m 21.1 || return
    tls_run env OPENSSL_CONF="$PWD/max12.cnf" mosquitto_pub -h 127.0.0.1 -p 8883 --cafile ca.crt \
        -V mqttv311 -i bw-tls-good-12 -t plant/tls/temp -m 21.2 || return
    tls_finish
}

tls_case_mixed() {
    tls_good_certs && tls_max12_conf || return
    tls_mosquitto 1883 8883 < <(echo "listener 1883 127.0.0.1"; tls_good_listener 8883) || return
    bw_capture_start "$BW_OUT" tcp port 1883 or tcp port 8883 || return
    tls_run mosquitto_pub -h 127.0.0.1 -p 1883 -V mqttv311 -i bw-mixed-plain -t plant/mixed/temp \
        -m 22.1 || return
    tls_run env OPENSSL_CONF="$PWD/max12.cnf" mosquitto_pub -h 127.0.0.1 -p 8883 --cafile ca.crt \
        -V mqttv311 -i bw-mixed-tls -t plant/mixed/temp -m 22.2 || return
    tls_finish
}

tls_case_weak() {
    tls_weak_cert || return
    tls_seclevel0_conf || return
    # Security level 0 for the broker too, or OpenSSL refuses the 1024-bit key at startup.
    TLS_BROKER_ENV="OPENSSL_CONF=$PWD/seclevel0.cnf"
    tls_mosquitto 8884 < <(printf '%s\n' "listener 8884 127.0.0.1" "certfile $PWD/weak.crt" \
        "keyfile $PWD/weak.key" "tls_version tlsv1.1") || return
    TLS_BROKER_ENV=
    bw_capture_start "$BW_OUT" tcp port 8884 || return
    # mosquitto 2.0 allows TLS 1.1 at least (no 1.0): 1.1, then 1.2, then 1.3 (hides the cert).
    tls_py mqtt --port 8884 --no-verify --seclevel0 --max-version 1.1 --client-id bw-weak-tls11 ||
        return
    tls_py mqtt --port 8884 --no-verify --seclevel0 --min-version 1.2 --max-version 1.2 \
        --client-id bw-weak-tls12 || return
    tls_py mqtt --port 8884 --no-verify --seclevel0 --min-version 1.3 --client-id bw-weak-tls13 ||
        return
    tls_finish
}

tls_case_long_chain() {
    tls_long_chain_certs || return
    tls_mosquitto 8883 < <(printf '%s\n' "listener 8883 127.0.0.1" "certfile $PWD/chain.pem" \
        "keyfile $PWD/leaf.key") || return
    bw_capture_start "$BW_OUT" tcp port 8883 || return
    # TLS 1.2, so the certificate is in the clear; the leaf is expired: no verification.
    tls_py mqtt --port 8883 --no-verify --min-version 1.2 --max-version 1.2 --sni broker.example \
        --client-id bw-tls-long-chain || return
    tls_finish
}

tls_case_alpn_nonstd() {
    tls_good_certs || return
    tls_mosquitto 18883 < <(tls_good_listener 18883) || return
    bw_capture_start "$BW_OUT" tcp port 18883 || return
    tls_py mqtt --port 18883 --cafile ca.crt --sni broker.example --alpn mqtt \
        --client-id bw-tls-alpn || return
    tls_finish
}

# RabbitMQ with a TLS listener on 5671 only: node name, HOME and RABBITMQ_* dirs under the work
# dir, an epmd of its own (as scripts/pcaps/mqtt.sh does for the MQTT plugin).
tls_rabbitmq() {
    local d=$PWD/rabbitmq
    mkdir -p "$d/home" "$d/log" "$d/mnesia" || return 1
    export HOME=$d/home RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE=$d/mnesia
    export RABBITMQ_LOG_BASE=$d/log RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
    echo '[].' >"$d/enabled_plugins"
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp = none
listeners.ssl.default = 5671
ssl_options.cacertfile = $PWD/ca.crt
ssl_options.certfile = $PWD/server.crt
ssl_options.keyfile = $PWD/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
    local epmd rmq
    bw_start_bg epmd epmd.log epmd -address 127.0.0.1
    bw_wait_listen 4369 10 "$epmd" || { bw_pcap_skip "epmd did not start"; return; }
    bw_start_bg rmq rabbitmq.log /usr/lib/rabbitmq/bin/rabbitmq-server
    if ! bw_wait_listen 5671 90 "$rmq"; then
        tail -n 20 rabbitmq.log >&2
        bw_pcap_skip "rabbitmq-server did not open its TLS port within 90 s"
        return
    fi
}

tls_case_amqp() {
    [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] ||
        { bw_pcap_skip "rabbitmq-server is not installed"; return; }
    tls_good_certs || return
    tls_rabbitmq || return
    bw_capture_start "$BW_OUT" tcp port 5671 || return
    # TLS 1.2 (certificate in the clear), then TLS 1.3, each an AMQP 0-9-1 connection as guest.
    tls_py amqp --port 5671 --cafile ca.crt --sni broker.example --max-version 1.2 || return
    tls_py amqp --port 5671 --cafile ca.crt --sni broker.example --min-version 1.3 || return
    tls_finish
}

bw_pcap_case tls_good tls_case_good "$TLS_PKGS" \
    "mosquitto TLS on 8883 (CA-signed RSA 2048 / SHA-256): mosquitto_pub over TLS 1.3, then 1.2"
bw_pcap_case tls_mixed tls_case_mixed "$TLS_PKGS" \
    "one mosquitto, plain 1883 and TLS 8883: an anonymous plaintext session, then a TLS 1.2 one"
bw_pcap_case tls_weak tls_case_weak "$TLS_PKGS" \
    "mosquitto TLS on 8884, expired self-signed RSA 1024 / SHA-1 certificate: TLS 1.1, 1.2, 1.3"
bw_pcap_case tls_long_chain tls_case_long_chain "$TLS_PKGS" \
    "mosquitto TLS on 8883: a 600-name expired leaf under three issuing CAs (Certificate > 16 KiB), TLS 1.2"
bw_pcap_case tls_alpn_nonstd tls_case_alpn_nonstd "$TLS_PKGS" \
    "mosquitto TLS on 18883: a Python client offering ALPN mqtt with SNI broker.example"
bw_pcap_case tls_amqp tls_case_amqp "$TLS_RABBIT_PKGS" \
    "rabbitmq-server TLS on 5671: AMQP 0-9-1 as guest over TLS 1.2, then TLS 1.3"
