#!/usr/bin/env bash
# make conformance: pjdfstest, the POSIX file system test suite (the one
# JuiceFS and ext4 report on), run inside /fs of a fresh fazt mount, as
# its README says. Its source is pinned here (pjdfstest-85a8aea9e685.tar.gz:
# github.com/pjd/pjdfstest at 85a8aea9e685, BSD licence, COPYING inside),
# because the machines that run the tests cannot fetch it; it is built
# once into bin/pjdfstest. The suite switches users: it runs as root, on a
# mount made with --allow-other.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
src=test/conformance/pjdfstest-85a8aea9e685.tar.gz
build=bin/pjdfstest

if [ "$(id -u)" != 0 ]; then
	echo "conformance: pjdfstest switches users and needs root"
	[ -n "${CI:-}" ] && exit 1
	exit 0
fi
if [ ! -x "$build/pjdfstest" ] || [ "$src" -nt "$build/pjdfstest" ]; then
	echo "conformance: building pjdfstest"
	rm -rf "$build"
	mkdir -p "$build"
	tar -xzf "$src" -C "$build" --strip-components=1
	(cd "$build" && autoreconf -ifs >/dev/null 2>&1 && ./configure >/dev/null && make -s pjdfstest >/dev/null)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fazt-conformance.XXXXXX")
home=$tmp/data
mnt=$tmp/mnt
fazt=("$root/bin/fazt" --data "$home")
cleanup() {
	cd /
	"${fazt[@]}" fs umount "$mnt" >/dev/null 2>&1 || umount -l "$mnt" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# Loopback only: no listener on the machine's addresses.
"${fazt[@]}" net http 127.0.0.1:0 >/dev/null
"${fazt[@]}" net https off >/dev/null
"${fazt[@]}" fs mount --allow-other "$mnt" >/dev/null
mkdir "$mnt/fs/pjdfstest"
cd "$mnt/fs/pjdfstest"
start=$(date +%s)
# Every file's line, less the passing ones; then prove's summary.
set +e
prove -r "$root/$build/tests" 2>/dev/null | grep -v '\.\. ok$'
status=${PIPESTATUS[0]}
set -e
echo "conformance: pjdfstest took $(($(date +%s) - start)) s"
exit "$status"
