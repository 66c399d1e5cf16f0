// Package kustomizetest builds Kustomize repositories for tests and
// benchmarks of the packages that render them.
package kustomizetest

import (
	"fmt"
	"strings"
)

// OverlayTree returns a Kustomize repository under root (a slash path,
// "" for the tree's root) as file name -> content: a base of 10
// Deployments and 9 Services, and n overlays over it, each with a
// namePrefix, a namespace, its own Namespace object, an images: entry and
// a strategic merge patch: 20*n objects in all. Every object carries
// generation gen in a label, so two calls with different gen differ in
// every object.
func OverlayTree(root string, n, gen int) map[string]string {
	var deps, svcs strings.Builder
	for i := range 10 {
		fmt.Fprintf(&deps, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app%d
  labels: {generation: "%d"}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app%d}
  template:
    metadata:
      labels: {app: app%d}
    spec:
      containers:
        - name: main
          image: registry.local/app%d:1.0
          ports:
            - containerPort: 8080
`, i, gen, i, i, i)
		if i == 9 {
			continue
		}
		fmt.Fprintf(&svcs, `---
apiVersion: v1
kind: Service
metadata:
  name: app%d
  labels: {generation: "%d"}
spec:
  selector: {app: app%d}
  ports:
    - port: 80
      targetPort: 8080
`, i, gen, i)
	}
	if root != "" {
		root += "/"
	}
	files := map[string]string{
		root + "base/kustomization.yaml": "resources:\n  - deployments.yaml\n  - services.yaml\n",
		root + "base/deployments.yaml":   deps.String(),
		root + "base/services.yaml":      svcs.String(),
	}
	for o := range n {
		dir := fmt.Sprintf("%soverlays/o%02d", root, o)
		files[dir+"/kustomization.yaml"] = fmt.Sprintf(`namePrefix: o%02d-
namespace: team%02d
resources:
  - namespace.yaml
  - ../../base
patches:
  - path: scale.yaml
images:
  - name: registry.local/app0
    newTag: "2.%d"
`, o, o, o)
		files[dir+"/namespace.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team%02d\n  labels: {generation: \"%d\"}\n", o, gen)
		files[dir+"/scale.yaml"] = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app0\nspec:\n  replicas: 3\n"
	}
	return files
}
