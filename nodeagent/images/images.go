package images

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"

	client "github.com/containerd/containerd/v2/client"

	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
)

// Sentinel errors; each maps onto a container waiting reason.
var (
	// ErrNeverPull: the image is not present and the policy is Never
	// (reason ErrImageNeverPull).
	ErrNeverPull = errors.New("image not present with imagePullPolicy Never")
	// ErrPull: pulling the image failed (reason ErrImagePull).
	ErrPull = errors.New("image pull failed")
	// ErrInvalidName: the image reference does not parse (reason
	// InvalidImageName).
	ErrInvalidName = errors.New("invalid image name")
	// ErrNoImages: an imported archive names no image.
	ErrNoImages = errors.New("archive names no image")
)

// LocalDomain is the registry name of images that exist only by import
// (`bosun image import`, `make images`): Pull never contacts it, so no DNS
// query for it leaves the machine.
const LocalDomain = "bosun.local"

// Normalize returns ref as containerd stores it: "nginx" becomes
// "docker.io/library/nginx:latest", "bosun.local/hello:v1" stays.
func Normalize(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("images: %q: %w: %v", ref, ErrInvalidName, err)
	}
	return named.String(), nil
}

// DefaultPolicy returns the imagePullPolicy Kubernetes defaults to for ref:
// Always for the tag latest or no tag (and no digest), IfNotPresent else.
func DefaultPolicy(ref string) corev1.PullPolicy {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return corev1.PullIfNotPresent
	}
	if _, ok := named.(reference.Digested); ok {
		return corev1.PullIfNotPresent
	}
	if t, ok := named.(reference.Tagged); ok && t.Tag() != "latest" {
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

// Import imports the images of an OCI layout or docker archive tarball and
// unpacks them into the overlayfs snapshotter. It returns the image names,
// or ErrNoImages when the archive names none.
func Import(ctx context.Context, c *client.Client, r io.Reader) ([]string, error) {
	imgs, err := c.Import(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("images: import: %w", err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("images: import: %w (an OCI layout needs the annotation org.opencontainers.image.ref.name on its index entries)", ErrNoImages)
	}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := unpack(ctx, client.NewImage(c, img)); err != nil {
			return nil, fmt.Errorf("images: import: %w", err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// Pull pulls ref from its registry and unpacks it into the overlayfs
// snapshotter. opts are added to the pull options (e.g. a resolver with
// credentials). A failure wraps ErrPull and says how to do without a
// registry. Images of LocalDomain are never pulled: that fails at once.
func Pull(ctx context.Context, c *client.Client, ref string, opts ...client.RemoteOpt) (client.Image, error) {
	name, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	if named, _ := reference.ParseNormalizedNamed(name); named != nil && reference.Domain(named) == LocalDomain {
		return nil, fmt.Errorf("images: pull %s: %w: %s images come only from tarballs, there is no such registry (import it with `bosun image import`; `make images` builds the examples)", name, ErrPull, LocalDomain)
	}
	opts = append([]client.RemoteOpt{client.WithPullUnpack, client.WithPullSnapshotter(containerdproc.Snapshotter)}, opts...)
	img, err := c.Pull(ctx, name, opts...)
	if err != nil {
		return nil, fmt.Errorf("images: pull %s: %w: %w (no registry reachable? import it with `bosun image import`)", name, ErrPull, err)
	}
	return img, nil
}

// Ensure makes ref present and unpacked according to policy, with
// Kubernetes' semantics: Never uses the local image or fails with
// ErrNeverPull; IfNotPresent uses the local image or pulls; Always pulls,
// and fails with ErrPull when the pull fails even if the image is present
// (as kubelet does). An empty policy is DefaultPolicy(ref).
func Ensure(ctx context.Context, c *client.Client, ref string, policy corev1.PullPolicy) (client.Image, error) {
	name, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	if policy == "" {
		policy = DefaultPolicy(ref)
	}
	switch policy {
	case corev1.PullAlways:
		return Pull(ctx, c, name)
	case corev1.PullNever, corev1.PullIfNotPresent:
	default:
		return nil, fmt.Errorf("images: %s: unknown imagePullPolicy %q", name, policy)
	}
	img, err := c.GetImage(ctx, name)
	switch {
	case err == nil:
		if err := unpack(ctx, img); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		return img, nil
	case !errdefs.IsNotFound(err):
		return nil, fmt.Errorf("images: get %s: %w", name, err)
	case policy == corev1.PullNever:
		return nil, fmt.Errorf("images: %s: %w; import it with `bosun image import`", name, ErrNeverPull)
	}
	return Pull(ctx, c, name)
}

// unpack unpacks img into the snapshotter unless it already is.
func unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, containerdproc.Snapshotter)
	if err != nil {
		return fmt.Errorf("check unpacked %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, containerdproc.Snapshotter); err != nil {
		return fmt.Errorf("unpack %s: %w", img.Name(), err)
	}
	return nil
}
