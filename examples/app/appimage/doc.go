// Package appimage builds the example app (examples/app) into OCI image
// tarballs that containerd imports without a registry: an OCI image layout
// in a tar, with one layer holding the static binary at /app and /tmp, the
// config's os/architecture set to linux/amd64, Entrypoint ["/app"], port
// 8080 exposed, and the image name in the index annotations
// (org.opencontainers.image.ref.name and io.containerd.image.name) so that
// containerd's Import names the image.
//
// Build writes the three images bosun's demos and tests use:
//
//	paths, err := appimage.Build(ctx, "bin/images")
//	// bin/images/hello-v1.tar      bosun.local/hello:v1
//	// bin/images/hello-v2.tar      bosun.local/hello:v2
//	// bin/images/hello-broken.tar  bosun.local/hello:broken (exits 1 at start)
//
// It runs `go build` for examples/app (CGO_ENABLED=0, -trimpath,
// linux/amd64), so it needs the go tool and a working directory inside
// bosun's module, as `go run ./hack/mkimage` and `go test` provide.
package appimage
