#!/usr/bin/env bash
# openapi-gen.sh regenerates apiserver/openapi/zz_generated.openapi.go: the
# OpenAPI schemas of the k8s.io/api types bosun serves, made by kube-openapi's
# openapi-gen at the kube-openapi version go.mod pins. Run it (or
# `go generate ./apiserver/openapi/`) after a k8s.io/api upgrade or when a
# package of types is served for the first time (add it to PACKAGES).
set -euo pipefail
cd "$(dirname "$0")/.."

# The packages whose types the API serves, and the apimachinery packages
# those types refer to. Keep this list to what is served: every package
# adds its every type to the generated file.
PACKAGES="
k8s.io/api/core/v1
k8s.io/api/apps/v1
k8s.io/api/batch/v1
k8s.io/api/autoscaling/v2
k8s.io/api/scheduling/v1alpha3
k8s.io/api/discovery/v1
k8s.io/api/coordination/v1
k8s.io/api/policy/v1
k8s.io/api/events/v1
k8s.io/apimachinery/pkg/apis/meta/v1
k8s.io/apimachinery/pkg/runtime
k8s.io/apimachinery/pkg/util/intstr
k8s.io/apimachinery/pkg/api/resource
k8s.io/apimachinery/pkg/version
"

version=$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '// Copyright The bosun authors.\n\n' >"$tmp/header.txt"

# The API rule report lists naming quirks of k8s.io/api itself (which
# kube-apiserver keeps in an exceptions list); they are not ours to fix.
# shellcheck disable=SC2086 # PACKAGES is a list of words
go run "k8s.io/kube-openapi/cmd/openapi-gen@$version" \
	--output-dir apiserver/openapi \
	--output-pkg github.com/bosun-dev/bosun/apiserver/openapi \
	--output-file zz_generated.openapi.go \
	--go-header-file "$tmp/header.txt" \
	--report-filename "$tmp/violations.txt" \
	$PACKAGES
