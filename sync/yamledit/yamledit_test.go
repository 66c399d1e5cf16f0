package yamledit

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the .golden files")

// changed returns what was removed from before and inserted into after,
// outside their common prefix and suffix.
func changed(before, after []byte) (removed, inserted string) {
	p := 0
	for p < len(before) && p < len(after) && before[p] == after[p] {
		p++
	}
	s := 0
	for s < len(before)-p && s < len(after)-p && before[len(before)-1-s] == after[len(after)-1-s] {
		s++
	}
	return string(before[p : len(before)-s]), string(after[p : len(after)-s])
}

func TestEdits(t *testing.T) {
	tests := []struct {
		name string
		file string
		edit func([]byte) ([]byte, error)
		// removed and inserted are the only bytes that may change.
		removed, inserted string
	}{
		{
			name:    "replicas-multidoc",
			file:    "multidoc.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetReplicas(b, "Deployment", "", "web", 4) },
			removed: "2", inserted: "4",
		},
		{
			name:    "replicas-other-namespace",
			file:    "multidoc.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetReplicas(b, "Deployment", "shop", "web", 10) },
			removed: "7", inserted: "10",
		},
		{
			name: "image-double-quoted",
			file: "multidoc.yaml",
			edit: func(b []byte) ([]byte, error) {
				return SetImage(b, "Deployment", "default", "web", "app", "registry.local/web:v2")
			},
			removed: "1", inserted: "2",
		},
		{
			name: "image-plain",
			file: "multidoc.yaml",
			edit: func(b []byte) ([]byte, error) {
				return SetImage(b, "Deployment", "default", "web", "sidecar", "proxy@sha256:abc")
			},
			removed: "registry.local/proxy:1.0", inserted: "proxy@sha256:abc",
		},
		{
			name: "image-init-single-quoted",
			file: "multidoc.yaml",
			edit: func(b []byte) ([]byte, error) {
				return SetImage(b, "Deployment", "default", "web", "migrate", "it's:v2")
			},
			removed: "registry.local/web-migrate:v1", inserted: "it''s:v2",
		},
		{
			name:    "image-plain-needs-quotes",
			file:    "multidoc.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetImage(b, "Deployment", "shop", "web", "app", "1.5") },
			removed: "registry.local/web:v1", inserted: `"1.5"`,
		},
		{
			name:    "replicas-inserted",
			file:    "noreplicas.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetReplicas(b, "Deployment", "shop", "api", 3) },
			removed: "", inserted: "replicas: 3\n    ", // the line goes before the old first key
		},
		{
			name:    "replicas-flow",
			file:    "flow.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetReplicas(b, "ReplicaSet", "default", "flow", 5) },
			removed: "", inserted: "replicas: 5, ",
		},
		{
			name:    "image-flow-after-unicode",
			file:    "flow.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetImage(b, "ReplicaSet", "default", "flow", "app", "flow:v2") },
			removed: "1", inserted: "2",
		},
		{
			name:    "image-flow-unicode-container",
			file:    "flow.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetImage(b, "ReplicaSet", "default", "flow", "ünï", "x:v9") },
			removed: "flow:v1", inserted: "x:v9",
		},
		{
			name:    "replicas-crlf",
			file:    "crlf.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetReplicas(b, "ReplicationController", "default", "crlf", 2) },
			removed: "", inserted: "replicas: 2\r\n  ",
		},
		{
			name:    "image-list-item",
			file:    "list.yaml",
			edit:    func(b []byte) ([]byte, error) { return SetImage(b, "Pod", "default", "one", "app", "one:v2") },
			removed: "1", inserted: "2",
		},
		{
			name: "image-cronjob",
			file: "cronjob.yaml",
			edit: func(b []byte) ([]byte, error) {
				return SetImage(b, "CronJob", "default", "hello", "hello", "busybox:1.36")
			},
			removed: "28", inserted: "36",
		},
		{
			name:    "replicas-json",
			file:    "deploy.json",
			edit:    func(b []byte) ([]byte, error) { return SetReplicas(b, "Deployment", "default", "js", 2) },
			removed: "", inserted: "replicas\": 2,\n    \"",
		},
		{
			name:    "image-json",
			file:    "deploy.json",
			edit:    func(b []byte) ([]byte, error) { return SetImage(b, "Deployment", "default", "js", "app", `js:"v2"`) },
			removed: `v1`, inserted: `\"v2\"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			out, err := tt.edit(bytes.Clone(in))
			if err != nil {
				t.Fatal(err)
			}
			removed, inserted := changed(in, out)
			if removed != tt.removed || inserted != tt.inserted {
				t.Errorf("changed bytes: removed %q, inserted %q; want removed %q, inserted %q", removed, inserted, tt.removed, tt.inserted)
			}
			testutil.Golden(t, filepath.Join("testdata", tt.name+".golden"), out, *update)
		})
	}
}

func TestErrors(t *testing.T) {
	multi, err := os.ReadFile(filepath.Join("testdata", "multidoc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	unsup, err := os.ReadFile(filepath.Join("testdata", "unsupported.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func() ([]byte, error)
		is      error
		message string
	}{
		{
			name:    "no object",
			edit:    func() ([]byte, error) { return SetReplicas(multi, "Deployment", "default", "nope", 1) },
			is:      ErrNotFound,
			message: "yamledit: Deployment default/nope: not found in the file",
		},
		{
			name:    "wrong kind",
			edit:    func() ([]byte, error) { return SetReplicas(multi, "ReplicaSet", "default", "web", 1) },
			is:      ErrNotFound,
			message: "ReplicaSet default/web",
		},
		{
			name:    "no container",
			edit:    func() ([]byte, error) { return SetImage(multi, "Deployment", "default", "web", "db", "x") },
			is:      ErrNotFound,
			message: `yamledit: Deployment default/web: spec.template.spec.containers: container "db" not found (containers: sidecar, app, migrate)`,
		},
		{
			name:    "service has no replicas spec to edit",
			edit:    func() ([]byte, error) { return SetImage(multi, "Service", "default", "web", "app", "x") },
			is:      ErrNotFound,
			message: "Service default/web: spec.containers",
		},
		{
			name:    "block scalar",
			edit:    func() ([]byte, error) { return SetImage(unsup, "Pod", "default", "block", "app", "x") },
			is:      ErrUnsupported,
			message: "Pod default/block: spec.containers[0].image: cannot edit in place: block scalars",
		},
		{
			name:    "alias",
			edit:    func() ([]byte, error) { return SetImage(unsup, "Pod", "default", "alias", "other", "x") },
			is:      ErrUnsupported,
			message: "spec.containers[1].image: cannot edit in place: the value is an alias (*img)",
		},
		{
			name:    "no image",
			edit:    func() ([]byte, error) { return SetImage(unsup, "Pod", "default", "noimage", "app", "x") },
			is:      ErrNotFound,
			message: "Pod default/noimage: spec.containers[0].image: not found",
		},
		{
			name:    "not yaml",
			edit:    func() ([]byte, error) { return SetReplicas([]byte("a: [\n"), "Deployment", "default", "x", 1) },
			is:      ErrUnsupported,
			message: "yamledit: document 1:",
		},
		{
			name: "duplicate",
			edit: func() ([]byte, error) {
				d := "kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n"
				return SetImage([]byte(d+"---\n"+d), "Pod", "", "a", "c", "x")
			},
			message: "Pod default/a is defined twice (lines 1 and 5)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.edit()
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
		})
	}
}

// TestAnchoredEdit edits the anchor of an aliased image: allowed, since the
// anchor is the value written in the file.
func TestAnchoredEdit(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "unsupported.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := SetImage(in, "Pod", "default", "alias", "app", "alias:v2")
	if err != nil {
		t.Fatal(err)
	}
	removed, inserted := changed(in, out)
	if removed != "1" || inserted != "2" || !bytes.Contains(out, []byte("image: &img alias:v2\n")) {
		t.Errorf("removed %q inserted %q:\n%s", removed, inserted, out)
	}
}
