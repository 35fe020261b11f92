# Shared by the network tests: private network namespaces joined by a
# bridge, dnsmasq as the DHCP server, Ember's client (ember-init network)
# in the client namespace. Addresses come from 192.0.2.0/24 (TEST-NET-1)
# and nothing leaves the namespaces; everything is removed on exit.
# shellcheck shell=bash
set -euo pipefail

EMBER_INIT=${1:?usage: $0 PATH-TO-ember-init}
id="$$"
SRV="ember-srv-$id"
CLI="ember-cli-$id"
SQ="ember-sq-$id"
tmp=$(mktemp -d "/tmp/ember-net.XXXXXX")
failures=0
client_pid=

cleanup() {
	[ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null || true
	[ -f "$tmp/dnsmasq.pid" ] && kill "$(cat "$tmp/dnsmasq.pid")" 2>/dev/null || true
	for ns in "$SRV" "$CLI" "$SQ"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ "$failures" -eq 0 ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1"
	failures=$((failures + 1))
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what"; fi
}

# expect_in FILE DESCRIPTION EXTENDED-REGEX
expect_in() {
	if grep -Eq -- "$3" "$1"; then ok "$2"; else not_ok "$2 (nothing in $(basename "$1") matches: $3)"; fi
}
refute_in() {
	if grep -Eq -- "$3" "$1"; then not_ok "$2 ($(basename "$1") has: $(grep -Em1 -- "$3" "$1"))"; else ok "$2"; fi
}

# net_setup [--squatter ADDR]: server namespace with a bridge at 192.0.2.1,
# the client namespace's eth0 on it (left down: the client brings it up),
# optionally a third host that already uses ADDR.
net_setup() {
	ip netns add "$SRV"
	ip netns add "$CLI"
	ip -n "$SRV" link add br0 type bridge
	ip -n "$SRV" addr add 192.0.2.1/24 dev br0
	ip -n "$SRV" link set br0 up
	ip -n "$SRV" link add p0 type veth peer name eth0 netns "$CLI"
	ip -n "$SRV" link set p0 master br0 up
	ip -n "$CLI" link set eth0 address 02:00:00:00:00:01
	if [ "${1:-}" = --squatter ]; then
		ip netns add "$SQ"
		ip -n "$SRV" link add p1 type veth peer name eth0 netns "$SQ"
		ip -n "$SRV" link set p1 master br0 up
		ip -n "$SQ" addr add "$2/24" dev eth0
		ip -n "$SQ" link set eth0 up
	fi
}

# dnsmasq_start [dnsmasq options]: DHCP only (no DNS), authoritative, no ping
# check before offering (it would delay the first OFFER by 3 s), with
# a 120 s lease (dnsmasq's shortest) unless the options give a range.
dnsmasq_start() {
	local range="--dhcp-range=192.0.2.50,192.0.2.60,255.255.255.0,120"
	case " $* " in *" --dhcp-range="*) range= ;; esac
	: >"$tmp/dnsmasq.log"
	ip netns exec "$SRV" dnsmasq --conf-file=/dev/null --port=0 --user=root --group=root --no-ping \
		--interface=br0 --bind-interfaces --dhcp-authoritative \
		--dhcp-leasefile="$tmp/leases" --pid-file="$tmp/dnsmasq.pid" \
		--log-dhcp --log-facility="$tmp/dnsmasq.log" \
		--dhcp-option=option:router,192.0.2.1 --dhcp-option=option:dns-server,192.0.2.53 \
		--dhcp-option=option:domain-name,test.example ${range:+"$range"} "$@"
	for _ in $(seq 50); do [ -s "$tmp/dnsmasq.pid" ] && return 0; sleep 0.1; done
	echo "dnsmasq did not start:" >&2
	cat "$tmp/dnsmasq.log" >&2
	exit 1
}

dnsmasq_stop() {
	kill "$(cat "$tmp/dnsmasq.pid")"
	rm -f "$tmp/dnsmasq.pid"
}

# client_once [options]: runs the client until its first lease; output in $tmp/client.log.
client_once() {
	set +e
	timeout 60 ip netns exec "$CLI" "$EMBER_INIT" network --interface eth0 --once \
		--resolv-conf "$tmp/resolv.conf" --state "$tmp/state.json" "$@" >"$tmp/client.log" 2>&1
	client_rc=$?
	set -e
}

# client_start [options]: the client in the background, for the lease's life.
client_start() {
	ip netns exec "$CLI" "$EMBER_INIT" network --interface eth0 \
		--resolv-conf "$tmp/resolv.conf" --state "$tmp/state.json" "$@" >"$tmp/client.log" 2>&1 &
	client_pid=$!
}

# wait_for FILE REGEX SECONDS: until a line matches (true) or time runs out.
wait_for() {
	local end=$((SECONDS + $3))
	while [ "$SECONDS" -lt "$end" ]; do
		grep -Eq -- "$2" "$1" && return 0
		sleep 0.2
	done
	return 1
}

# wait_count FILE REGEX N SECONDS: until at least N lines match.
wait_count() {
	local end=$((SECONDS + $4))
	while [ "$SECONDS" -lt "$end" ]; do
		[ "$(grep -Ec -- "$2" "$1")" -ge "$3" ] && return 0
		sleep 0.2
	done
	return 1
}

cli_addrs() { ip -n "$CLI" -4 -o addr show dev "${1:-eth0}"; }
cli_routes() { ip -n "$CLI" -4 route show; }

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "--- client ---"
		cat "$tmp/client.log" 2>/dev/null || true
		echo "--- dnsmasq ---"
		cat "$tmp/dnsmasq.log" 2>/dev/null || true
		echo "(kept in $tmp)"
		exit 1
	fi
}
