# shellcheck shell=bash
# Shared by the attestation scripts: a server on loopback, a manufactured
# swtpm brought into the PCR state of a captured OVMF boot, and that boot's
# image approved. The caller sets build, tmp (a fresh directory) and data,
# and defines ctl (emberctl on $tmp/srv/attestd.db).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Ports come from free_port and are free only when asked: another test
# running beside this one may take one first. A daemon that cannot bind
# exits at once, so "still running once it answers" means it is ours.
start_attestd() {
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"$build/attest/ember-attestd" --dir "$tmp/srv" --listen "127.0.0.1:$port" 2>>"$tmp/attestd.log" &
		attestd_pid=$!
		url="https://127.0.0.1:$port"
		for _ in $(seq 50); do
			kill -0 "$attestd_pid" 2>/dev/null || break
			curl -s -o /dev/null --cacert "$tmp/srv/ca.crt" "$url/healthz" && kill -0 "$attestd_pid" 2>/dev/null && return 0
			sleep 0.1
		done
		kill "$attestd_pid" 2>/dev/null || true
		wait "$attestd_pid" 2>/dev/null || true
		attestd_pid=
	done
	return 1
}

# A manufactured swtpm (EK certificates in NV) in $tmp/tpm, on a free port;
# TPM2TOOLS_TCTI and tcti point at it.
start_swtpm() {
	mkdir -p "$tmp/tpm"
	[ -e "$tmp/tpm/tpm2-00.permall" ] ||
		swtpm_setup --tpm2 --tpmstate "$tmp/tpm" --create-ek-cert --create-platform-cert >/dev/null
	for _ in 1 2 3 4 5; do
		tport=$(free_port)
		swtpm socket --tpm2 --tpmstate dir="$tmp/tpm" --server type=tcp,port="$tport" \
			--ctrl type=tcp,port=$((tport + 1)) --flags not-need-init,startup-clear 2>>"$tmp/swtpm.log" &
		swtpm_pid=$!
		tcti="swtpm:host=127.0.0.1,port=$tport"
		export TPM2TOOLS_TCTI=$tcti
		for _ in $(seq 50); do
			kill -0 "$swtpm_pid" 2>/dev/null || break
			tpm2_pcrread sha256:0 >/dev/null 2>&1 && kill -0 "$swtpm_pid" 2>/dev/null && return 0
			sleep 0.1
		done
		kill "$swtpm_pid" 2>/dev/null || true
		wait "$swtpm_pid" 2>/dev/null || true
		swtpm_pid=
	done
	return 1
}
# Extends swtpm's PCRs with the captured OVMF boot's events (never the
# EV_NO_ACTION ones) and approves the resulting values as image NAME.
replay_and_approve() {
	local name=$1
	tpm2_eventlog "$data/ovmf-direct-1.bin" | python3 -c '
import sys, re
pcr = typ = None
for line in sys.stdin:
    m = re.match(r"\s*PCRIndex: (\d+)", line)
    if m: pcr = int(m.group(1))
    m = re.match(r"\s*EventType: (\S+)", line)
    if m: typ = m.group(1)
    m = re.match(r"\s*Digest: \"([0-9a-f]{64})\"", line)
    if m and typ != "EV_NO_ACTION": print("%d:sha256=%s" % (pcr, m.group(1)))
' >"$tmp/extends"
	while read -r e; do tpm2_pcrextend "$e"; done <"$tmp/extends"
	tpm2_pcrread "sha256:0,1,2,3,4,5,6,7,9" | sed -n 's/^ *\([0-9]*\) *: 0x\([0-9A-F]*\)$/\1 \2/p' | tr 'A-F' 'a-f' >"$tmp/pcrs"
	python3 -c '
import json, sys
vals = [l.split() for l in open(sys.argv[1])]
print(json.dumps([{"version": "0.1.0", "name": "tpm_pcr%s" % p, "expiration": "2099-01-01T00:00:00Z", "value": [v]} for p, v in vals]))
' "$tmp/pcrs" >"$tmp/image.json"
	ctl image approve "$tmp/image.json" --name "$name" >/dev/null
}
