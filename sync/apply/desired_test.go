package apply_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/apply"
)

// TestDesiredSourceAnnotations checks the source and rendered-by
// annotations of plain and rendered objects.
func TestDesiredSourceAnnotations(t *testing.T) {
	tests := []struct {
		name         string
		m            manifests.Object
		source, by   string
		wantRendered bool
	}{
		{name: "plain", m: manifests.Object{File: "apps/web.yaml", Line: 12}, source: "apps/web.yaml:12"},
		{name: "kustomize", m: manifests.Object{File: "base/web.yaml", Line: 3, RenderedBy: "overlays/prod/kustomization.yaml"},
			source: "base/web.yaml:3", by: "overlays/prod/kustomization.yaml", wantRendered: true},
		{name: "line unknown", m: manifests.Object{File: "charts/web/templates/web.yaml", RenderedBy: "apps/web/bosun-helm.yaml"},
			source: "charts/web/templates/web.yaml", by: "apps/web/bosun-helm.yaml", wantRendered: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.Obj = &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}}
			o, err := apply.Desired(tc.m, "abc")
			if err != nil {
				t.Fatal(err)
			}
			ann := o.GetAnnotations()
			if ann[api.AnnotationSource] != tc.source {
				t.Errorf("source = %q, want %q", ann[api.AnnotationSource], tc.source)
			}
			by, ok := ann[api.AnnotationRenderedBy]
			if by != tc.by || ok != tc.wantRendered {
				t.Errorf("rendered-by = %q (%v), want %q", by, ok, tc.by)
			}
		})
	}
}
