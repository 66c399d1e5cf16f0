#!/bin/sh
# Makes testdata/previous-etcd.tar.gz: the embedded etcd data dir of the
# release recorded in ../PREVIOUS, after it synced testdata/repo (no agent:
# the pods stay Pending) and stopped on SIGTERM. Run from test/upgrade:
#   sh testdata/make-previous.sh
set -eu
here=$(pwd)
sha=$(cat PREVIOUS)
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	git -C "$here" worktree remove --force "$tmp/src" 2>/dev/null || true
	rm -rf "$tmp" /tmp/bosun-upgrade-testdata
}
trap cleanup EXIT
git -C "$here" worktree add --detach "$tmp/src" "$sha" >/dev/null
(cd "$tmp/src" && go build -trimpath -o "$tmp/bosun" ./cmd/bosun)
# The cluster's repository is stored in etcd by path: a fixed one, which the
# test makes again from testdata/repo.
repo=/tmp/bosun-upgrade-testdata/repo
rm -rf "$repo"
mkdir -p "$repo"
cp testdata/repo/*.yaml "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" add .
git -C "$repo" -c user.name=bosun -c user.email=bosun@example.com commit -qm "the previous release's cluster"
"$tmp/bosun" server --repo "$repo" --data-dir "$tmp/data" --no-agent \
	--insecure-listen 127.0.0.1:16480 --listen 127.0.0.1:16443 \
	--etcd-client-url http://127.0.0.1:16479 --etcd-peer-url http://127.0.0.1:16481 \
	>"$tmp/server.log" 2>&1 &
pid=$!
i=0
until [ "$(curl -sf http://127.0.0.1:16480/api/v1/pods | grep -o '"kind":"Pod"' | wc -l)" -ge 5 ] &&
	curl -sf http://127.0.0.1:16480/api/v1/namespaces/shop/services/web | grep -q clusterIP; do
	i=$((i + 1))
	if [ $i -gt 120 ]; then cat "$tmp/server.log"; echo "the previous release did not sync in 60 s" >&2; exit 1; fi
	sleep 0.5
done
kill -TERM "$pid"
wait "$pid" || true
pid=
tar -C "$tmp/data" -czf testdata/previous-etcd.tar.gz etcd
ls -l testdata/previous-etcd.tar.gz
