#!/usr/bin/env bash
# The whole suite, as `make test` runs it: every step runs even when an
# earlier one fails, each says how long it took, and the summary at the end
# names every failure. Then the leak check: every test must leave nothing
# behind (no mount, process or file), so the suite runs with a TMPDIR of
# its own and looks at what is left in it and who still uses it.
#
# Usage: test/suite.sh STEP...   (each STEP a make target: fmt-check vet unit race)
set -u
cd "$(dirname "$0")/.."

make=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fazt-suite.XXXXXX")
export TMPDIR=$tmp

declare -a names times codes
total_start=$(date +%s)
for step in "$@"; do
	echo "=== $step"
	start=$(date +%s)
	$make --no-print-directory "$step"
	code=$?
	names+=("$step")
	times+=($(($(date +%s) - start)))
	codes+=("$code")
	echo "=== $step: $([ "$code" = 0 ] && echo ok || echo "FAILED (exit $code)") in ${times[-1]} s"
done

# Leaks: mounts below the suite's TMPDIR, processes started from it or
# naming it, and files left in it (t.TempDir and os.MkdirTemp remove theirs).
leaks=()
stray=()
while read -r m; do
	[ -n "$m" ] && leaks+=("mount: $m")
done < <(awk -v t="$tmp" 'index($2, t) == 1 { print $2 }' /proc/mounts)
for pid in $(pgrep -f -- "$tmp" 2>/dev/null); do
	[ "$pid" = "$$" ] && continue
	# Gone since (this script's own awk above, ending): not a leak.
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
	[ -n "$cmd" ] || continue
	leaks+=("process: $pid ${cmd:0:200}")
done
for d in /proc/[0-9]*; do
	cwd=$(readlink "$d/cwd" 2>/dev/null) || continue
	case "$cwd" in "$tmp"*)
		leaks+=("process: ${d#/proc/} (working in $cwd) $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null | cut -c1-200)")
		stray+=("${d#/proc/}")
		;;
	esac
done
while read -r f; do
	[ -n "$f" ] && leaks+=("file: $f")
done < <(find "$tmp" -mindepth 1 -maxdepth 2 ! -name 'go-build*' 2>/dev/null | head -50)

leaked=0
if [ ${#leaks[@]} -gt 0 ]; then
	leaked=1
	echo "=== leaks: what the tests left behind"
	printf '  %s\n' "${leaks[@]}" | sort -u
	# Clean up after them, so that the machine is usable.
	awk -v t="$tmp" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
	{ pgrep -f -- "$tmp"; printf '%s\n' "${stray[@]}"; } | grep -vx "$$" | xargs -r kill -9 2>/dev/null
fi
rm -rf "$tmp" 2>/dev/null

echo
echo "=== summary ($(($(date +%s) - total_start)) s in all)"
failed=0
for i in "${!names[@]}"; do
	status=ok
	if [ "${codes[$i]}" != 0 ]; then
		status=FAILED
		failed=1
	fi
	printf '  %-10s %-7s %5d s\n' "${names[$i]}" "$status" "${times[$i]}"
done
[ $leaked = 1 ] && printf '  %-10s %-7s\n' leaks FAILED
if [ $failed = 1 ] || [ $leaked = 1 ]; then
	echo "FAILED"
	exit 1
fi
echo "all steps passed"
