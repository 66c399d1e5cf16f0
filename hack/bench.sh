#!/usr/bin/env bash
# bench.sh runs the benchmarks BENCHMARKS.md quotes and prints their
# figures. BENCH_FILTER limits it to the lines whose package matches.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { # PACKAGE BENCH-REGEXP BENCHTIME
	if [ -n "${BENCH_FILTER:-}" ] && [[ "$1" != *${BENCH_FILTER}* ]]; then return; fi
	echo "== go test $1 -bench '$2' -benchtime $3"
	go test "$1" -run '^$' -bench "$2" -benchtime "$3" -count 1 | grep -E '^(Benchmark|ok|FAIL|---)' || true
}

echo "bosun benchmarks on $(nproc) cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)"
# Issue 2: decode + validate + apply of a 1,000-manifest commit (target <= 2 s).
run ./sync/syncer 'BenchmarkSyncCommit1000' 10x
# Issue 2: a poll that finds nothing new (target <= 20 ms).
run ./sync/syncer 'BenchmarkPollUnchanged' 2s
# Issue 2: commit in a local repository -> visible through the API, median of 20 (target <= 200 ms).
run ./test/e2e 'BenchmarkCommitToAPI' 1x
# The parts, for context.
run ./manifests 'BenchmarkLoad1000' 10x
run ./store 'BenchmarkTxnCreate1000|BenchmarkPutLoop' 5x
run ./sync/gitsource 'BenchmarkFetchUnchanged' 2s

# Issue 3 (the full 30,000-pod run is make bench-scale): the parts.
run ./reconcile/scheduler 'BenchmarkSchedule30000Pods1000Nodes|BenchmarkScheduleAndBind' 3x
run ./reconcile/replicaset 'BenchmarkScaleUp1000' 3x
run ./client/cache 'BenchmarkInformerList30000' 1x
# Issue 4 (root): pod start through the agent, and bosun's runtime vs raw containerd side by side.
run ./test/e2e 'BenchmarkNodePodStart' 1x
run ./nodeagent/runtime/containerd 'BenchmarkPodStart' 1x
run ./nodeagent/network 'BenchmarkSetupTeardown' 20x
# Issues 5 and 15 (root, about 15 minutes): 1,000 and 5,000 Services x 10
# endpoints in nftables and iptables mode: full syncs (first start, restart,
# periodic), one endpoint change (each iteration times 30 changes, so 3x
# gives 90 samples for the median and p90), first-packet latency to the
# first and the last Service. iptables mode at 5,000 runs once: each of its
# full syncs takes minutes. Then one map element changed through nft -f and
# through netlink, the measurement behind nftables mode's choice of library.
run ./nodeagent/proxy 'BenchmarkScale/nftables' 3x
run ./nodeagent/proxy 'BenchmarkScale/iptables/1000' 3x
run ./nodeagent/proxy 'BenchmarkScale/iptables/5000' 1x
run ./nodeagent/proxy 'BenchmarkNFTablesClient' 30x
# Issue 21: a commit arriving during a failing rollout -> the new
# revision's first pod, 2 hollow nodes, median of 10 (target <= 200 ms).
run ./test/e2e 'BenchmarkSupersedeFailingRollout' 1x
# Issue 13: what recording an Event costs the caller.
run ./events 'BenchmarkEventf' 200000x
# Issue 6 (root): push to serving, 10 replicas, median of 10.
run ./test/e2e 'BenchmarkPushToServing' 1x
# Issue 11 (root, about 40 s each): three machines as network namespaces
# (test/e2e's cluster). bosun token create -> the new Node Ready, median of
# 10 first joins (target <= 2 s); request latency from a pod to a pod on
# the same machine and on another, new connections and keep-alive, 2,000
# rounds, with the ratio cross/same.
run ./test/e2e 'BenchmarkClusterJoin$|BenchmarkClusterPodToPod$' 1x
# Issue 11: GET of a pod and LIST of 100 over HTTPS with the admin client
# certificate vs plain HTTP on one server (target tls/plain <= 1.2 with
# keep-alive); newconn adds a full TLS handshake to every request.
run ./apiserver 'BenchmarkAPIOverTLS' 2000x
# Issue 16: a Job of 1,000 completions, parallelism 50, on 100 hollow nodes
# (completions/s) beside a ReplicaSet of 1,000 pods (pods/s) in the same run;
# HPA decision latency (metric crosses the target -> new replica count
# written, default 15 s sync period, median of 11; target <= 15 s);
# a DaemonSet over 1,000 hollow nodes (create -> all available, and a
# template change rolled out with maxUnavailable 10%).
run ./reconcile/job 'BenchmarkJobVsReplicaSet' 1x
run ./reconcile/hpa 'BenchmarkDecisionLatency' 11x
# Issue 18: commit -> applied (render, decode, validate, one etcd
# transaction) of 50 Kustomize overlays over one base (1,000 objects) beside
# the same objects as plain YAML, alternating, medians and their ratio
# (target kustomize/plain <= 2); kustomize's rendering alone beside
# manifests.Load of the plain objects; a 200-object Helm chart render.
run ./sync/syncer 'BenchmarkSyncRender50Overlays' 10x
run ./render/kustomize 'BenchmarkRender50Overlays|BenchmarkLoadPlain1000' 5x
run ./render/helm 'BenchmarkRender200' 10x
if [ -z "${BENCH_FILTER:-}" ] || [[ ./reconcile/daemonset == *${BENCH_FILTER}* ]]; then
	echo "== BOSUN_BENCH_DAEMONSET=1 go test ./reconcile/daemonset -run TestBenchRollout1000"
	BOSUN_BENCH_DAEMONSET=1 go test ./reconcile/daemonset -run TestBenchRollout1000 -count 1 -v | grep -E '(^BENCH|available|FAIL|^ok)' || true
fi
# Issue 23: `bosun install server` (--no-start, into a temporary root) and
# the installed server started as its unit starts it, until READY=1 (the API
# answers); a node with 10 pods swapped from the previous release's binary
# to this one: requests failed during the swap (target 0) and new process
# start -> node Ready (target <= 2 s). Both need root.
run ./test/e2e 'BenchmarkInstallServerToAPI' 5x
run ./test/upgrade 'BenchmarkUpgrade' 3x
