package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/apply"
	"github.com/bosun-dev/bosun/sync/state"
)

// diffTestAPI starts an embedded etcd and bosun's API on it.
func diffTestAPI(t *testing.T) (*store.Store, *globalOptions) {
	t.Helper()
	st, url := apitest.Start(t)
	return st, &globalOptions{server: url}
}

// diffTestRun runs cmd with args and returns its output and exit code.
func diffTestRun(t *testing.T, cmd *cobra.Command, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	code := 0
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		code = ee.code
	}
	return out.String(), code
}

const diffTestApp = gittest.Web + `---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
`

// diffTestSync applies the manifests of dir/path to the store as the
// syncer would.
func diffTestSync(t *testing.T, st *store.Store, work, path, sha string) {
	t.Helper()
	res, err := manifests.Load(os.DirFS(work), manifests.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Problems.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = apply.New(st, storetest.Logger(t)).Apply(ctx, apply.Input{
		Commit:  state.CommitInfo{SHA: sha, Subject: "sync"},
		Objects: res.Objects,
		Status:  state.Status{Repo: work, Branch: "main", Path: path},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDiffCommand(t *testing.T) {
	st, g := diffTestAPI(t)
	work := gittest.Init(t)
	sha := gittest.Commit(t, work, "v1", map[string]string{"deploy/web.yaml": diffTestApp, "README.md": "not a manifest\n"})
	diffTestSync(t, st, work, "deploy", sha)

	// A branch for a pull request: a new image and a ConfigMap, the
	// Service removed.
	gittest.Git(t, work, "checkout", "-q", "-b", "feature")
	v2 := strings.Replace(diffTestApp, "hello:v1", "hello:v2", 1)
	v2 = v2[:strings.Index(v2, "---")]
	gittest.Commit(t, work, "v2", map[string]string{
		"deploy/web.yaml": v2,
		"deploy/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n",
	})
	// Scale only, on a second branch.
	gittest.Git(t, work, "checkout", "-q", "-b", "scale", "main")
	gittest.Commit(t, work, "scale", map[string]string{"deploy/web.yaml": strings.Replace(diffTestApp, "replicas: 2", "replicas: 5", 1)})
	gittest.Git(t, work, "checkout", "-q", "main")

	tests := []struct {
		name     string
		args     []string
		edit     string // content written to deploy/web.yaml in the working tree first
		wantCode int
		want     []string
		notWant  []string
	}{
		{name: "synced branch has no changes", wantCode: 0, want: []string{"No changes: main ("}},
		{name: "feature branch", args: []string{"--rev", "feature"}, wantCode: 1, want: []string{
			"Added (1):\n  + ConfigMap default/settings  (deploy/cm.yaml:1)",
			"Changed (1):\n  ~ Deployment default/web  (deploy/web.yaml:2)",
			"--- live Deployment default/web\n+++ feature (",
			"-      - image: bosun.local/hello:v1\n+      - image: bosun.local/hello:v2\n",
			"Pruned (1):\n  - Service default/web",
			"Deployments that would roll out:\n  default/web (pod template changed)",
		}},
		{name: "scale does not roll out", args: []string{"--rev", "scale"}, wantCode: 1,
			want: []string{"-  replicas: 2\n+  replicas: 5\n", "Deployments that would roll out: none"}},
		{name: "sha", args: []string{"--rev", sha[:8]}, wantCode: 0, want: []string{"No changes"}},
		{name: "unknown rev", args: []string{"--rev", "nope"}, wantCode: 3, want: []string{"unknown revision"}},
		{name: "other path holds nothing", args: []string{"--path", "elsewhere"}, wantCode: 1,
			want: []string{"Pruned (2):", "defines no objects"}},
		{name: "clean working tree", args: []string{"--repo", work}, wantCode: 0, want: []string{"No changes: working tree"}},
		{name: "edited working tree", args: []string{"--repo", work}, edit: strings.Replace(diffTestApp, "port: 80", "port: 8080", 1),
			wantCode: 1, want: []string{"~ Service default/web", "-  - port: 80\n", "+  - port: 8080\n", "Deployments that would roll out: none"},
			notWant: []string{"Deployment default/web  ("}},
		{name: "invalid working tree", args: []string{"--repo", work}, edit: strings.Replace(diffTestApp, "replicas: 2", "replicas: -1", 1),
			wantCode: 2, want: []string{"is invalid", "deploy/web.yaml:7: Deployment default/web: spec.replicas"}, notWant: []string{"Changed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := diffTestApp
			if tt.edit != "" {
				content = tt.edit
			}
			gittest.Write(t, work, map[string]string{"deploy/web.yaml": content})
			out, code := diffTestRun(t, newDiffCommand(g), tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}
