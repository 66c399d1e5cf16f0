package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

type podMap map[string]*corev1.Pod

func (m podMap) LookupPod(ns, name string) (*corev1.Pod, bool) { p, ok := m[ns+"/"+name]; return p, ok }

type testLogs string

func (d testLogs) LogPath(uid, name string, attempt uint32) string {
	return filepath.Join(string(d), uid, name, strconv.Itoa(int(attempt))+".log")
}

// logsEnv serves an API whose node n1 runs, on the fake runtime, the pods
// web-old and web-new of deployment web (label app=web; web-new is the
// newer and running one) and two (containers a and b); each container's
// log holds "<pod>/<container> line 1..3".
func logsEnv(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st, url := apitest.Start(t)
	rt := runtimetest.New(runtimetest.Config{PodCIDR: "10.42.0.0/24", Images: map[string]runtimetest.Behavior{"img": {Exec: func(_ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int {
		switch cmd[0] {
		case "cat":
			if stdin != nil {
				_, _ = io.Copy(stdout, stdin)
			}
			return 0
		case "exit":
			n, _ := strconv.Atoi(cmd[1])
			fmt.Fprintln(stderr, "exiting with", n)
			return n
		}
		fmt.Fprintln(stdout, strings.Join(cmd, " "))
		return 0
	}}}})
	_, _ = rt.PullImage(ctx, "img")
	logs := testLogs(t.TempDir())
	pods := podMap{}
	now := time.Now()
	for i, p := range []struct {
		name       string
		containers []string
		phase      corev1.PodPhase
		labels     map[string]string
	}{
		{"web-old", []string{"app"}, corev1.PodPending, map[string]string{"app": "web"}},
		{"web-new", []string{"app"}, corev1.PodRunning, map[string]string{"app": "web"}},
		{"two", []string{"a", "b"}, corev1.PodRunning, nil},
	} {
		uid := "uid-" + p.name
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: p.name, UID: types.UID(uid),
			Labels: p.labels, CreationTimestamp: metav1.NewTime(now.Add(time.Duration(i) * time.Minute))},
			Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: p.phase}}
		sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: p.name, Namespace: "default", UID: uid}})
		if err != nil {
			t.Fatal(err)
		}
		for _, cn := range p.containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: cn, Image: "img"})
			id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: cn}, Image: "img"})
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.StartContainer(ctx, id); err != nil {
				t.Fatal(err)
			}
			path := logs.LogPath(uid, cn, 0)
			_ = os.MkdirAll(filepath.Dir(path), 0o755)
			var b strings.Builder
			for l := 1; l <= 3; l++ {
				fmt.Fprintf(&b, "2026-11-22T00:00:0%d.000000000Z stdout F %s/%s line %d\n", l, p.name, cn, l)
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pods["default/"+p.name] = pod
		if err := st.Create(ctx, pod.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	one := int32(1)
	if err := st.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img"}}}}}}); err != nil {
		t.Fatal(err)
	}
	srv, err := agentapi.New(agentapi.Config{Pods: pods, Runtime: rt, Logs: logs, PollInterval: 5 * time.Millisecond, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(srv.Handler())
	t.Cleanup(agent.Close)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(agent.Listener.Addr().(*net.TCPAddr).Port)
	if err := st.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	return url
}

func runCmd(t *testing.T, url string, stdin string, newCmd func(*globalOptions) *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	cmd := newCmd(&globalOptions{server: url})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as the root command does
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), stderr.String(), err
}

func TestLogsCommand(t *testing.T) {
	url := logsEnv(t)
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"pod", []string{"web-new"}, "web-new/app line 1\nweb-new/app line 2\nweb-new/app line 3\n", ""},
		{"tail", []string{"web-new", "--tail", "1"}, "web-new/app line 3\n", ""},
		{"tail zero", []string{"web-new", "--tail=0"}, "", ""},
		{"timestamps", []string{"pod/web-new", "--tail", "1", "--timestamps"}, "2026-11-22T00:00:03Z web-new/app line 3\n", ""},
		{"deployment picks the running pod", []string{"deploy/web", "--tail", "1"}, "web-new/app line 3\n", ""},
		{"container", []string{"two", "-c", "b", "--tail", "1"}, "two/b line 3\n", ""},
		{"container needed", []string{"two"}, "", "a container name must be specified for pod two, choose one of: [a b]"},
		{"no previous", []string{"web-new", "-p"}, "", `previous terminated container "app" in pod "web-new" not found`},
		{"unknown pod", []string{"nope", "-n", "other"}, "", `pods "nope" not found in namespace "other"`},
		{"unknown deployment", []string{"deploy/nope"}, "", `deployments "nope" not found in namespace "default"`},
		{"bad kind", []string{"svc/web"}, "", `"svc/web": logs and exec take a pod, a deployment or a replicaset, not services`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, url, "", newLogsCommand, tt.args...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || out != tt.want {
				t.Fatalf("got %q (%v), want %q", out, err, tt.want)
			}
		})
	}
}

func TestExecCommand(t *testing.T) {
	url := logsEnv(t)
	tests := []struct {
		name           string
		args           []string
		stdin          string
		stdout, stderr string
		code           int
		wantErr        string
	}{
		{name: "output", args: []string{"web-new", "--", "/app", "env"}, stdout: "/app env\n"},
		{name: "exit code", args: []string{"deploy/web", "--", "exit", "3"}, stderr: "exiting with 3\n", code: 3},
		{name: "stdin", args: []string{"two", "-c", "a", "-i", "--", "cat"}, stdin: "in and out\n", stdout: "in and out\n"},
		{name: "stdin only with -i", args: []string{"two", "-c", "a", "--", "cat"}, stdin: "ignored\n"},
		{name: "no dash", args: []string{"web-new", "ls"}, wantErr: "usage: bosun exec POD [-c CONTAINER] [-i] -- COMMAND [ARGS...]"},
		{name: "container needed", args: []string{"two", "--", "ls"}, wantErr: "a container name must be specified for pod two, choose one of: [a b]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, url, tt.stdin, newExecCommand, tt.args...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			code := 0
			var ee exitError
			if errors.As(err, &ee) {
				code, err = ee.code, nil
			}
			if err != nil || out != tt.stdout || errOut != tt.stderr || code != tt.code {
				t.Fatalf("got %q %q code %d (%v), want %q %q %d", out, errOut, code, err, tt.stdout, tt.stderr, tt.code)
			}
		})
	}
}
