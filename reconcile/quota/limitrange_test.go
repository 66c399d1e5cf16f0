package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func podWith(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.PodSpec{Containers: containers}}
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "limits"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func TestApplyLimitRanges(t *testing.T) {
	tests := []struct {
		name         string
		pod          *corev1.Pod
		item         corev1.LimitRangeItem
		wantErr      string
		wantRequests corev1.ResourceList // of the first container
		wantLimits   corev1.ResourceList
		wantNote     string
	}{{
		name: "defaults fill what is missing",
		pod:  podWith(ctr("app", nil, rl("memory", "1Gi"))),
		item: corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			Default: rl("cpu", "500m", "memory", "256Mi"), DefaultRequest: rl("cpu", "100m", "memory", "128Mi")},
		wantRequests: rl("cpu", "100m", "memory", "1Gi"), // memory request comes from the limit first
		wantLimits:   rl("cpu", "500m", "memory", "1Gi"),
		wantNote:     "LimitRanger plugin set: cpu request for container app; cpu limit for container app",
	}, {
		name:         "a default limit alone is the default request too",
		pod:          podWith(ctr("app", nil, nil)),
		item:         corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: rl("cpu", "1")},
		wantRequests: rl("cpu", "1"),
		wantLimits:   rl("cpu", "1"),
		wantNote:     "LimitRanger plugin set: cpu request for container app; cpu limit for container app",
	}, {
		name:    "below the minimum",
		pod:     podWith(ctr("app", rl("cpu", "50m"), nil)),
		item:    corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m")},
		wantErr: "minimum cpu usage per Container is 100m, but request is 50m",
	}, {
		name:    "above the maximum",
		pod:     podWith(ctr("app", rl("cpu", "1"), rl("cpu", "2"))),
		item:    corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1")},
		wantErr: "maximum cpu usage per Container is 1, but limit is 2",
	}, {
		name:         "no limit under a max without a default is refused",
		pod:          podWith(ctr("app", rl("memory", "1Gi"), nil)),
		item:         corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "2Gi"), Default: rl("cpu", "1")},
		wantErr:      "", // max becomes the default limit: admitted with limit 2Gi
		wantRequests: rl("cpu", "1", "memory", "1Gi"),
		wantLimits:   rl("cpu", "1", "memory", "2Gi"),
		wantNote:     "LimitRanger plugin set: cpu request for container app; cpu, memory limit for container app",
	}, {
		name:    "limit to request ratio",
		pod:     podWith(ctr("app", rl("cpu", "250m"), rl("cpu", "1"))),
		item:    corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "2")},
		wantErr: "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000",
	}, {
		name:    "pod total above the pod maximum",
		pod:     podWith(ctr("a", rl("memory", "1Gi"), rl("memory", "1Gi")), ctr("b", rl("memory", "1Gi"), rl("memory", "1Gi"))),
		item:    corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("memory", "1536Mi")},
		wantErr: "maximum memory usage per Pod is 1536Mi, but limit is 2Gi",
	}, {
		name: "two failures are joined as Kubernetes joins them",
		pod:  podWith(ctr("app", rl("cpu", "50m", "memory", "10Mi"), nil)),
		item: corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m", "memory", "64Mi")},
		wantErr: "[minimum cpu usage per Container is 100m, but request is 50m, " +
			"minimum memory usage per Container is 64Mi, but request is 10Mi]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ApplyLimitRanges(tt.pod, []*corev1.LimitRange{limitRange(tt.item)})
			if got := errString(err); got != tt.wantErr {
				t.Fatalf("error %q, want %q", got, tt.wantErr)
			}
			if tt.wantErr != "" {
				return
			}
			r := tt.pod.Spec.Containers[0].Resources
			if !equal(r.Requests, tt.wantRequests) || !equal(r.Limits, tt.wantLimits) {
				t.Errorf("requests %v limits %v, want %v and %v", r.Requests, r.Limits, tt.wantRequests, tt.wantLimits)
			}
			if got := tt.pod.Annotations[AnnotationLimitRanger]; got != tt.wantNote {
				t.Errorf("annotation %q, want %q", got, tt.wantNote)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPodUsage(t *testing.T) {
	now := metav1.Now()
	withInit := podWith(ctr("app", rl("cpu", "100m", "memory", "64Mi", "hugepages-2Mi", "4Mi", "example.com/gpu", "1"), rl("cpu", "200m", "memory", "64Mi")),
		ctr("side", rl("cpu", "100m"), nil))
	withInit.Spec.InitContainers = []corev1.Container{ctr("init", rl("cpu", "500m", "memory", "32Mi"), nil)}
	terminal := podWith(ctr("app", rl("cpu", "1"), nil))
	terminal.Status.Phase = corev1.PodFailed
	tests := []struct {
		name string
		pod  *corev1.Pod
		want corev1.ResourceList
	}{{
		name: "the largest init container wins over the app containers' sum",
		pod:  withInit,
		want: rl("count/pods", "1", "pods", "1", "cpu", "500m", "requests.cpu", "500m", "memory", "64Mi", "requests.memory", "64Mi",
			"limits.cpu", "200m", "limits.memory", "64Mi", "hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi", "requests.example.com/gpu", "1"),
	}, {
		name: "a terminal pod is an object count only",
		pod:  terminal,
		want: rl("count/pods", "1"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodUsage(tt.pod, now.Time); !equal(got, tt.want) {
				t.Errorf("PodUsage = %v, want %v", prettyPrint(got), prettyPrint(tt.want))
			}
		})
	}
}
