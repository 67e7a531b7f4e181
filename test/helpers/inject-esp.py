#!/usr/bin/env python3
"""Replays the first ESP-in-UDP packet of a pcap (test helper, raw socket).
  inject-esp.py <pcap> replay          send it again as captured
  inject-esp.py <pcap> tamper          send it with a new sequence number (authentication must fail)"""
import socket, struct, sys

data = open(sys.argv[1], 'rb').read()
mode = sys.argv[2]
off = 24
link = struct.unpack('<I', data[20:24])[0]
while off + 16 <= len(data):
    incl = struct.unpack('<I', data[off + 8:off + 12])[0]
    frame = data[off + 16:off + 16 + incl]
    off += 16 + incl
    l2 = 14 if link == 1 else 16  # Ethernet or Linux cooked capture
    ip = bytearray(frame[l2:])
    if len(ip) < 36 or ip[9] != 17:
        continue
    ihl = (ip[0] & 15) * 4
    udp = ihl
    if struct.unpack('!H', ip[udp + 2:udp + 4])[0] != 4500 or ip[udp + 8:udp + 12] == b'\0\0\0\0':
        continue
    if mode == 'tamper':
        ip[udp + 12:udp + 16] = struct.pack('!I', 0x7ffffff0)   # ESP sequence number (in the AAD / ICV)
    ip[udp + 6:udp + 8] = b'\0\0'                               # UDP checksum 0 (RFC 3948 allows it)
    dst = socket.inet_ntoa(bytes(ip[16:20]))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(bytes(ip), (dst, 0))
    print('sent', mode, len(ip))
    sys.exit(0)
print('no ESP packet in capture')
sys.exit(1)
