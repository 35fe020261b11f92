# Shared by the QEMU tests: boot once, then check the console log.
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${EMBER_BUILD:-$root/build}
failures=0
log=

# boot NAME [qemu/boot options…]: boots, keeps the console in $log.
boot() {
	local name=$1
	shift
	log=$(mktemp "/tmp/ember-$name.XXXXXX.log")
	set +e
	EMBER_BUILD=$build "$root/qemu/boot" --log "$log" "$@" >/dev/null
	qemu_rc=$?
	set -e
	echo "# console of $name: $log (qemu exit $qemu_rc)"
}

# expect DESCRIPTION EXTENDED-REGEX: a console line must match.
expect() {
	if grep -Eq -- "$2" "$log"; then
		echo "ok - $1"
	else
		echo "not ok - $1 (no console line matches: $2)"
		failures=$((failures + 1))
	fi
}

# refute DESCRIPTION EXTENDED-REGEX: no console line may match.
refute() {
	if grep -Eq -- "$2" "$log"; then
		echo "not ok - $1 (console has: $(grep -Em1 -- "$2" "$log"))"
		failures=$((failures + 1))
	else
		echo "ok - $1"
	fi
}

expect_rc() {
	if [ "$qemu_rc" -eq "$2" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1 (qemu exited $qemu_rc, expected $2)"
		failures=$((failures + 1))
	fi
}

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "--- console ($log) ---"
		tail -n 80 "$log"
		exit 1
	fi
	rm -f "$log"
}
