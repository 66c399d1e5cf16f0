package volumes

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/nodeagent/podenv"
)

// downwardAPIFiles computes the files of a downwardAPI volume (or of a
// projected volume's downwardAPI source, what names it in errors): each
// item's fieldRef or resourceFieldRef value, with its mode or the default.
func (m *Manager) downwardAPIFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32, what string) (map[string]file, error) {
	mode := os.FileMode(defaultFileMode)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode) & 0o777
	}
	out := map[string]file{}
	for i, it := range items {
		field := fmt.Sprintf("%s.items[%d]", what, i)
		p, err := itemPath(it.Path)
		if err != nil {
			return nil, podenv.ConfigErrorf("%s: %v", field, err)
		}
		var val string
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			return nil, podenv.ConfigErrorf("%s: fieldRef and resourceFieldRef may not both be set", field)
		case it.FieldRef != nil:
			if val, err = podenv.VolumeFieldValue(pod, it.FieldRef.FieldPath); err != nil {
				return nil, podenv.ConfigErrorf("%s: %v", field, err)
			}
		case it.ResourceFieldRef != nil:
			if it.ResourceFieldRef.ContainerName == "" {
				return nil, podenv.ConfigErrorf("%s: resourceFieldRef.containerName is required in a volume", field)
			}
			if val, err = podenv.ResourceFieldValue(pod, nil, it.ResourceFieldRef, m.cfg.Allocatable); err != nil {
				return nil, podenv.ConfigErrorf("%s: %v", field, err)
			}
		default:
			return nil, podenv.ConfigErrorf("%s: one of fieldRef or resourceFieldRef must be set", field)
		}
		fm := mode
		if it.Mode != nil {
			fm = os.FileMode(*it.Mode) & 0o777
		}
		out[p] = file{data: []byte(val), mode: fm}
	}
	return out, nil
}

// projectedFiles computes the files of a projected volume: its sources in
// order, a later one replacing an earlier one's file of the same path.
func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource, objs Objects) (map[string]file, error) {
	out := map[string]file{}
	for i, s := range src.Sources {
		field := fmt.Sprintf("projected.sources[%d]", i)
		var files map[string]file
		var err error
		switch {
		case s.ConfigMap != nil:
			files, err = configMapFiles(ctx, &corev1.ConfigMapVolumeSource{LocalObjectReference: s.ConfigMap.LocalObjectReference,
				Items: s.ConfigMap.Items, DefaultMode: src.DefaultMode, Optional: s.ConfigMap.Optional}, objs)
		case s.Secret != nil:
			files, err = secretFiles(ctx, &corev1.SecretVolumeSource{SecretName: s.Secret.Name,
				Items: s.Secret.Items, DefaultMode: src.DefaultMode, Optional: s.Secret.Optional}, objs)
		case s.DownwardAPI != nil:
			files, err = m.downwardAPIFiles(pod, s.DownwardAPI.Items, src.DefaultMode, "downwardAPI")
		case s.ServiceAccountToken != nil:
			return nil, podenv.ConfigErrorf("%s.serviceAccountToken: service account tokens are not supported by bosun yet: "+
				"remove the source (or set automountServiceAccountToken: false where it was added for you)", field)
		case s.ClusterTrustBundle != nil:
			return nil, podenv.ConfigErrorf("%s.clusterTrustBundle: cluster trust bundles are not supported by bosun: "+
				"put the certificates in a configMap source", field)
		default:
			return nil, podenv.ConfigErrorf("%s: %s sources are not supported by bosun: use configMap, secret or downwardAPI",
				field, jsonFieldName(s))
		}
		if err != nil {
			if msg, ok := podenv.IsConfigError(err); ok {
				return nil, podenv.ConfigErrorf("%s: %s", field, msg)
			}
			return nil, err
		}
		for p, f := range files {
			out[p] = f
		}
	}
	return out, nil
}
