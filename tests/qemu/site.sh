# shellcheck shell=bash
# Shared by the QEMU tests that boot a whole site: an attestation server on
# the host (the guest reaches it as 10.0.2.2), a TPM manufactured by
# swtpm_setup whose EK certificates the operator trusts, a sealed overlay
# assigned to every machine, and the site's image (pins, CA, signer).
# The caller sources lib.sh first and sets tmp (a fresh directory).

attestd_pid=
site_cleanup() {
	[ -n "$attestd_pid" ] && kill "$attestd_pid" 2>/dev/null || true
	[ "$failures" -eq 0 ] && rm -rf "$tmp"
}
ctl() { "$build/attest/emberctl" --db "$tmp/srv/attestd.db" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
check() { # DESCRIPTION COMMAND…
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then echo "ok - $what"; else echo "not ok - $what: $(head -c 300 "$tmp/out")"; failures=$((failures + 1)); fi
}

# The server's keys and database, the node's TPM, trust in its vendor CA.
site_server() {
	ctl server init --dir "$tmp/srv" --name 10.0.2.2 >/dev/null
	mkdir -p "$tmp/tpm"
	swtpm_setup --tpm2 --tpmstate "$tmp/tpm" --create-ek-cert --create-platform-cert >/dev/null
	check "the operator trusts the TPM vendor's CA (swtpm-localca)" \
		ctl ek-ca add /var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem /var/lib/swtpm-localca/issuercert.pem
	openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/signer.key" 2>/dev/null
	openssl ec -in "$tmp/signer.key" -pubout -out "$tmp/signer.pub" 2>/dev/null
}

# site_overlay TREE SERIAL: sealed, registered, assigned to every machine;
# sets oid.
site_overlay() {
	ctl overlay seal "$1" --key "$tmp/signer.key" --serial "$2" --out "$tmp/site-$2.ovl" \
		--data-key-out "$tmp/site-$2.key" >"$tmp/seal.out"
	oid=$(sed -n 's/^overlay id: *\([0-9a-f-]\{36\}\)$/\1/p' "$tmp/seal.out" | head -1)
	check "overlay serial $2 registered on the server" \
		ctl overlay register "$tmp/site-$2.ovl" --data-key "$tmp/site-$2.key" --signer "$tmp/signer.pub"
	check "overlay serial $2 assigned to every machine" ctl overlay assign "$oid" --default
}

# site_image INITRD [MORE emberctl image site OPTIONS]: the site's image in
# $tmp/initrd (pins, CA, signer).
site_image() {
	local initrd=$1
	shift
	check "the site's image: the server's pin and CA, the overlay signer${1:+, $*}" \
		"$build/attest/emberctl" image site --initrd "$initrd" --server-dir "$tmp/srv" \
		--overlay-signer "$tmp/signer.pub" --out "$tmp/initrd" "$@"
}

# The server on a free port (another test may take a port first: retried);
# sets port.
site_start() {
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"$build/attest/ember-attestd" --dir "$tmp/srv" --listen "127.0.0.1:$port" 2>>"$tmp/attestd.log" &
		attestd_pid=$!
		for _ in $(seq 50); do
			kill -0 "$attestd_pid" 2>/dev/null || break
			curl -s -o /dev/null --cacert "$tmp/srv/ca.crt" --resolve "10.0.2.2:$port:127.0.0.1" \
				"https://10.0.2.2:$port/healthz" && break
			sleep 0.1
		done
		kill -0 "$attestd_pid" 2>/dev/null && return 0
		attestd_pid=
	done
	echo "not ok - ember-attestd did not start"
	failures=1
	exit 1
}

# site_approve_first_boot NAME: the first boot (command line in node_args)
# is refused with its evidence kept; the operator approves the image from it.
site_approve_first_boot() {
	boot "$1" --uefi --initrd "$tmp/initrd" --tpm-state "$tmp/tpm" --timeout 300 --append "${node_args[*]}"
	expect "enrolled by its EK certificate, no operator step" \
		'attest: failed: server refused the evidence \(HTTP 403\): no approved image \(evidence kept as'
	local session
	session=$(sed -n 's/.*evidence kept as \([0-9a-f-]\{36\}\).*/\1/p' "$log" | head -1)
	check "the image approved from that boot's evidence" ctl image approve --from-evidence "$session" --name "$1"
}
