#!/usr/bin/python3
"""mqtt_v5_auth.py: an MQTT 5 client for CONNECT and AUTH shapes no Debian client sends.

Used by scripts/pcaps/mqtt.sh: a CONNECT with a password and no user name (token logins,
allowed by MQTT 5.0 section 3.1.2.9), a CONNECT naming an authentication method with
authentication data (enhanced authentication, section 4.12), and re-authentication: an AUTH
packet with reason 0x19 once the session is accepted (section 4.12.1). It prints every packet
the broker answers with (type and reason code) until the broker closes or is quiet for
--wait seconds, then sends DISCONNECT if the connection is still open. Standard library only.

usage: mqtt_v5_auth.py [--host H] [--port N] [--client-id ID] [--username U] [--password P]
                       [--auth-method M] [--auth-data D] [--reauth-method M]
                       [--reauth-data D] [--wait SECONDS]
Exit status: 0 accepted (and, with --reauth-*, still connected after the re-authentication),
1 refused or disconnected by the broker, 2 error.
"""
import argparse
import socket
import struct
import sys

NAMES = {2: "CONNACK", 3: "PUBLISH", 9: "SUBACK", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def props(method, data):
    p = b""
    if method is not None:
        p += b"\x15" + utf8(method)
    if data is not None:
        p += b"\x16" + utf8(data)
    return varint(len(p)) + p


def connect_packet(a):
    flags = 0x02  # clean start
    if a.username is not None:
        flags |= 0x80
    if a.password is not None:
        flags |= 0x40
    var = utf8("MQTT") + bytes([5, flags]) + struct.pack(">H", 30)
    var += props(a.auth_method, a.auth_data)
    payload = utf8(a.client_id)
    if a.username is not None:
        payload += utf8(a.username)
    if a.password is not None:
        payload += utf8(a.password)
    body = var + payload
    return bytes([0x10]) + varint(len(body)) + body


def auth_packet(reason, method, data):
    body = bytes([reason]) + props(method, data)
    return bytes([0xF0]) + varint(len(body)) + body


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_packet(sock):
    """(type, body), or None when the broker closed the connection."""
    first = read_exact(sock, 1)
    if first is None:
        return None
    mult, rlen = 1, 0
    for _ in range(4):
        b = read_exact(sock, 1)
        if b is None:
            return None
        rlen += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    body = read_exact(sock, rlen)
    return None if body is None else (first[0] >> 4, body)


def answers(sock, wait):
    """Print the broker's packets until it closes (returns False) or is quiet (True)."""
    sock.settimeout(wait)
    last = None
    while True:
        try:
            pkt = read_packet(sock)
        except socket.timeout:
            return True, last
        except ConnectionResetError:
            print("broker reset the connection")
            return False, last
        if pkt is None:
            print("broker closed the connection")
            return False, last
        ptype, body = pkt
        code = body[1] if ptype == 2 and len(body) > 1 else (body[0] if body else 0)
        print(f"{NAMES.get(ptype, ptype)} reason 0x{code:02x} (remaining length {len(body)})")
        last = (ptype, code)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--client-id", default="bw-v5-auth")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--auth-method")
    ap.add_argument("--auth-data")
    ap.add_argument("--reauth-method")
    ap.add_argument("--reauth-data")
    ap.add_argument("--wait", type=float, default=2.0)
    a = ap.parse_args()
    try:
        with socket.create_connection((a.host, a.port), timeout=10) as s:
            s.sendall(connect_packet(a))
            open_, last = answers(s, a.wait)
            accepted = last is not None and last[0] == 2 and last[1] == 0
            if accepted and open_ and (a.reauth_method or a.reauth_data):
                print("sending AUTH 0x19 (re-authenticate)")
                s.sendall(auth_packet(0x19, a.reauth_method, a.reauth_data))
                open_, last = answers(s, a.wait)
                accepted = open_ and (last is None or last[0] != 14)
            if open_:
                s.sendall(b"\xe0\x00")  # DISCONNECT, normal (no reason code: 0x00)
            return 0 if accepted else 1
    except OSError as e:
        print(f"mqtt_v5_auth: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
