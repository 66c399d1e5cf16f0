#!/usr/bin/env bash
# deps.sh installs the system packages bosun and its tests need, and only
# those that are missing: git, containerd, runc, the CNI plugins, iptables,
# iproute2, nftables (the proxy's default mode), gnupg and
# openssh-client (the signed-commit tests sign with gpg and ssh-keygen), and kubectl
# (Debian's kubernetes-client, for the API compatibility test; an existing
# kubectl of another build is kept). It uses apt-get (Debian/Ubuntu) and needs root to install.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have git || need+=(git)
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
have ip || need+=(iproute2)
have nft || need+=(nftables)
have gpg || need+=(gnupg)
have ssh-keygen || need+=(openssh-client)
have kubectl || need+=(kubernetes-client)

if ! have go; then
	echo "deps: Go is not installed. bosun needs Go >= 1.26 (https://go.dev/dl/); put it on PATH and run again." >&2
	exit 1
fi

if [ ${#need[@]} -eq 0 ]; then
	echo "deps: all system packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
	echo "deps: missing packages: ${need[*]}" >&2
	echo "deps: run 'make deps' as root on Debian/Ubuntu, or install them with your package manager." >&2
	# Unit tests still run; end-to-end tests say which dependency they miss.
	[ -n "${CI:-}" ] && exit 1
	exit 0
fi

echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
