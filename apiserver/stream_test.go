package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

// podLookup is an agentapi.PodLookup of one pod.
type podLookup struct{ pod *corev1.Pod }

func (p podLookup) LookupPod(namespace, name string) (*corev1.Pod, bool) {
	return p.pod, namespace == p.pod.Namespace && name == p.pod.Name
}

// dialingRuntime is the fake runtime whose sandboxes' port 8080 is addr,
// and whose command "wait" runs until killed (ctx ends), then says so on
// killed.
type dialingRuntime struct {
	*runtimetest.Fake
	addr   string
	killed chan string
}

func (d dialingRuntime) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) (int, error) {
	if len(cmd) == 2 && cmd[0] == "wait" {
		_, _ = io.WriteString(stdout, "waiting\n")
		<-ctx.Done()
		d.killed <- cmd[1]
		return 137, nil
	}
	return d.Fake.Exec(ctx, id, cmd, stdin, stdout, stderr, tty)
}

func (d dialingRuntime) DialSandbox(ctx context.Context, _ string, port int) (net.Conn, error) {
	if port != 8080 {
		return nil, fmt.Errorf("dial tcp 127.0.0.1:%d: connect: connection refused", port)
	}
	var dl net.Dialer
	return dl.DialContext(ctx, "tcp", d.addr)
}

// fakeExec answers env, cat (stdin to stdout) and sh -c 'exit N'.
func fakeExec(_ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case cmd[0] == "env":
		_, _ = io.WriteString(stdout, "HOSTNAME=web\nHOME=/\n")
		return 0
	case cmd[0] == "cat" && stdin != nil:
		_, _ = io.Copy(stdout, stdin)
		return 0
	case len(cmd) == 3 && cmd[0] == "sh" && strings.HasPrefix(cmd[2], "exit "):
		var code int
		_, _ = fmt.Sscanf(cmd[2], "exit %d", &code)
		return code
	}
	_, _ = fmt.Fprintf(stderr, "exec: %q: executable file not found in $PATH\n", cmd[0])
	return 127
}

// ExecTTY answers a terminal session: it prints the terminal's first
// size, then each byte of stdin in hex until stdin ends.
func (d dialingRuntime) ExecTTY(ctx context.Context, _ string, cmd []string, stdin io.Reader, stdout io.Writer, resize <-chan runtime.TerminalSize) (int, error) {
	select {
	case sz := <-resize:
		fmt.Fprintf(stdout, "size %dx%d\r\n", sz.Width, sz.Height)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if stdin == nil {
		return 0, nil
	}
	b := make([]byte, 1)
	for {
		if _, err := stdin.Read(b); err != nil {
			fmt.Fprint(stdout, "stdin ended\r\n")
			return 0, nil
		}
		fmt.Fprintf(stdout, "%02x\r\n", b[0])
	}
}

// streamEnv starts the API server and a real agent API on the fake
// runtime, with pod default/web (container app) whose port 8080 answers
// "hello from the pod". It returns a function that makes kubectl commands
// against it.
func streamEnv(t *testing.T) (kubectl func(ctx context.Context, env []string, args ...string) *exec.Cmd, killed <-chan string) {
	bin := needKubectl(t)
	e := newEnv(t, apiserver.Config{})

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from the pod\n")
	}))
	t.Cleanup(app.Close)
	const image = "bosun.local/test:v1"
	rt := runtimetest.New(runtimetest.Config{PodCIDR: "10.42.0.0/24",
		Images: map[string]runtimetest.Behavior{image: {Exec: fakeExec}}})
	c := ctx(t)
	sb, err := rt.RunPodSandbox(c, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: "web", Namespace: "default", UID: "uid-web"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.PullImage(c, image); err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateContainer(c, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: "app"}, Image: image})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(c, id); err != nil {
		t.Fatal(err)
	}
	pod := podOn("web", "n1", "app")
	pod.UID = types.UID("uid-web")
	pod.Status.Phase = corev1.PodRunning
	kills := make(chan string, 1)
	agent, err := agentapi.New(agentapi.Config{Pods: podLookup{pod.DeepCopy()}, Runtime: dialingRuntime{rt, app.Listener.Addr().String(), kills}, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(agent.Handler())
	t.Cleanup(ts.Close)
	e.create(nodeAt("n1", "127.0.0.1", int32(ts.Listener.Addr().(*net.TCPAddr).Port)))
	e.create(pod)

	home := t.TempDir()
	return func(ctx context.Context, env []string, args ...string) *exec.Cmd {
		args = append([]string{"--server", e.url, "--cache-dir", home + "/cache", "-n", "default"}, args...)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), append(env, "HOME="+home, "KUBECONFIG="+home+"/none")...)
		return cmd
	}, kills
}

// kubectl 1.32 speaks WebSocket first; these environment variables turn
// it back to SPDY.
var kubectlProtocols = []struct {
	name string
	env  []string
}{
	{"websocket", nil},
	{"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
}

// TestKubectlExecAndPortForward runs the real kubectl against the API
// server and a real agent API on the fake runtime: exec over WebSocket
// (v5) and SPDY, exit codes, stdin, port-forward over the WebSocket
// tunnel and SPDY, and attach refused.
func TestKubectlExecAndPortForward(t *testing.T) {
	kubectlCmd, killed := streamEnv(t)
	for _, p := range kubectlProtocols {
		t.Run(p.name, func(t *testing.T) {
			tests := []struct {
				name  string
				stdin string
				args  []string
				code  int
				want  string
			}{
				{name: "env", args: []string{"exec", "web", "--", "env"}, want: "HOSTNAME=web\nHOME=/\n"},
				{name: "exit code", args: []string{"exec", "web", "--", "sh", "-c", "exit 3"}, code: 3},
				{name: "stdin", stdin: "some input\n", args: []string{"exec", "-i", "web", "-c", "app", "--", "cat"}, want: "some input\n"},
				{name: "unknown command", args: []string{"exec", "web", "--", "nope"}, code: 127, want: `exec: "nope": executable file not found in $PATH`},
				{name: "attach", args: []string{"attach", "web"}, code: 1,
					want: "cannot attach to container app of pod web: bosun starts containers without stdin"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					cmd := kubectlCmd(ctx(t), p.env, tt.args...)
					cmd.Stdin = strings.NewReader(tt.stdin)
					out, err := cmd.CombinedOutput()
					code := 0
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						code = ee.ExitCode()
					} else if err != nil {
						t.Fatal(err)
					}
					if code != tt.code || !strings.Contains(string(out), tt.want) {
						t.Fatalf("kubectl %s: exit code %d, want %d; output (want %q in it):\n%s", strings.Join(tt.args, " "), code, tt.code, tt.want, out)
					}
				})
			}
			t.Run("kubectl killed", func(t *testing.T) {
				// The command ends when the client goes away.
				out := &testutil.SyncBuffer{}
				cmd := kubectlCmd(ctx(t), p.env, "exec", "web", "--", "wait", p.name)
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, 10*time.Second, "the command to start", func() (bool, string) {
					return strings.Contains(out.String(), "waiting\n"), out.String()
				})
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				select {
				case got := <-killed:
					if got != p.name {
						t.Fatalf("killed the command of %s", got)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the command still runs 10s after kubectl was killed")
				}
			})
			t.Run("port-forward", func(t *testing.T) {
				c, cancel := context.WithCancel(ctx(t))
				defer cancel()
				cmd := kubectlCmd(c, p.env, "port-forward", "pod/web", ":8080", ":8081")
				out := &testutil.SyncBuffer{}
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cancel(); _ = cmd.Wait() })
				local := map[string]string{}
				re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)
				testutil.Eventually(t, 10*time.Second, "kubectl port-forward to say where it listens", func() (bool, string) {
					for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
						local[m[2]] = m[1]
					}
					return len(local) == 2, out.String()
				})
				hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				for i := range 3 { // each request is a new forwarded connection
					resp, err := hc.Get("http://127.0.0.1:" + local["8080"] + "/")
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "hello from the pod\n" {
						t.Fatalf("request %d: %q", i, b)
					}
				}
				// Nothing listens on 8081 in the pod: the agent's error
				// reaches kubectl, which prints it.
				if resp, err := hc.Get("http://127.0.0.1:" + local["8081"] + "/"); err == nil {
					resp.Body.Close()
					t.Fatalf("port 8081 answered %s", resp.Status)
				}
				testutil.Eventually(t, 10*time.Second, "kubectl to print the agent's error", func() (bool, string) {
					return strings.Contains(out.String(), "cannot connect to port 8081 in pod web: dial tcp 127.0.0.1:8081: connect: connection refused"), out.String()
				})
			})
		})
	}
}
