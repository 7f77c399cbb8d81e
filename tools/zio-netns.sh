#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# zio-netns.sh up|down|env [ID] — the test topology of zio's AF_XDP path:
# two network namespaces joined by a veth pair, jumbo MTU, addresses of
# their own that exist only inside the namespaces.
#
#   netns zio-a$ID                         netns zio-b$ID
#   +----------------------------+         +----------------------------+
#   | zio-va$ID  198.18.$ID.1/24 |---veth--| zio-vb$ID  198.18.$ID.2/24 |
#   |            fd00:5a10:$ID::1/64       |            fd00:5a10:$ID::2/64
#   +----------------------------+         +----------------------------+
#
# 198.18.0.0/15 is the range set aside for benchmarking (RFC 2544) and
# fd00:5a10::/32 a unique-local prefix: neither is routed anywhere.
# ID (0..255, default 0) lets concurrent runs use separate pairs.
# `env` prints the names and addresses as shell assignments.
#
# Env: ZIO_NETNS_MTU (default 65000), ZIO_NETNS_QUEUES (veth queues, 1).
set -eu

usage() { echo "usage: $0 up|down|env [ID]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
ID=${2:-0}
[[ $ID =~ ^[0-9]+$ ]] && [ "$ID" -le 255 ] || usage
MTU=${ZIO_NETNS_MTU:-65000}
QUEUES=${ZIO_NETNS_QUEUES:-1}

NS_A=zio-a$ID NS_B=zio-b$ID
IF_A=zio-va$ID IF_B=zio-vb$ID
IP4_A=198.18.$ID.1 IP4_B=198.18.$ID.2
IP6_A=fd00:5a10:$ID::1 IP6_B=fd00:5a10:$ID::2

down() {
	# Deleting a namespace deletes its end of the veth, and so the pair.
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
}

case $1 in
env)
	echo "NS_A=$NS_A NS_B=$NS_B IF_A=$IF_A IF_B=$IF_B IP4_A=$IP4_A IP4_B=$IP4_B" \
		"IP6_A=$IP6_A IP6_B=$IP6_B MTU=$MTU"
	;;
up)
	[ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 1; }
	down
	trap 'down' ERR
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "$IF_A" netns "$NS_A" numtxqueues "$QUEUES" numrxqueues "$QUEUES" \
		type veth peer name "$IF_B" netns "$NS_B" \
		numtxqueues "$QUEUES" numrxqueues "$QUEUES"
	for side in "$NS_A $IF_A $IP4_A $IP6_A" "$NS_B $IF_B $IP4_B $IP6_B"; do
		read -r ns ifc ip4 ip6 <<<"$side"
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "$ifc" mtu "$MTU"
		ip -n "$ns" addr add "$ip4/24" dev "$ifc"
		# nodad: usable at once, no duplicate-address wait
		ip -n "$ns" addr add "$ip6/64" dev "$ifc" nodad
		ip -n "$ns" link set "$ifc" up
	done
	trap - ERR
	;;
down)
	down
	;;
*)
	usage
	;;
esac
