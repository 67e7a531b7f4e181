# bench/env.sh - names and addresses of the benchmark topology (sourced by the
# bench scripts; one place to change them). See docs/benchmark.md.
#
#   vb-client                 vb-fwd (the box under test)                 vb-server
#   vb-c0 198.18.1.10/24 ── vb-f0 [198.18.1.1] | [198.18.2.1] vb-f1 ── vb-s0 198.18.2.10/24
#
# The forwarder legs carry the gateway addresses only in the kernel modes; in
# the vpcd modes they have no address and vpcd (which answers ARP for the
# subnets' .1 router addresses) owns them.
#
# Every name starts with "vb-" and every address is in 198.18.0.0/15 (RFC 2544
# benchmarking space). The server is in 198.18.2.0/24, not 198.19.x: a vpcd VPC
# is one /16 (AWS: VPC blocks are /16 to /28; `vpcd check` rejects a /15), and
# all modes use the same addresses so they are measured on the same topology.

NS_C=vb-client
NS_F=vb-fwd
NS_S=vb-server
IF_C=vb-c0     # client's end            (peer: IF_F0)
IF_F0=vb-f0    # forwarder, client side
IF_F1=vb-f1    # forwarder, server side  (peer: IF_S)
IF_S=vb-s0     # server's end

# Locally administered unicast MACs (02:..), "vb" = 0x76 0x62.
MAC_C=02:76:62:01:00:0a
MAC_S=02:76:62:02:00:0a

CLIENT_IP=198.18.1.10
CLIENT_GW=198.18.1.1
CLIENT_NET=198.18.1.0/24
SERVER_IP=198.18.2.10
SERVER_GW=198.18.2.1
SERVER_NET=198.18.2.0/24
VPC_CIDR=198.18.0.0/16
PLEN=24

# The VPN modes split the forwarder in two gateways joined by a "WAN" link:
#   vb-client ── vb-fwd (gateway A) ══ vb-w0 203.0.113.1 ── vb-w1 203.0.113.2 ══ vb-fwd2 (gateway B) ── vb-server
NS_F2=vb-fwd2
IF_W0=vb-w0
IF_W1=vb-w1
WAN_A=203.0.113.1
WAN_B=203.0.113.2
# The NAT mode: the VPC is 198.18.0.0/23 (client subnet 198.18.1.0/24, the NAT gateway's public
# subnet 198.18.0.0/24); the server leg is the internet gateway's uplink, the server an internet host.
NAT_GW_IP=198.18.0.5
NAT_PUBLIC_IP=198.18.2.5

BENCH_TMP=${BENCH_TMP:-/tmp/vpcd-bench}
