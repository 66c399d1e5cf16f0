#!/usr/bin/env bash
# loaded-proof.sh [COMMIT] — issue 22's proof: "make test" five times in a
# row while "make bench-scale" loops beside it on the same machine.
#
# It checks COMMIT (default HEAD) out in a detached worktree
# ($PROOF_DIR, default /tmp/bosun-proof), loops make bench-scale there in
# the background until the five runs are done, and writes each run's exit
# code, duration and load average to $PROOF_DIR.out (logs beside it).
# Run it as root on an otherwise idle machine; it takes about 75 minutes
# on 2 cores.
set -u
cd "$(dirname "$0")/.."
commit=$(git rev-parse "${1:-HEAD}")
dir=${PROOF_DIR:-/tmp/bosun-proof}
out=$dir.out
stop=$dir.stop
rm -f "$stop"
git worktree remove --force "$dir" 2>/dev/null
git worktree add --detach "$dir" "$commit" >/dev/null || exit 1
echo "proof on $commit, started $(date -u +%FT%TZ)" > "$out"
(
	cd "$dir"
	i=0
	while [ ! -f "$stop" ]; do
		i=$((i + 1))
		make bench-scale > "$dir.scale-$i.log" 2>&1
		echo "bench-scale $i rc=$? $(date -u +%T)" >> "$out"
	done
) &
bg=$!
failed=0
for i in 1 2 3 4 5; do
	s=$(date +%s)
	(cd "$dir" && make test > "$dir.test-$i.log" 2>&1)
	rc=$?
	echo "make test $i rc=$rc $(($(date +%s) - s)) s, load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)" >> "$out"
	if [ $rc -ne 0 ]; then
		failed=1
		break
	fi
done
touch "$stop"
wait $bg
[ $failed -eq 0 ] && echo "done: 5 of 5 passed" >> "$out" || echo "done: a run failed (see $dir.test-$i.log)" >> "$out"
cat "$out"
exit $failed
