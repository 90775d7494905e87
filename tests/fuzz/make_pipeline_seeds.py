#!/usr/bin/python3
"""make_pipeline_seeds.py: seed inputs for fuzz_pipeline.c from the bundled captures.

Usage: tests/fuzz/make_pipeline_seeds.py OUTDIR [PCAP...]   (default: pcaps/*.pcap)

Each capture's frames become the harness's input format: byte 0 picks the link type and the
caps, then frames separated by the marker FE ED 46 52, each frame led by one byte of packet time
advance (the real gap between frames, quantized as the harness reads it). A capture larger than
MAX_SEED bytes is cut into consecutive pieces (later pieces start midstream). The first piece of
every Ethernet capture is also written re-encapsulated as Linux SLL, SLL2 and raw IP, and with
other caps, so every link type and cap set starts from real sessions; and once with a frame in
the middle left out (a hole in the stream) and once ended by a reset (the last TCP frame's
flags turned into RST+ACK). Frames that contain the
marker are left out (none of the bundled ones do). Files are named after the capture and the
variant; the output is deterministic.
"""
import glob
import os
import struct
import sys

MARKER = b"\xfe\xedFR"
MAX_SEED = 4096
# link type index (harness byte 0, bits 0-2)
L_ETH, L_SLL, L_SLL2, L_RAW = 0, 1, 2, 3


def read_pcap(path):
    d = open(path, "rb").read()
    magic = d[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", d[20:24])[0]
    off, frames = 24, []
    while off + 16 <= len(d):
        sec, frac, incl, _orig = struct.unpack(e + "IIII", d[off:off + 16])
        off += 16
        us = sec * 1000000 + (frac // 1000 if nano else frac)
        frames.append((us, d[off:off + incl]))
        off += incl
    return linktype, frames


def step_byte(delta_us):
    """The harness's time_step() inverted, rounding down."""
    if delta_us < 0:
        return 0
    if delta_us < 128000:
        return delta_us // 1000
    if delta_us < 6400000:
        return 128 + delta_us // 100000
    return min(255, 192 + delta_us // 5000000)


def reencap(kind, frame):
    """An Ethernet frame carrying IPv4/IPv6 as SLL, SLL2 or raw IP; None for anything else."""
    if len(frame) < 14:
        return None
    etype = frame[12:14]
    if etype not in (b"\x08\x00", b"\x86\xdd"):
        return None
    ip = frame[14:]
    if kind == L_RAW:
        return ip
    src = frame[6:12] + b"\x00\x00"
    if kind == L_SLL:        # packet type, ARPHRD_ETHER, address length, address, protocol
        return struct.pack(">HHH", 0, 1, 6) + src + etype + ip
    # SLL2: protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address
    return etype + b"\x00\x00" + struct.pack(">IHBB", 2, 1, 0, 6) + src + ip


def with_rst(frame):
    """The Ethernet IPv4/IPv6 TCP frame with its flags set to RST+ACK; None if it is not one."""
    if len(frame) < 14 + 40:
        return None
    etype = frame[12:14]
    if etype == b"\x08\x00" and frame[14 + 9] == 6:
        tcp = 14 + (frame[14] & 15) * 4
    elif etype == b"\x86\xdd" and frame[14 + 6] == 6:
        tcp = 14 + 40
    else:
        return None
    if len(frame) < tcp + 20:
        return None
    return frame[:tcp + 13] + b"\x14" + frame[tcp + 14:]


def pieces(frames):
    """Consecutive runs of (step, frame) whose encoding stays under MAX_SEED (one frame at least)."""
    out, cur, size, last = [], [], 1, None
    for us, fr in frames:
        if MARKER in fr:
            continue
        step = step_byte(us - last) if last is not None else 0
        last = us
        n = len(MARKER) + 1 + len(fr)
        if cur and size + n > MAX_SEED:
            out.append(cur)
            cur, size = [], 1
        cur.append((step, fr))
        size += n
    if cur:
        out.append(cur)
    return out


def encode(sel, piece):
    return bytes([sel]) + MARKER.join(bytes([s]) + f for s, f in piece)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    paths = sys.argv[2:] or sorted(glob.glob(os.path.join(os.path.dirname(__file__), "../../pcaps/*.pcap")))
    os.makedirs(outdir, exist_ok=True)
    written = 0
    for path in paths:
        name = os.path.basename(path).rsplit(".", 1)[0]
        linktype, frames = read_pcap(path)
        if linktype != 1:
            print(f"{path}: link type {linktype}, only Ethernet captures are used", file=sys.stderr)
            continue
        ps = pieces(frames)
        seeds = {}
        for k, p in enumerate(ps):
            seeds[f"{name}.{k}"] = encode(L_ETH, p)
        first = ps[0] if ps else []
        for kind, tag in ((L_SLL, "sll"), (L_SLL2, "sll2"), (L_RAW, "raw")):
            re = [(s, reencap(kind, f)) for s, f in first]
            re = [(s, f) for s, f in re if f is not None and MARKER not in f]
            if re:
                seeds[f"{name}.{tag}"] = encode(kind, re)
        for capset in (1, 2):                      # the other cap sets (bits 3-4), Ethernet
            seeds[f"{name}.caps{capset}"] = encode(L_ETH | capset << 3, first)
        seeds[f"{name}.nosessionlog"] = encode(L_ETH | 0x20, first)
        if len(first) > 4:                         # a hole: one frame of the middle left out
            seeds[f"{name}.gap"] = encode(L_ETH, first[:len(first) // 2] + first[len(first) // 2 + 1:])
        for k in range(len(first) - 1, 2, -1):     # a reset instead of the last TCP frame
            r = with_rst(first[k][1])
            if r is not None:
                seeds[f"{name}.rst"] = encode(L_ETH, first[:k] + [(first[k][0], r)])
                break
        for fn, data in seeds.items():
            with open(os.path.join(outdir, fn), "wb") as f:
                f.write(data)
            written += 1
    print(f"wrote {written} seeds to {outdir}")


if __name__ == "__main__":
    main()
