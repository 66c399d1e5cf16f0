package containerd

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/nodeagent/images"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// normalize turns an image as written in a pod spec ("nginx") into the
// name containerd stores ("docker.io/library/nginx:latest").
func normalize(image string) (string, error) { return images.Normalize(image) }

// image returns a present image, unpacked into the runtime's snapshotter;
// ErrNotFound when it is absent.
func (r *Runtime) image(ctx context.Context, name string) (containerd.Image, error) {
	ref, err := normalize(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrNotFound, err)
	}
	img, err := r.client.GetImage(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %q: %w", name, runtime.ErrNotFound)
		}
		return nil, fmt.Errorf("image %q: %w", name, err)
	}
	unpacked, err := img.IsUnpacked(ctx, r.snapshotter)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", name, err)
	}
	if !unpacked {
		if err := img.Unpack(ctx, r.snapshotter); err != nil {
			return nil, fmt.Errorf("image %q: unpack: %w", name, err)
		}
	}
	return img, nil
}

// PullImage makes image present with images.Ensure and policy
// IfNotPresent: an image already in containerd is used as it is (images
// imported from tarballs have no registry), others are pulled; the agent
// applies imagePullPolicy Always and Never itself (ImageStatus, then
// PullImage, or images.Ensure directly). It returns the image's digest.
// Errors wrap ErrImagePull.
func (r *Runtime) PullImage(ctx context.Context, image string) (string, error) {
	ctx = r.withNS(ctx)
	ref, err := normalize(image)
	if err != nil {
		return "", fmt.Errorf("containerd runtime: pull: %w: %w", runtime.ErrImagePull, err)
	}
	img, err := images.Ensure(ctx, r.client, ref, corev1.PullIfNotPresent)
	if err != nil {
		return "", fmt.Errorf("containerd runtime: pull %q: %w: %w", image, runtime.ErrImagePull, err)
	}
	return img.Target().Digest.String(), nil
}

// ImageStatus returns a present image; ErrNotFound when it is absent.
func (r *Runtime) ImageStatus(ctx context.Context, image string) (runtime.Image, error) {
	ctx = r.withNS(ctx)
	ref, err := normalize(image)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("containerd runtime: image status: %w: %w", runtime.ErrNotFound, err)
	}
	img, err := r.client.GetImage(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return runtime.Image{}, fmt.Errorf("containerd runtime: image %q: %w", image, runtime.ErrNotFound)
		}
		return runtime.Image{}, fmt.Errorf("containerd runtime: image %q: %w", image, err)
	}
	size, err := img.Size(ctx)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("containerd runtime: image %q: size: %w", image, err)
	}
	return runtime.Image{ID: img.Target().Digest.String(), RepoTags: []string{img.Name()}, Size: size}, nil
}
