// Package images puts container images into bosun's containerd: imported
// from tarballs (there is no registry on a bosun machine by default) or
// pulled from a registry, and always unpacked into the overlayfs snapshotter
// so that containers can be created from them at once.
//
// Ensure is what the node agent calls for a container's image, with the
// container's imagePullPolicy, as kubelet does:
//
//	img, err := images.Ensure(ctx, c, "bosun.local/hello:v1", corev1.PullIfNotPresent)
//	switch {
//	case errors.Is(err, images.ErrNeverPull):   // reason ErrImageNeverPull
//	case errors.Is(err, images.ErrInvalidName): // reason InvalidImageName
//	case errors.Is(err, images.ErrPull):        // reason ErrImagePull, then ImagePullBackOff
//	}
//
// `bosun image import FILE.tar` and `make run` use Import:
//
//	f, _ := os.Open("bin/images/hello-v1.tar")
//	names, err := images.Import(ctx, c, f) // ["bosun.local/hello:v1"]
//
// The agent imports every tarball of its images directory at start:
//
//	names, err = images.ImportDir(ctx, c, "/var/lib/bosun/agent/images", logger)
//
// Import accepts OCI image layout tarballs whose index names the images
// (annotation org.opencontainers.image.ref.name or io.containerd.image.name,
// as examples/app/appimage writes) and `docker save` archives. Names are
// normalized as Kubernetes does ("nginx" is docker.io/library/nginx:latest).
package images
