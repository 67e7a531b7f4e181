#!/usr/bin/env python3
"""Test helper: a bounded flood from spoofed sources, from the namespace it runs in.
  spoof-flood.py syn <dst> <dport> <count> <src-base>     TCP SYNs from <count> distinct sources
                                                         (src-base + i, e.g. 198.19.0.0), raw socket
  spoof-flood.py arp <ifname> <dst-mac> <count> <src-base>  ARP replies "src-base+i is at 02:..." to dst-mac
Sends exactly <count> packets and exits; never loops."""
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def addr(base, i):
    return socket.inet_ntoa(struct.pack('!I', struct.unpack('!I', socket.inet_aton(base))[0] + i))

mode = sys.argv[1]
if mode == 'syn':
    dst, dport, count, base = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    d = socket.inet_aton(dst)
    for i in range(count):
        src = socket.inet_aton(addr(base, i))
        sport = 1024 + (i % 60000)
        tcp = struct.pack('!HHIIBBHHH', sport, dport, i, 0, 5 << 4, 0x02, 65535, 0, 0)
        c = csum(src + d + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, src, d)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        s.sendto(ip + tcp, (dst, 0))
elif mode == 'arp':
    ifname, dmac, count, base = sys.argv[2], bytes.fromhex(sys.argv[3].replace(':', '')), int(sys.argv[4]), sys.argv[5]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    for i in range(count):
        mac = bytes([0x02, 0x66, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x01])
        spa = socket.inet_aton(addr(base, i))
        arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 2, mac, spa, dmac, spa)
        s.send(dmac + mac + b'\x08\x06' + arp + b'\0' * 18)
else:
    sys.exit('usage: spoof-flood.py syn|arp ...')
