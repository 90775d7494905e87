#!/usr/bin/python3
"""tls_client.py: one broker session over TLS, with every TLS knob under control, for make-pcaps.

  mqtt   MQTT 3.1.1: CONNECT (anonymous), CONNACK, PUBLISH QoS 0, DISCONNECT.
  amqp   AMQP 0-9-1: protocol header, Start / Start-Ok (PLAIN), Tune / Tune-Ok, Open / Open-Ok,
         Close / Close-Ok.

TLS: --sni sends that server_name (none by default: the host is an address), --alpn offers
protocols, --cafile verifies the chain (and the name when --sni is given), --no-verify accepts
any certificate, --min-version/--max-version bound the version, --seclevel0 lets OpenSSL
negotiate TLS 1.0/1.1 and accept 1024-bit keys and SHA-1 signatures.

usage: tls_client.py mqtt|amqp --port N [--host 127.0.0.1] [--sni NAME] [--alpn P]...
                     [--cafile F | --no-verify] [--min-version V] [--max-version V] [--seclevel0]
                     [--client-id ID] [--topic T] [--message M] [--user U --password P]
Exit status: 0 ok, 1 refused by the broker, 2 error.
"""
import argparse
import warnings
import socket
import ssl
import struct
import sys

# TLS 1.0 and 1.1 are what the weak captures are for.
warnings.filterwarnings("ignore", category=DeprecationWarning)

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def tls_connect(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if a.seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if a.min_version:
        ctx.minimum_version = VERSIONS[a.min_version]
    if a.max_version:
        ctx.maximum_version = VERSIONS[a.max_version]
    if a.no_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile=a.cafile)
        ctx.check_hostname = a.sni is not None
    if a.alpn:
        ctx.set_alpn_protocols(a.alpn)
    raw = socket.create_connection((a.host, a.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=a.sni)
    print(f"TLS {s.version()} {s.cipher()[0]} alpn={s.selected_alpn_protocol()}")
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        out += chunk
    return out


def mqtt_str(b):
    return struct.pack("!H", len(b)) + b


def mqtt_packet(first, body):
    n, rl = len(body), b""
    while True:
        d, n = n % 128, n // 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n:
            break
    return bytes([first]) + rl + body


def run_mqtt(s, a):
    flags = 0x02
    payload = mqtt_str(a.client_id.encode())
    if a.user is not None:
        flags |= 0x80
        payload += mqtt_str(a.user.encode())
        if a.password is not None:
            flags |= 0x40
            payload += mqtt_str(a.password.encode())
    var = mqtt_str(b"MQTT") + bytes([4, flags]) + struct.pack("!H", 30)
    s.sendall(mqtt_packet(0x10, var + payload))
    ack = recv_exact(s, 4)
    print(f"CONNACK code {ack[3]}")
    if ack[0] != 0x20 or ack[3] != 0:
        return 1
    s.sendall(mqtt_packet(0x30, mqtt_str(a.topic.encode()) + a.message.encode()))
    s.sendall(b"\xe0\x00")
    return 0


def amqp_method(cls, meth, args):
    payload = struct.pack("!HH", cls, meth) + args
    return struct.pack("!BHI", 1, 0, len(payload)) + payload + b"\xce"


def amqp_read(s):
    ftype, chan, size = struct.unpack("!BHI", recv_exact(s, 7))
    body = recv_exact(s, size + 1)[:-1]
    if ftype != 1:
        return None, None, body
    cls, meth = struct.unpack("!HH", body[:4])
    return cls, meth, body[4:]


def shortstr(b):
    return bytes([len(b)]) + b


def longstr(b):
    return struct.pack("!I", len(b)) + b


def run_amqp(s, a):
    s.sendall(b"AMQP\x00\x00\x09\x01")
    cls, meth, _ = amqp_read(s)
    if (cls, meth) != (10, 10):
        print(f"expected Connection.Start, got {cls}.{meth}", file=sys.stderr)
        return 2
    user = (a.user or "guest").encode()
    pw = (a.password or "guest").encode()
    s.sendall(amqp_method(10, 11, struct.pack("!I", 0) + shortstr(b"PLAIN") +
                          longstr(b"\0" + user + b"\0" + pw) + shortstr(b"en_US")))
    cls, meth, args = amqp_read(s)
    if (cls, meth) != (10, 30):
        print(f"refused: {cls}.{meth}")
        return 1
    chmax, fmax, _hb = struct.unpack("!HIH", args[:8])
    s.sendall(amqp_method(10, 31, struct.pack("!HIH", chmax, fmax, 0)))
    s.sendall(amqp_method(10, 40, shortstr(b"/") + shortstr(b"") + b"\x00"))
    cls, meth, _ = amqp_read(s)
    print(f"Connection.Open answered by {cls}.{meth}")
    s.sendall(amqp_method(10, 50, struct.pack("!H", 200) + shortstr(b"bye") + struct.pack("!HH", 0, 0)))
    amqp_read(s)
    return 0 if (cls, meth) == (10, 41) else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("proto", choices=["mqtt", "amqp"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sni")
    p.add_argument("--alpn", action="append")
    p.add_argument("--cafile")
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--min-version", choices=sorted(VERSIONS))
    p.add_argument("--max-version", choices=sorted(VERSIONS))
    p.add_argument("--seclevel0", action="store_true")
    p.add_argument("--client-id", default="bw-tls")
    p.add_argument("--topic", default="plant/tls/temp")
    p.add_argument("--message", default="21.0")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()
    if not a.no_verify and not a.cafile:
        p.error("--cafile or --no-verify")
    try:
        s = tls_connect(a)
        with s:
            rc = run_mqtt(s, a) if a.proto == "mqtt" else run_amqp(s, a)
            try:
                s.unwrap()                   # close_notify, then the TCP close
            except (OSError, ssl.SSLError):
                pass
        return rc
    except (OSError, ssl.SSLError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
