#!/usr/bin/env python3
"""Sends one ICMP error (default: destination unreachable, fragmentation needed)
quoting a TCP segment, from the namespace it runs in. Test helper; raw socket.
  inject-icmp.py <src> <dst> <quoted_src> <quoted_dst> <quoted_sport> <quoted_dport> [type] [code] [mtu]"""
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip_header(src, dst, proto, payload_len, ident=0x1234):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, ident, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:]

src, dst, qsrc, qdst = sys.argv[1:5]
qsport, qdport = int(sys.argv[5]), int(sys.argv[6])
typ = int(sys.argv[7]) if len(sys.argv) > 7 else 3
code = int(sys.argv[8]) if len(sys.argv) > 8 else 4
mtu = int(sys.argv[9]) if len(sys.argv) > 9 else 1300
quoted_tcp = struct.pack('!HHI', qsport, qdport, 1)
quoted = ip_header(qsrc, qdst, 6, 20) + quoted_tcp
icmp = struct.pack('!BBHHH', typ, code, 0, 0, mtu) + quoted
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
pkt = ip_header(src, dst, 1, len(icmp)) + icmp
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(pkt, (dst, 0))
print('sent')
