/**
 * src/wire: zero-copy header views, checksums, byte access, and (control-plane
 * only) address conversions. Imports nothing outside this folder.
 */
export * from './bytes.js';
export * from './checksum.js';
export * from './addr.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './icmp.js';
export * from './tcp.js';
export * from './udp.js';
export * from './vnet.js';
