package apiserver_test

import (
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestKubectlExecTerminal drives kubectl exec -it through a
// pseudo-terminal: the terminal's size reaches the command, keys reach
// its stdin unchanged (kubectl puts the local terminal in raw mode), and
// Ctrl-D is a key like any other.
func TestKubectlExecTerminal(t *testing.T) {
	kubectlCmd, _ := streamEnv(t)
	for _, p := range kubectlProtocols {
		t.Run(p.name, func(t *testing.T) {
			ptm, pts := testutil.OpenPTY(t, 40, 100)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := kubectlCmd(ctx, p.env, "exec", "-it", "web", "--", "sh")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pts.Close()
			out := &testutil.SyncBuffer{}
			go func() { _, _ = io.Copy(out, ptm) }()
			testutil.Eventually(t, 10*time.Second, "the terminal's size", func() (bool, string) {
				return strings.Contains(out.String(), "size 100x40\r\n"), out.String()
			})
			if _, err := ptm.Write([]byte("a\x04")); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, "the keys", func() (bool, string) {
				return strings.Contains(out.String(), "61\r\n04\r\n"), out.String()
			})
			cancel()
			_ = cmd.Wait()
		})
	}
}
