package podenv_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent/podenv"
)

func downwardPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1",
			Labels:      map[string]string{"tier": "front", "app": "web"},
			Annotations: map[string]string{"note": `say "hi"`}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}}}},
			Containers: []corev1.Container{
				{Name: "app", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
					Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}},
				{Name: "side"},
			},
		},
	}
}

func TestResourceFieldValue(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("10Gi")}
	for _, tc := range []struct {
		name, ctr, resource, divisor string
		want, err                    string
	}{
		{name: "cpu limit rounded up to cores", ctr: "app", resource: "limits.cpu", want: "1"},
		{name: "cpu limit in millicores", ctr: "app", resource: "limits.cpu", divisor: "1m", want: "250"},
		{name: "unset cpu limit is the node's allocatable", ctr: "side", resource: "limits.cpu", want: "2"},
		{name: "unset memory limit is the node's allocatable", ctr: "side", resource: "limits.memory", divisor: "1Mi", want: "4096"},
		{name: "unset ephemeral-storage limit", ctr: "side", resource: "limits.ephemeral-storage", divisor: "1Gi", want: "10"},
		{name: "ephemeral-storage request", ctr: "app", resource: "requests.ephemeral-storage", divisor: "1Mi", want: "1024"},
		{name: "unset request is 0", ctr: "side", resource: "requests.memory", want: "0"},
		{name: "an init container", ctr: "init", resource: "limits.memory", divisor: "1Mi", want: "32"},
		{name: "unknown container", ctr: "nope", resource: "limits.cpu", err: `containerName "nope": no such container`},
		{name: "unknown resource", ctr: "app", resource: "limits.gpu", err: `resource "limits.gpu" is not supported`},
		{name: "hugepages", ctr: "app", resource: "requests.hugepages-2Mi", err: "is not supported"},
		{name: "a negative divisor", ctr: "app", resource: "limits.cpu", divisor: "-1", err: "must be at least 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{ContainerName: tc.ctr, Resource: tc.resource}
			if tc.divisor != "" {
				ref.Divisor = resource.MustParse(tc.divisor)
			}
			got, err := podenv.ResourceFieldValue(downwardPod(), nil, ref, alloc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestVolumeFieldValue(t *testing.T) {
	for _, tc := range []struct {
		path, want, err string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "shop"},
		{path: "metadata.uid", want: "u1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: `note="say \"hi\""`},
		{path: "metadata.labels['tier']", want: "front"},
		{path: "metadata.annotations['note']", want: `say "hi"`},
		{path: "status.podIP", err: `fieldRef.fieldPath "status.podIP" is not supported in a volume`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, err := podenv.VolumeFieldValue(downwardPod(), tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
