# Sourced by tests/overlay/t-*: the tools, a scratch directory, TAP-ish
# output, keys, and listings of trees to compare.
set -euo pipefail
build=${1:?usage: $0 BUILD-DIR}
ovl="$build/overlay/ember-overlay"
craft="$build/tests/overlay-craft"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/ember-overlay-test.XXXXXX)
failures=0
cleanup() {
	if [ "$failures" -eq 0 ]; then rm -rf "$tmp"; else echo "# kept $tmp"; fi
}
trap cleanup EXIT
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; failures=$((failures + 1)); }
for tool in bsdtar python3 openssl; do
	command -v "$tool" >/dev/null || { echo "not ok - $tool is missing: run tests/setup-host"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "not ok - these tests restore owners: run them as root"; exit 1; }

# run EXPECTED-EXIT DESCRIPTION REGEX command...: exit code and output
run() {
	local want=$1 what=$2 re=$3
	shift 3
	set +e
	"$@" >"$tmp/out" 2>&1
	local rc=$?
	set -e
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$re" "$tmp/out"; then
		ok "$what"
	else
		not_ok "$what (exit $rc, wanted $want and /$re/; output: $(head -c 400 "$tmp/out"))"
	fi
}

# same DESCRIPTION FILE-A FILE-B
same() {
	if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1: $(diff "$2" "$3" | head -20 | tr '\n' '|')"; fi
}

# listing ROOT: every entry under ROOT (not ROOT itself) with type, mode,
# owner, mtime, size and digest or link target, and hard-link groups
listing() { python3 "$here/listing.py" "$@"; }

# the signing keys: A is pinned, B is not
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/a.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/b.key" 2>/dev/null
openssl pkey -in "$tmp/a.key" -pubout -out "$tmp/a.pub"
openssl pkey -in "$tmp/b.key" -pubout -out "$tmp/b.pub"

# field NAME: a field of the last `inspect` or `seal` output
field() { sed -n "s/^$1: *//p" "$tmp/out" | head -1; }
