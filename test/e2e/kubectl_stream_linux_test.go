package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestKubectlStreamsRealNode runs the real kubectl against a real node
// (containerd, CNI, inside a network namespace the test made): exec with
// output, exit code, stdin and a terminal, port-forward to the example
// app, and the errors of cp (the image has no tar) and attach.
func TestKubectlStreamsRealNode(t *testing.T) {
	testenv.Need(t, testenv.Binary("kubectl"))
	r := newRepo(t)
	h := newNodeHost(t, r.dir)
	pod := h.readyPods("demo", "app=hello", 3)[0].Name
	home := t.TempDir()
	kubectl := func(ctx context.Context, args ...string) *exec.Cmd {
		args = append([]string{"--server", "http://" + h.listen, "--cache-dir", home + "/cache", "-n", "demo"}, args...)
		cmd := h.host.Command(ctx, "kubectl", args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
		return cmd
	}
	run := func(stdin string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := kubectl(ctx, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}

	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{name: "exec", args: []string{"exec", pod, "--", "/app", "env"}, want: "HOSTNAME=" + pod},
		{name: "exit code", args: []string{"exec", pod, "--", "/app", "exit", "3"}, code: 3, want: "app exit: exiting with 3"},
		{name: "stdin", stdin: "line one\nline two\n", args: []string{"exec", "-i", pod, "--", "/app", "cat", "/dev/stdin"},
			want: "line one\nline two\n"},
		{name: "no such command", args: []string{"exec", pod, "--", "ls"}, code: 1, want: `"ls": executable file not found`},
		{name: "cp needs tar in the image", args: []string{"cp", pod + ":/app", home + "/app"}, code: 1, want: `"tar": executable file not found`},
		{name: "attach", args: []string{"attach", pod}, code: 1, want: "bosun starts containers without stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("kubectl %s: exit code %d, want %d; want %q in the output:\n%s", strings.Join(tt.args, " "), code, tt.code, tt.want, out)
			}
		})
	}

	t.Run("over HTTPS with the admin kubeconfig", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := h.host.Command(ctx, "kubectl", "--kubeconfig", filepath.Join(h.dataDir, "kubeconfig"), "--cache-dir", home+"/cache-tls",
			"-n", "demo", "exec", pod, "--", "/app", "exit", "4")
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		if exitCode(err) != 4 || !strings.Contains(string(out), "exiting with 4") {
			t.Errorf("kubectl exec over HTTPS: %v\n%s", err, out)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		ptm, pts := testutil.OpenPTY(t, 40, 100)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := kubectl(ctx, "exec", "-it", pod, "--", "/app", "cat", "/dev/stdin")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer pts.Close()
		out := &testutil.SyncBuffer{}
		go func() { _, _ = io.Copy(out, ptm) }()
		// kubectl puts the local terminal in raw mode once the session is
		// up; keys typed before would be echoed and edited locally.
		testutil.Eventually(t, 10*time.Second, "kubectl to put the terminal in raw mode", func() (bool, string) {
			tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
			return err == nil && tio.Lflag&unix.ECHO == 0, fmt.Sprint(err)
		})
		// The container's terminal echoes what is typed, ends lines with
		// CR LF, and Ctrl-D at the start of a line ends cat's input.
		if _, err := ptm.Write([]byte("typed\n")); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, "the remote echo", func() (bool, string) {
			return strings.Contains(out.String(), "typed\r\n"), fmt.Sprintf("%q", out.String())
		})
		if _, err := ptm.Write([]byte{4}); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "typed\r\ntyped\r\n") {
			t.Fatalf("kubectl exec -it: %v\n%q", err, out.String())
		}
	})

	// kubectl killed during a session: the command ends in the container
	// (with a terminal, its stdin ends and the agent closes the terminal,
	// a hangup; without, the agent sees the connection close and kills
	// it), and the agent's exec ends: its request is logged then.
	for _, tty := range []bool{true, false} {
		t.Run("kubectl killed, tty="+strconv.FormatBool(tty), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			secs := "1000"
			args := []string{"exec", pod, "--", "/app", "sleep", secs}
			out := &testutil.SyncBuffer{}
			cmd := kubectl(ctx)
			if tty {
				secs = "1001"
				args = []string{"exec", "-it", pod, "--", "/app", "sleep", secs}
				ptm, pts := testutil.OpenPTY(t, 40, 100)
				defer pts.Close()
				cmd = kubectl(ctx, args...)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
				go func() { _, _ = io.Copy(out, ptm) }()
			} else {
				cmd = kubectl(ctx, args...)
				cmd.Stdout, cmd.Stderr = out, out
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, "the command to start", func() (bool, string) {
				return strings.Contains(out.String(), "sleeping "+secs+"s"), fmt.Sprintf("%q", out.String())
			})
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			testutil.Eventually(t, 10*time.Second, "the agent's exec to end", func() (bool, string) {
				for _, l := range strings.Split(h.log.String(), "\n") {
					if strings.Contains(l, `msg="agent API request"`) && strings.Contains(l, "command="+secs) {
						return true, ""
					}
				}
				return false, "not logged"
			})
		})
	}

	t.Run("port-forward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := kubectl(ctx, "port-forward", "pod/"+pod, ":8080")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
		local := ""
		sc := bufio.NewScanner(stdout)
		for local == "" && sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				local = m[1]
			}
		}
		if local == "" {
			t.Fatalf("kubectl port-forward did not say where it listens: %s", stderr.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		for i := range 3 { // a new forwarded connection each (no keep-alive)
			body, err := h.get("http://127.0.0.1:" + local + "/")
			if err != nil || !strings.Contains(body, "hello from "+pod) {
				t.Fatalf("request %d through port-forward: %q, %v", i, body, err)
			}
		}
	})
}
