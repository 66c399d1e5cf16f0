package helm

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/bosun-dev/bosun/manifests"
)

var (
	webID   = manifests.ID{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "guestbook-guestbook"}
	cacheID = manifests.ID{Group: "apps", Kind: "StatefulSet", Namespace: "shop", Name: "guestbook-cache"}
)

// TestSetReplicas checks that scale edits the values leaf that feeds
// spec.replicas, in the last source that sets it, and refuses computed
// replicas naming the template.
func TestSetReplicas(t *testing.T) {
	tests := []struct {
		name    string
		change  func(m fstest.MapFS)
		id      manifests.ID
		want    map[string]string // file -> a line the edited file has
		wantErr []string
	}{
		{name: "last values file wins", id: webID, want: map[string]string{"apps/guestbook/values-prod.yaml": "replicaCount: 5   # three front ends\n"}},
		{name: "inline values of bosun-helm.yaml", id: cacheID, want: map[string]string{"apps/guestbook/bosun-helm.yaml": "    replicas: 5\n"}},
		{name: "chart default", id: webID, change: func(m fstest.MapFS) {
			m["apps/guestbook/values.yaml"].Data = []byte("global:\n  cacheMemory: 64mb\n")
			m["apps/guestbook/values-prod.yaml"].Data = []byte("image:\n  tag: \"1.5.0\"\n")
		}, want: map[string]string{"charts/guestbook/values.yaml": "replicaCount: 5\n"}},
		{name: "computed replicas refused", id: webID, change: func(m fstest.MapFS) {
			f := m["charts/guestbook/templates/deployment.yaml"]
			f.Data = []byte(strings.Replace(string(f.Data), "{{ .Values.replicaCount }}", "{{ add .Values.replicaCount 1 }}", 1))
		}, wantErr: []string{"spec.replicas", "charts/guestbook/templates/deployment.yaml", "computes it"}},
		{name: "encrypted values file refused", id: webID, change: func(m fstest.MapFS) {
			m["apps/guestbook/values-prod.yaml"].Data = append([]byte("#ENC\n"), m["apps/guestbook/values-prod.yaml"].Data...)
		}, wantErr: []string{"apps/guestbook/values-prod.yaml", "encrypted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := repoFS(t)
			if tt.change != nil {
				tt.change(m)
			}
			edits, err := New(Options{Decrypter: fakeDecrypter{}}).SetReplicas(m, "apps/guestbook/bosun-helm.yaml", tt.id, 5)
			checkEdits(t, m, edits, err, tt.want, tt.wantErr)
		})
	}
}

// TestSetImages checks that set image edits the leaves an image is
// composed of, and refuses an image whose parts the template computes.
func TestSetImages(t *testing.T) {
	tests := []struct {
		name    string
		change  func(m fstest.MapFS)
		id      manifests.ID
		images  map[string]string
		want    map[string]string
		wantErr []string
	}{
		{name: "repository and tag", id: webID, images: map[string]string{"web": "ghcr.io/shop/guestbook:2.0.0"},
			want: map[string]string{"apps/guestbook/values-prod.yaml": "  tag: \"2.0.0\"\n", "charts/guestbook/values.yaml": "  repository: ghcr.io/shop/guestbook\n"}},
		{name: "registry with a port", id: webID, images: map[string]string{"web": "registry.local:5000/guestbook:2.0.0"},
			want: map[string]string{"apps/guestbook/values-prod.yaml": "  tag: \"2.0.0\"\n", "charts/guestbook/values.yaml": "  repository: registry.local:5000/guestbook\n"}},
		{name: "one leaf in a subchart", id: cacheID, images: map[string]string{"cache": "registry.example.com/cache:7.4"},
			want: map[string]string{"charts/guestbook/charts/cache/values.yaml": "image: registry.example.com/cache:7.4\n"}},
		{name: "tag from .Chart.AppVersion refused", id: webID, images: map[string]string{"web": "registry.example.com/guestbook:2.0.0"}, change: func(m fstest.MapFS) {
			f := m["charts/guestbook/templates/deployment.yaml"]
			f.Data = []byte(strings.Replace(string(f.Data), "{{ .Values.image.tag }}", "{{ .Chart.AppVersion }}", 1))
		}, wantErr: []string{"charts/guestbook/templates/deployment.yaml", `"zzbosunsentinel0zz:1.4.0"`, "does not fit"}},
		{name: "no such container", id: webID, images: map[string]string{"sidecar": "x:1"}, wantErr: []string{"no containers[name=sidecar].image"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := repoFS(t)
			if tt.change != nil {
				tt.change(m)
			}
			edits, err := New(Options{}).SetImages(m, "apps/guestbook/bosun-helm.yaml", tt.id, tt.images)
			checkEdits(t, m, edits, err, tt.want, tt.wantErr)
		})
	}
}

// checkEdits compares edits with the wanted files and lines (or the
// error with the wanted words), and checks that only the edited scalars
// changed.
func checkEdits(t *testing.T, m fstest.MapFS, edits []manifests.FileEdit, err error, want map[string]string, wantErr []string) {
	t.Helper()
	if wantErr != nil {
		if err == nil {
			t.Fatalf("want an error, got edits %v", edits)
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range edits {
		got[e.Path] = true
		line, ok := want[e.Path]
		if !ok {
			t.Errorf("unexpected edit of %s", e.Path)
			continue
		}
		if !strings.Contains(string(e.Data), line) {
			t.Errorf("%s lacks %q:\n%s", e.Path, line, e.Data)
		}
		before := strings.Split(string(m[e.Path].Data), "\n")
		after := strings.Split(string(e.Data), "\n")
		if len(before) != len(after) {
			t.Errorf("%s: the edit changed the number of lines:\n%s", e.Path, cmp.Diff(before, after))
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("no edit of %s", p)
		}
	}
}
