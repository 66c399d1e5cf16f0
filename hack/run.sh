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
# The API listens on every interface by default, so its Git webhook needs
# a secret (bosun refuses to serve one without it there): made once.
secret_file="$dir/webhook-secret"
if [ ! -s "$secret_file" ]; then
	(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$secret_file")
fi
# The agent imports every tarball in <data-dir>/agent/images when it starts.
mkdir -p "$dir/data/agent/images"
cp bin/images/*.tar "$dir/data/agent/images/"
abs_bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
if [ "$(id -u)" -ne 0 ]; then
	echo "run: bosun's node agent runs containers and needs root; starting the control plane only (--no-agent)."
	echo "run: run make run as root to see the pods come up."
	agent_flag=--no-agent
fi
cat <<MSG

bosun server is starting on https://$listen, syncing $repo,
with its own containerd and a node agent on this machine. It writes the
admin credential to $dir/data/kubeconfig. In another terminal, try:

  export PATH=$(dirname "$abs_bin"):\$PATH KUBECONFIG=$(cd "$dir" && pwd)/data/kubeconfig
  bosun get pods -n demo -o wide     # three hello pods, Running, with their IPs
  curl \$(bosun get svc hello -n demo -o json | grep -m1 '"clusterIP"' | cut -d'"' -f4)
                                     # the ClusterIP Service, balanced over the pods
  curl \$(hostname -I | cut -d' ' -f1):30080   # the NodePort Service, on the node's address
  bosun logs deploy/hello -n demo    # a pod's output
  bosun status                       # which commit runs, and any problems
  cd $repo && sed -i 's/replicas: 3/replicas: 5/' apps/hello/deployment.yaml && git commit -qam "5 replicas"
  bosun get deploy -n demo           # synced at once: 5 replicas, the COMMIT column moved
  bosun history                      # every commit bosun saw
  kubectl get nodes                  # kubectl uses the same kubeconfig
  bosun token create                 # the command that joins another machine
  cp -r $PWD/examples/kustomize $repo/shop && git -C $repo add -A && git -C $repo commit -qm "shop"
  bosun get deploy -A                # Kustomize overlays: prod-hello (3) and staging-hello (1),
                                     # and the prod overlay's SOPS-encrypted Secret, decrypted

The Git webhook (POST /hooks/git) takes the secret in $secret_file.

Stop it with Ctrl-C (pods keep running, as with kubelet; make run adopts
them again). make clean stops it if it runs, then removes the pods, the
network and the state.

MSG
# The demo age key decrypts examples/kustomize's encrypted Secret, for the
# tour; a real server gets its own key (README, "Encrypted Secrets").
exec "$abs_bin" server --repo "$repo" --data-dir "$dir/data" --listen "$listen" --webhook-secret-file "$secret_file" \
	--sops-age-key-file examples/kustomize/demo-age.key ${agent_flag:-}
