#!/usr/bin/env bash
# stop-run.sh BIN RUN_DIR: stops the bosun server that make run started
# (hack/run.sh runs "BIN server ... --data-dir RUN_DIR/data" from the
# repository's top directory), so that make clean can remove what it made.
# The server is found in /proc by its program, its "server" subcommand, its
# --data-dir and its working directory; it gets SIGTERM (as Ctrl-C would),
# and SIGKILL if it has not exited after STOP_TIMEOUT seconds (default 30).
# Nothing running is fine.
set -euo pipefail
bin=$1 dir=$2
timeout=${STOP_TIMEOUT:-30}
here=$(pwd -P)
case $bin in
/*) abs_bin=$bin ;;
*) abs_bin=$here/${bin#./} ;;
esac

# is_run_server PID: PID is BIN server with --data-dir RUN_DIR/data, run here.
is_run_server() {
	local p=/proc/$1 cwd exe args i
	cwd=$(readlink "$p/cwd" 2>/dev/null) || return 1
	[ "$cwd" = "$here" ] || return 1
	exe=$(readlink "$p/exe" 2>/dev/null) || return 1
	# A rebuilt binary shows as "BIN (deleted)".
	[ "${exe% (deleted)}" = "$abs_bin" ] || return 1
	mapfile -d '' args <"$p/cmdline" 2>/dev/null || return 1
	[ "${args[1]:-}" = server ] || return 1
	for ((i = 2; i + 1 < ${#args[@]}; i++)); do
		if [ "${args[i]}" = --data-dir ]; then
			case "${args[i + 1]}" in
			"$dir/data" | "$here/$dir/data") return 0 ;;
			esac
		fi
	done
	return 1
}

pids=()
for p in /proc/[0-9]*; do
	pid=${p#/proc/}
	if is_run_server "$pid"; then
		pids+=("$pid")
	fi
done
[ ${#pids[@]} -gt 0 ] || exit 0

echo "clean: stopping make run's bosun server (pid ${pids[*]})"
kill -TERM "${pids[@]}" 2>/dev/null || true
alive() {
	local pid
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then return 0; fi
	done
	return 1
}
for ((t = 0; t < timeout * 10; t++)); do
	alive || exit 0
	sleep 0.1
done
echo "clean: bosun server (pid ${pids[*]}) still running after ${timeout}s; killing it"
kill -KILL "${pids[@]}" 2>/dev/null || true
for ((t = 0; t < 50; t++)); do
	alive || exit 0
	sleep 0.1
done
echo "clean: bosun server (pid ${pids[*]}) does not exit; stop it by hand, then run make clean again" >&2
exit 1
