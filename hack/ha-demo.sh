#!/usr/bin/env bash
# ha-demo.sh up|down|status — a three-server bosun control plane on loopback.
#
#   up     s1 starts with --cluster-init (the first etcd member); "bosun token
#          create --control-plane" makes a server token; s2 and s3 join with
#          "bosun server --join"; three hollow nodes (bosun hollow) run the
#          example's pods. Then it prints the members and what to try.
#   down   stops the processes up started and removes $HA_DEMO_DIR.
#   status the etcd members, the sync status and the nodes.
#
# No root needed: every server listens on 127.0.0.1 (the HTTPS API on
# 6443-6445, plain HTTP for the CLI on 6781-6783, etcd on 2379-2384) and
# runs the control plane only (--no-agent). Needs git and bin/bosun (made
# with go build when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${HA_DEMO_DIR:-/tmp/bosun-ha-demo}
BOSUN=$(pwd)/bin/bosun
SERVERS=(s1 s2 s3)

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "ha-demo: $*" >&2; exit 1; }

# Ports of server sN.
n_of() { echo "${1#s}"; }
api_port() { echo $((6442 + $(n_of "$1"))); }            # 6443, 6444, 6445
http_port() { echo $((6780 + $(n_of "$1"))); }           # 6781, 6782, 6783
etcd_client_port() { echo $((2377 + 2 * $(n_of "$1"))); } # 2379, 2381, 2383
etcd_peer_port() { echo $((2378 + 2 * $(n_of "$1"))); }   # 2380, 2382, 2384
http_url() { echo "http://127.0.0.1:$(http_port "$1")"; }

# start NAME ARGS...: bosun ARGS in the background, its log in $DIR/NAME.log
# and its PID in $DIR/NAME.pid.
start() {
	local name=$1; shift
	"$BOSUN" "$@" >>"$DIR/$name.log" 2>&1 &
	echo $! >"$DIR/$name.pid"
}

# alive NAME: the process of $DIR/NAME.pid runs and is ours (its command
# line names $DIR).
alive() {
	local pid
	pid=$(cat "$DIR/$1.pid" 2>/dev/null) || return 1
	[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR"
}

# wait_ready NAME: until the server's API answers /readyz (60 s).
wait_ready() {
	for _ in $(seq 600); do
		alive "$1" || die "$1 exited; see $DIR/$1.log"
		if "$BOSUN" --server "$(http_url "$1")" status >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	die "$1 did not become ready in 60 s; see $DIR/$1.log"
}

# server NAME ARGS...: bosun server NAME on its ports with the demo's repo.
server() {
	local name=$1; shift
	start "$name" server --repo "$DIR/repo" --data-dir "$DIR/$name" --no-agent \
		--listen "127.0.0.1:$(api_port "$name")" --insecure-listen "127.0.0.1:$(http_port "$name")" \
		--etcd-name "$name" \
		--etcd-client-url "https://127.0.0.1:$(etcd_client_port "$name")" \
		--etcd-peer-url "https://127.0.0.1:$(etcd_peer_port "$name")" "$@"
	wait_ready "$name"
}

members() { "$BOSUN" member list --data-dir "$DIR/$1" --etcd-endpoints "https://127.0.0.1:$(etcd_client_port "$1")"; }

# json_field NAME: the string field NAME of the JSON object on stdin.
json_field() { grep -o "\"$1\": *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }

up() {
	[ -e "$DIR" ] && die "$DIR exists: run $0 down first"
	command -v git >/dev/null || die "git is not installed (make deps)"
	if [ ! -x "$BOSUN" ]; then
		say "Building bin/bosun"
		go build -trimpath -o "$BOSUN" ./cmd/bosun
	fi
	mkdir -p "$DIR/repo"
	cp -r examples/repo/. "$DIR/repo/"
	git -C "$DIR/repo" init -q -b main
	git -C "$DIR/repo" add -A
	git -C "$DIR/repo" -c user.name="bosun example" -c user.email="example@bosun.local" commit -q -m "Add the hello example"

	say "s1: bosun server --cluster-init (the first etcd member, TLS)"
	server s1 --cluster-init
	say "A server token, to grow the control plane"
	local tok token hash
	tok=$("$BOSUN" --server "$(http_url s1)" token create --control-plane -o json)
	token=$(json_field token <<<"$tok")
	hash=$(json_field caCertHash <<<"$tok")
	[ -n "$token" ] && [ -n "$hash" ] || die "token create --control-plane printed no token: $tok"
	for s in s2 s3; do
		say "$s: bosun server --join https://127.0.0.1:$(api_port s1) --token ... --ca-cert-hash $hash"
		server "$s" --join "https://127.0.0.1:$(api_port s1)" --token "$token" --ca-cert-hash "$hash"
	done
	say "Three hollow nodes (bosun hollow) run the example's pods, through s2"
	start hollow hollow --server "$(http_url s2)" --nodes 3
	say "The etcd members"
	members s1
	cat <<MSG

Three servers run on loopback; logs and PIDs are in $DIR. Try:

  export PATH=$(dirname "$BOSUN"):\$PATH
  bosun --server $(http_url s2) get pods -n demo -o wide    # pods on the hollow nodes
  bosun member list --data-dir $DIR/s1 --etcd-endpoints https://127.0.0.1:$(etcd_client_port s1)
  kill -9 \$(cat $DIR/s1.pid)                                 # the first server dies
  cd $DIR/repo && sed -i 's/replicas: 3/replicas: 5/' apps/hello/deployment.yaml && git commit -qam "5 replicas"
  bosun --server $(http_url s3) status                      # another server synced it
  bosun --server $(http_url s3) get deploy -n demo          # 5 replicas

$0 status shows the members and the nodes; $0 down stops everything.
MSG
}

status() {
	for s in "${SERVERS[@]}"; do
		if alive "$s"; then
			say "etcd members, as $s sees them"
			members "$s" || true
			say "sync status (through $s)"
			"$BOSUN" --server "$(http_url "$s")" status || true
			"$BOSUN" --server "$(http_url "$s")" get nodes || true
			return
		fi
	done
	die "no server of the demo runs"
}

down() {
	for p in hollow "${SERVERS[@]}"; do
		if alive "$p"; then
			kill "$(cat "$DIR/$p.pid")" 2>/dev/null || true
		fi
	done
	for p in hollow "${SERVERS[@]}"; do
		for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
		if alive "$p"; then kill -9 "$(cat "$DIR/$p.pid")" 2>/dev/null || true; fi
	done
	rm -rf "$DIR"
	echo "ha-demo: stopped and removed $DIR"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
