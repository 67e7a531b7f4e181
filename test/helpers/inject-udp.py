#!/usr/bin/env python3
"""Sends one UDP datagram with any source address (test helper, raw socket).
  inject-udp.py <src-ip> <src-port> <dst-ip> <dst-port> <payload-hex>
The UDP checksum is 0 (none); exits 0 once the kernel took the packet."""
import socket, struct, sys

src, sport, dst, dport, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), bytes.fromhex(sys.argv[5])
udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
total = 20 + len(udp)
hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, 0x1234, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
s = 0
for i in range(0, 20, 2):
    s += (hdr[i] << 8) | hdr[i + 1]
while s >> 16:
    s = (s & 0xffff) + (s >> 16)
hdr = hdr[:10] + struct.pack('!H', ~s & 0xffff) + hdr[12:]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sock.sendto(hdr + udp, (dst, 0))
print('sent', total)
