#!/usr/bin/env bash
# run.sh BIN RUN_DIR LISTEN: makes RUN_DIR/repo a Git repository holding a
# copy of examples/repo (once; later runs keep your commits) and runs
# bosun server on it in the foreground.
set -euo pipefail
bin=$1 dir=$2 listen=$3
repo="$dir/repo"
mkdir -p "$dir"
if [ ! -d "$repo/.git" ]; then
	mkdir -p "$repo"
	cp -r examples/repo/. "$repo/"
	git -C "$repo" init -q -b main
	git -C "$repo" add -A
	git -C "$repo" -c user.name="bosun example" -c user.email="example@bosun.local" commit -q -m "Add the hello example"
	echo "run: created the Git repository $repo from examples/repo"
else
	echo "run: using the existing Git repository $repo (make clean starts afresh)"
fi
abs_bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
cat <<MSG

bosun server is starting on http://$listen, syncing $repo.
In another terminal, try:

  export PATH=$(dirname "$abs_bin"):\$PATH BOSUN_SERVER=http://$listen
  bosun get deploy -A                # the Deployment with the commit it came from
  bosun get all -n demo              # everything in the demo namespace
  bosun status                       # which commit runs, and any problems
  cd $repo && sed -i 's/replicas: 3/replicas: 5/' apps/hello/deployment.yaml && git commit -qam "5 replicas"
  bosun get deploy -n demo -o wide   # synced at once: the COMMIT column moved
  bosun history                      # every commit bosun saw

Stop it with Ctrl-C.

MSG
exec "$abs_bin" server --repo "$repo" --data-dir "$dir/data" --listen "$listen"
