package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

// gitopsTestCommit writes apps/web.yaml and commits it.
func gitopsTestCommit(t *testing.T, dir, msg, content string) string {
	t.Helper()
	return gittest.Commit(t, dir, msg, map[string]string{"apps/web.yaml": content})
}

// gitopsTestEnv is a repository, a store holding the Deployment as sync
// would have written it, a status naming the repository, and an API.
func gitopsTestEnv(t *testing.T, bare bool) (repo string, g *globalOptions, st *store.Store) {
	t.Helper()
	ctx := gitopsCtx(t)
	work := gittest.Init(t)
	sha := gitopsTestCommit(t, work, "web v1", gittest.Web)
	repo = work
	if bare {
		repo = gittest.BareClone(t, work)
	}
	st = storetest.Start(t)
	objs, probs := manifests.Decode("apps/web.yaml", []byte(gittest.Web), manifests.Limits{})
	if err := probs.Err(); err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v %d", err, len(objs))
	}
	d := objs[0].Obj
	d.SetLabels(map[string]string{api.LabelManagedBy: api.ManagedByValue})
	d.SetAnnotations(map[string]string{api.AnnotationCommit: sha, api.AnnotationSource: "apps/web.yaml:2"})
	if err := st.Create(ctx, d.(api.Object)); err != nil {
		t.Fatal(err)
	}
	if err := records.SetStatus(ctx, st, state.Status{Repo: repo, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	return repo, &globalOptions{server: apitest.Serve(t, st), logLevel: "info", logFormat: "text"}, st
}

func gitopsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func gitopsRun(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(gitopsCtx(t))
	return out.String() + errb.String(), err
}

func TestScaleAndSetImageCommands(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(map[bool]string{false: "checked-out repo", true: "bare repo"}[bare], func(t *testing.T) {
			repo, g, _ := gitopsTestEnv(t, bare)
			out, err := gitopsRun(t, newScaleCommand(g), "deploy/web", "--replicas=4")
			if err != nil {
				t.Fatalf("scale: %v\n%s", err, out)
			}
			if !strings.Contains(out, "committed") || !strings.Contains(out, "to main of "+repo) {
				t.Errorf("scale output:\n%s", out)
			}
			if got := gittest.Git(t, repo, "log", "-1", "--format=%s|%an", "main"); got != "Scale Deployment default/web to 4 replicas|bosun" {
				t.Errorf("commit = %q", got)
			}
			want := strings.Replace(gittest.Web, "replicas: 2 #", "replicas: 4 #", 1)
			if got := gittest.Git(t, repo, "show", "main:apps/web.yaml"); got+"\n" != want {
				t.Errorf("file after scale:\n%s\nwant:\n%s", got, want)
			}

			out, err = gitopsRun(t, newSetCommand(g), "image", "deploy/web", "app=bosun.local/hello:v2")
			if err != nil {
				t.Fatalf("set image: %v\n%s", err, out)
			}
			if got := gittest.Git(t, repo, "log", "-1", "--format=%s", "main"); got != "Set image of Deployment default/web: app=bosun.local/hello:v2" {
				t.Errorf("commit = %q", got)
			}
			want = strings.Replace(want, `"bosun.local/hello:v1"`, `"bosun.local/hello:v2"`, 1)
			if got := gittest.Git(t, repo, "show", "main:apps/web.yaml"); got+"\n" != want {
				t.Errorf("file after set image:\n%s\nwant:\n%s", got, want)
			}
			if !bare {
				if s := gittest.Git(t, repo, "status", "--porcelain"); s != "" {
					t.Errorf("work tree not clean: %q", s)
				}
			}

			// Same again: nothing to commit.
			head := gittest.Git(t, repo, "rev-parse", "main")
			out, err = gitopsRun(t, newScaleCommand(g), "deploy/web", "--replicas=4")
			if err != nil || !strings.Contains(out, "nothing to commit") {
				t.Errorf("repeated scale: %v\n%s", err, out)
			}
			if got := gittest.Git(t, repo, "rev-parse", "main"); got != head {
				t.Errorf("repeated scale moved main")
			}
		})
	}
}

func TestGitopsCommandBranch(t *testing.T) {
	repo, g, _ := gitopsTestEnv(t, true)
	head := gittest.Git(t, repo, "rev-parse", "main")
	out, err := gitopsRun(t, newScaleCommand(g), "deploy/web", "--replicas=7", "--branch", "scale-web")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Open a pull request from scale-web into main") {
		t.Errorf("output:\n%s", out)
	}
	if got := gittest.Git(t, repo, "rev-parse", "main"); got != head {
		t.Errorf("main moved")
	}
	if got := gittest.Git(t, repo, "show", "scale-web:apps/web.yaml"); !strings.Contains(got, "replicas: 7 # at least two") {
		t.Errorf("branch file:\n%s", got)
	}
}

func TestRollbackCommands(t *testing.T) {
	repo, g, _ := gitopsTestEnv(t, false)
	v2 := gitopsTestCommit(t, repo, "web v2", strings.Replace(gittest.Web, "hello:v1", "hello:v2", 1))
	gitopsTestCommit(t, repo, "web v2 again", strings.Replace(gittest.Web, "hello:v1\"", "hello:v2\" ", 1)) // whitespace only

	// The latest template change is v2: the whitespace commit leaves the template as is.
	out, err := gitopsRun(t, newRolloutCommand(g), "undo", "deploy/web")
	if err == nil || !strings.Contains(err.Error(), "apps/web.yaml") || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("undo over a later edit of the file: err = %v\n%s", err, out)
	}
	if !strings.Contains(out, v2[:8]) {
		t.Errorf("undo did not name the commit it found:\n%s", out)
	}
	gittest.Git(t, repo, "reset", "-q", "--hard", "HEAD^")

	out, err = gitopsRun(t, newRollbackCommand(g), "deploy/web", "-m", "v2 is broken")
	if err != nil {
		t.Fatalf("rollback deploy/web: %v\n%s", err, out)
	}
	msg := gittest.Git(t, repo, "log", "-1", "--format=%B", "main")
	if msg != "Revert \"web v2\"\n\nThis reverts commit "+v2+".\n\nv2 is broken" {
		t.Errorf("message = %q", msg)
	}
	if got := gittest.Git(t, repo, "show", "main:apps/web.yaml"); got+"\n" != gittest.Web {
		t.Errorf("file after rollback:\n%s", got)
	}

	// rollback COMMIT, with --repo given: revert the revert.
	revert := gittest.Git(t, repo, "rev-parse", "main")
	out, err = gitopsRun(t, newRollbackCommand(g), revert[:8], "--repo", repo, "--git-branch", "main")
	if err != nil {
		t.Fatalf("rollback COMMIT: %v\n%s", err, out)
	}
	if got := gittest.Git(t, repo, "show", "main:apps/web.yaml"); !strings.Contains(got, "hello:v2") {
		t.Errorf("file after reverting the revert:\n%s", got)
	}
	if s := gittest.Git(t, repo, "status", "--porcelain"); s != "" {
		t.Errorf("work tree not clean: %q", s)
	}
}

func TestGitopsCommandErrors(t *testing.T) {
	_, g, st := gitopsTestEnv(t, false)
	objs, _ := manifests.Decode("x.yaml", []byte(strings.Replace(gittest.Web, "name: web ", "name: live", 1)), manifests.Limits{})
	if err := st.Create(gitopsCtx(t), objs[0].Obj.(api.Object)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cmd  func(*globalOptions) *cobra.Command
		args []string
		want string
	}{
		{"not managed", newScaleCommand, []string{"deploy/live", "--replicas=1"}, "Deployment default/live is not managed by Git"},
		{"no replicas flag", newScaleCommand, []string{"deploy/web"}, "--replicas is required"},
		{"wrong kind", newScaleCommand, []string{"svc/web", "--replicas=1"}, "kind must be one of deployments, replicasets, replicationcontrollers"},
		{"missing", newScaleCommand, []string{"deploy/nope", "--replicas=1"}, "not found"},
		{"bad pair", newSetCommand, []string{"image", "deploy/web", "app"}, "give CONTAINER=IMAGE"},
		{"no container", newSetCommand, []string{"image", "deploy/web", "db=x:1"}, `apps/web.yaml: yamledit: Deployment default/web: spec.template.spec.containers: container "db" not found (containers: app)`},
		{"undo needs deploy", newRolloutCommand, []string{"undo", "abc123"}, "deploy/NAME"},
		{"unknown commit", newRollbackCommand, []string{"0123456789"}, "not found"},
		{"no history", newRollbackCommand, []string{"deploy/web"}, "no commit in the history of apps/web.yaml changed the pod template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := gitopsRun(t, tt.cmd(g), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q\n%s", err, tt.want, out)
			}
		})
	}
}
