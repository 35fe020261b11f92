# shellcheck shell=bash
# Shared by the QEMU tests of the measured network boot: a static HTTP
# server on the host's loopback (the guest reaches it as 10.0.2.2) serving
# a boot directory laid out as the network boot wants it:
#   boot.ipxe        the DHCP boot file (QEMU's TFTP serves it from the
#                    same directory: qemu/boot --netboot DIR)
#   ipxe-amd64.efi   the current iPXE the firmware's iPXE chain-loads
#                    (Debian trixie's, from image/fetch-ipxe)
#   vmlinuz, initrd  what the current iPXE boots, measured by the kernel
# The caller sources lib.sh first (build, root) and sets tmp (a directory
# for the server's log); it calls netboot_stop on exit.

netboot_pid=
boot_port=

# netboot_serve DIR: serves DIR (existing; its files may come later) on
# 127.0.0.1 at a free port, set in boot_port; netboot_pid is the server's.
# Another test may take the port first: retried.
netboot_serve() {
	local dir=$1
	[ -d "$dir" ] || { echo "not ok - netboot_serve: $dir is not a directory"; exit 1; }
	for _ in 1 2 3 4 5; do
		boot_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$boot_port" \
			>>"$tmp/netboot-http.log" 2>&1 &
		netboot_pid=$!
		for _ in $(seq 50); do
			kill -0 "$netboot_pid" 2>/dev/null || break
			curl -s -o /dev/null "http://127.0.0.1:$boot_port/" && return 0
			sleep 0.1
		done
		kill "$netboot_pid" 2>/dev/null || true
		wait "$netboot_pid" 2>/dev/null || true
		netboot_pid=
	done
	echo "not ok - the boot directory's HTTP server did not start: $(tail -n 3 "$tmp/netboot-http.log")"
	failures=$((failures + 1))
	exit 1
}

netboot_stop() {
	if [ -n "$netboot_pid" ]; then
		kill "$netboot_pid" 2>/dev/null || true
		wait "$netboot_pid" 2>/dev/null || true
	fi
	netboot_pid=
}

# netboot_layout DIR INITRD CMDLINE: DIR made the boot directory of a
# network boot of INITRD on the newest /boot/vmlinuz-* with the kernel
# command line CMDLINE (the script adds ember.boot_url and BOOTIF), served
# at http://10.0.2.2:$boot_port/ (netboot_serve DIR first). Sets ipxe_efi
# (the cached binary) and ipxe_version (its Debian package version, which
# is the version the binary reports).
netboot_layout() {
	local dir=$1 initrd=$2 cmdline=$3 kernel
	[ -n "$boot_port" ] || { echo "not ok - netboot_layout before netboot_serve"; exit 1; }
	ipxe_efi=$("$root/image/fetch-ipxe") || { echo "not ok - image/fetch-ipxe failed"; exit 1; }
	ipxe_version=$(basename "$(dirname "$ipxe_efi")")
	ipxe_version=${ipxe_version#ipxe-}
	kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
	[ -r "$kernel" ] || { echo "not ok - no kernel in /boot (install linux-image-amd64)"; exit 1; }
	mkdir -p "$dir"
	cp "$ipxe_efi" "$dir/ipxe-amd64.efi"
	cp "$kernel" "$dir/vmlinuz"
	cp "$initrd" "$dir/initrd.new" && mv "$dir/initrd.new" "$dir/initrd"
	"$build/attest/emberctl" ipxe script --boot-url "http://10.0.2.2:$boot_port/" --append "$cmdline" \
		--out "$dir/boot.ipxe" >/dev/null ||
		{ echo "not ok - emberctl ipxe script refused the command line: $cmdline"; exit 1; }
}
