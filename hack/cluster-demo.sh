#!/usr/bin/env bash
# cluster-demo.sh up|down|status — a three-machine bosun cluster on one host.
#
# Each "machine" is a network namespace (bosun-demo-m1, -m2, -m3) with its own
# address, its own bosun process and its own containerd. A fourth namespace,
# bosun-demo-switch, holds a bridge that joins them: one L2 segment, as three
# machines plugged into one switch. Nothing leaves the host: the segment, pod
# and service ranges get blackhole routes in the host's own namespace.
#
#   up     m1 runs "bosun server" (HTTPS on :6443); "bosun token create" prints
#          a join command; m2 and m3 run it; the hello example's pods spread
#          over the three machines and answer through one Service.
#   down   stops everything and removes what up made (processes, pods,
#          namespaces, routes, $DEMO_DIR).
#   status the nodes and the pods.
#
# Needs root, ip(8), nsenter, containerd, runc and the CNI plugins (make deps),
# and bin/bosun with the example images (make build images). Override the
# ranges if they clash with your network:
#   DEMO_LAN=10.209.0.0/24 DEMO_CLUSTER_CIDR=10.210.0.0/16 DEMO_SERVICE_CIDR=10.211.0.0/20
set -euo pipefail
cd "$(dirname "$0")/.."

LAN=${DEMO_LAN:-10.209.0.0/24}                   # the machines' segment (a /24)
CLUSTER_CIDR=${DEMO_CLUSTER_CIDR:-10.210.0.0/16} # pods: one /24 per node
SERVICE_CIDR=${DEMO_SERVICE_CIDR:-10.211.0.0/20} # Service ClusterIPs
DIR=${DEMO_DIR:-/tmp/bosun-demo}                 # short: containerd's socket path is limited to 107 bytes
BOSUN=$(pwd)/bin/bosun
MACHINES=(m1 m2 m3)
PREFIX=${LAN%.*}                                 # 10.209.0
SWITCH=bosun-demo-switch

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
	echo "cluster-demo: $*" >&2
	if [ -e "/run/netns/$SWITCH" ]; then echo "cluster-demo: $0 down removes what was made" >&2; fi
	exit 1
}
ns() { echo "bosun-demo-$1"; }
ip_of() { echo "$PREFIX.${1#m}"; }              # m2 -> 10.209.0.2
# on MACHINE CMD...: run CMD in the machine's network namespace only
# (nsenter --net keeps /sys and the cgroups, which containerd needs;
# "ip netns exec" would remount /sys).
on() { local m=$1; shift; nsenter --net="/run/netns/$(ns "$m")" -- "$@"; }
admin() { on m1 "$BOSUN" --kubeconfig "$DIR/m1/kubeconfig" "$@"; }

# http_get MACHINE URL: a GET request from inside the machine (curl, or bash's
# /dev/tcp when curl is not installed).
http_get() {
	local m=$1 url=$2
	if command -v curl >/dev/null; then
		on "$m" curl -s --max-time 3 "$url"
		return
	fi
	local hostport=${url#http://}; hostport=${hostport%%/*}
	on "$m" bash -c "exec 3<>/dev/tcp/${hostport%:*}/${hostport#*:} && printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && sed '1,/^\r$/d' <&3"
}

# start MACHINE ARGS...: bosun ARGS in the machine, in the background, with its
# log in $DIR/MACHINE.log and its PID in $DIR/MACHINE.pid.
start() {
	local m=$1; shift
	# nsenter execs bosun: $! is bosun's own PID.
	nsenter --net="/run/netns/$(ns "$m")" -- "$BOSUN" "$@" >"$DIR/$m.log" 2>&1 &
	echo $! >"$DIR/$m.pid"
}

# ready_nodes N, ready_pods N: whether N nodes are Ready, N demo pods ready.
ready_nodes() { [ "$(admin get nodes --no-headers | grep -c ' Ready ')" = "$1" ]; }
ready_pods() { [ "$(admin get pods -n demo --no-headers | grep -c ' 1/1 *Running ')" = "$1" ]; }

# wait_for WHAT SECONDS CMD...: retry CMD every half second.
wait_for() {
	local what=$1 secs=$2; shift 2
	for _ in $(seq $((secs * 2))); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		for pidfile in "$DIR"/m*.pid; do
			[ -f "$pidfile" ] || continue
			if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
				local m; m=$(basename "$pidfile" .pid)
				tail -n 5 "$DIR/$m.log" >&2
				die "bosun on $m exited (log: $DIR/$m.log)"
			fi
		done
		sleep 0.5
	done
	die "timed out after ${secs}s waiting for $what (logs: $DIR/*.log)"
}

up() {
	[ "$(id -u)" -eq 0 ] || die "run as root: the machines are network namespaces and run containers"
	[ -x "$BOSUN" ] || die "bin/bosun is missing: run make build images"
	ls bin/images/*.tar >/dev/null 2>&1 || die "bin/images is empty: run make images"
	[ ! -e "/run/netns/$SWITCH" ] || die "a demo is already up: run $0 down first"
	for cidr in "$LAN" "$CLUSTER_CIDR" "$SERVICE_CIDR"; do
		# A route inside the range, or one covering it other than the default.
		if [ -n "$(ip -4 route show root "$cidr"; ip -4 route show match "$cidr" | grep -v '^default')" ]; then
			die "$cidr is in use on this host: choose other ranges (see the top of $0)"
		fi
	done
	trap 'echo "cluster-demo: up failed; $0 down removes what was made" >&2' ERR

	say "Safety net: blackhole routes for $LAN, $CLUSTER_CIDR and $SERVICE_CIDR in the host's namespace"
	for cidr in "$LAN" "$CLUSTER_CIDR" "$SERVICE_CIDR"; do ip route add blackhole "$cidr"; done

	say "A switch: namespace $SWITCH with bridge br0 (and router address $PREFIX.254)"
	ip netns add "$SWITCH"
	ip -n "$SWITCH" link set lo up
	ip -n "$SWITCH" link add br0 type bridge
	ip -n "$SWITCH" addr add "$PREFIX.254/24" dev br0
	ip -n "$SWITCH" link set br0 up

	for m in "${MACHINES[@]}"; do
		say "Machine $m: namespace $(ns "$m"), eth0 $(ip_of "$m")/24, plugged into the switch"
		ip netns add "$(ns "$m")"
		ip -n "$(ns "$m")" link set lo up
		ip -n "$SWITCH" link add "port-$m" type veth peer name eth0 netns "$(ns "$m")"
		ip -n "$SWITCH" link set "port-$m" master br0 up
		ip -n "$(ns "$m")" addr add "$(ip_of "$m")/24" dev eth0
		ip -n "$(ns "$m")" link set eth0 up
		ip -n "$(ns "$m")" route add default via "$PREFIX.254"
		mkdir -p "$DIR/$m/agent/images"
		cp bin/images/*.tar "$DIR/$m/agent/images/"
	done

	say "A Git repository for the cluster: $DIR/repo (the hello example, at 0 replicas for now)"
	mkdir -p "$DIR/repo"
	cp -r examples/repo/. "$DIR/repo/"
	sed -i 's/replicas: 3/replicas: 0/' "$DIR/repo/apps/hello/deployment.yaml"
	git -C "$DIR/repo" init -q -b main
	git -C "$DIR/repo" add -A
	git -C "$DIR/repo" -c user.name=demo -c user.email=demo@bosun.local commit -qm "The hello example"

	local server=https://$(ip_of m1):6443
	say "m1: bosun server --listen $(ip_of m1):6443 (control plane and m1's own node agent)"
	start m1 server --repo "$DIR/repo" --data-dir "$DIR/m1" \
		--listen "$(ip_of m1):6443" --advertise-address "$(ip_of m1)" \
		--node-name m1 --node-ip "$(ip_of m1)" \
		--cluster-cidr "$CLUSTER_CIDR" --service-cidr "$SERVICE_CIDR"
	wait_for "the server's admin kubeconfig" 60 test -s "$DIR/m1/kubeconfig"
	wait_for "the API" 60 admin get nodes
	echo "The admin kubeconfig is $DIR/m1/kubeconfig (mode 0600): bosun and kubectl use it with --kubeconfig."

	say "m1: bosun token create — it prints the join command"
	local out join
	out=$(admin token create --ttl 1h --description "cluster-demo")
	echo "$out"
	join=$(grep -o 'bosun agent --server .*' <<<"$out") || die "no join command in the output of bosun token create"

	for m in m2 m3; do
		say "$m: $join --node-name $m ..."
		# shellcheck disable=SC2086 # the join command is split into its words on purpose
		start "$m" ${join#bosun } --data-dir "$DIR/$m" --node-name "$m" --node-ip "$(ip_of "$m")" \
			--cluster-cidr "$CLUSTER_CIDR"
	done
	wait_for "three Ready nodes" 120 ready_nodes 3
	admin get nodes

	say "GitOps: commit 6 replicas of hello; the scheduler spreads them over the three machines"
	sed -i 's/replicas: 0/replicas: 6/' "$DIR/repo/apps/hello/deployment.yaml"
	git -C "$DIR/repo" -c user.name=demo -c user.email=demo@bosun.local commit -qam "hello: 6 replicas"
	wait_for "6 ready hello pods" 180 ready_pods 6
	admin get pods -n demo -o wide

	local vip
	vip=$(admin get svc hello -n demo -o json | grep -m1 '"clusterIP"' | cut -d'"' -f4)
	say "Through the Service: 6 requests from m3 to ClusterIP $vip, answered by pods on all machines"
	for _ in 1 2 3 4 5 6; do http_get m3 "http://$vip/" || echo "(no answer: is pod traffic routed between the machines? see $DIR/m3.log)"; done
	say "And the NodePort on m2's address, asked from m1"
	http_get m1 "http://$(ip_of m2):30080/" || echo "(no answer)"

	cat <<MSG

The cluster is up. Try (as root):
  alias m1='nsenter --net=/run/netns/$(ns m1) --'
  m1 $BOSUN --kubeconfig $DIR/m1/kubeconfig get nodes -o wide
  m1 kubectl --kubeconfig $DIR/m1/kubeconfig get pods -A
  m1 $BOSUN --kubeconfig $DIR/m1/kubeconfig token list
  cd $DIR/repo && sed -i 's/replicas: 6/replicas: 9/' apps/hello/deployment.yaml && git commit -qam "9 replicas"
  kill -9 \$(cat $DIR/m3.pid)   # a machine dies: after 40 s it is NotReady, after 5 min its pods move
Logs: $DIR/m1.log (server), $DIR/m2.log, $DIR/m3.log (agents).
Remove everything: $0 down
MSG
}

down() {
	[ "$(id -u)" -eq 0 ] || die "run as root"
	for m in "${MACHINES[@]}"; do
		if [ -f "$DIR/$m.pid" ]; then
			local pid
			pid=$(cat "$DIR/$m.pid")
			if kill "$pid" 2>/dev/null; then
				echo "stopping bosun on $m (PID $pid)"
				for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
				kill -9 "$pid" 2>/dev/null || true
			fi
			rm -f "$DIR/$m.pid"
		fi
	done
	for m in "${MACHINES[@]}"; do
		# Pods, their network namespaces, the pod bridge and bosun's iptables
		# chains: bosun removes what it made, inside the machine.
		if [ -d "$DIR/$m/containerd" ] && [ -e "/run/netns/$(ns "$m")" ] && [ -x "$BOSUN" ]; then
			echo "removing $m's pods"
			on "$m" "$BOSUN" agent --cleanup --data-dir "$DIR/$m" || echo "cluster-demo: cleanup of $m failed; see above" >&2
		fi
	done
	for n in "$(ns m1)" "$(ns m2)" "$(ns m3)" "$SWITCH"; do
		if [ -e "/run/netns/$n" ]; then
			ip netns delete "$n" && echo "deleted namespace $n"
		fi
	done
	for cidr in "$LAN" "$CLUSTER_CIDR" "$SERVICE_CIDR"; do
		ip route del blackhole "$cidr" 2>/dev/null && echo "deleted blackhole route $cidr" || true
	done
	rm -rf "$DIR"
	echo "cluster-demo: down"
}

status() {
	admin get nodes -o wide
	admin get pods -A -o wide
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
