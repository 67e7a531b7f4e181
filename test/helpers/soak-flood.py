#!/usr/bin/env python3
"""Bounded floods for soak runs, from the namespace it runs in (raw socket, root).
  soak-flood.py syn <dst> <dport> <pps> <seconds> <max_count> <src_prefix24> [<src_prefix24> ...]
      TCP SYNs with random source addresses (x.y.z.1-254 of the given /24s) and random source ports
  soak-flood.py udp <dst> <dport> <pps> <seconds> <max_count> <src_prefix24> [...]
      64-byte UDP datagrams, same sources
Stops at the first of: seconds elapsed, max_count sent. Prints {"sent": n} at the end."""
import json, random, socket, struct, sys, time

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip_header(src, dst, proto, payload_len, ident):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, ident, 0, 64, proto, 0, src, dst)
    return h[:10] + struct.pack('!H', csum(h)) + h[12:]

kind, dst_s, dport, pps, secs, max_count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
prefixes = sys.argv[7:]
if kind not in ('syn', 'udp') or not prefixes or not (0 < pps <= 20000) or not (0 < secs <= 7200) or max_count <= 0:
    sys.stderr.write(__doc__)
    sys.exit(2)
dst = socket.inet_aton(dst_s)
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rnd = random.Random(7)
sent = 0
t0 = time.monotonic()
batch = max(1, pps // 100)
while sent < max_count and time.monotonic() - t0 < secs:
    for _ in range(batch):
        pfx = rnd.choice(prefixes).split('.')
        src = socket.inet_aton('%s.%s.%s.%d' % (pfx[0], pfx[1], pfx[2], rnd.randint(1, 254)))
        sport = rnd.randint(1024, 65535)
        pseudo = src + dst
        if kind == 'syn':
            tcp = struct.pack('!HHIIBBHHH', sport, dport, rnd.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
            c = csum(pseudo + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
            l4 = tcp[:16] + struct.pack('!H', c) + tcp[18:]
            proto = 6
        else:
            data = b'f' * 36
            udp = struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data
            c = csum(pseudo + struct.pack('!BBH', 0, 17, len(udp)) + udp) or 0xffff
            l4 = udp[:6] + struct.pack('!H', c) + udp[8:]
            proto = 17
        pkt = ip_header(src, dst, proto, len(l4), rnd.getrandbits(16)) + l4
        try:
            sock.sendto(pkt, (dst_s, 0))
            sent += 1
        except OSError:
            pass
        if sent >= max_count:
            break
    # pace: where we should be after `sent` packets
    ahead = sent / pps - (time.monotonic() - t0)
    if ahead > 0:
        time.sleep(ahead)
print(json.dumps({'kind': kind, 'sent': sent}))
