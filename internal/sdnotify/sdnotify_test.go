package sdnotify_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/sdnotify"
)

// listen opens a unixgram socket as systemd's notification socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read the notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		socket string // what NOTIFY_SOCKET holds
		listen string // the address listened on
		states []string
		want   string
	}{
		{name: "ready", socket: filepath.Join(dir, "a.sock"), listen: filepath.Join(dir, "a.sock"), states: []string{sdnotify.Ready}, want: "READY=1"},
		{name: "two states in one datagram", socket: filepath.Join(dir, "b.sock"), listen: filepath.Join(dir, "b.sock"), states: []string{sdnotify.Stopping, "STATUS=bye"}, want: "STOPPING=1\nSTATUS=bye"},
		{name: "abstract socket", socket: "@bosun-sdnotify-test-" + filepath.Base(dir), listen: "\x00bosun-sdnotify-test-" + filepath.Base(dir), states: []string{sdnotify.Ready}, want: "READY=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := listen(t, tt.listen)
			t.Setenv(sdnotify.EnvSocket, tt.socket)
			sent, err := sdnotify.FromEnv().Notify(tt.states...)
			if err != nil || !sent {
				t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
			}
			if got := receive(t, conn); got != tt.want {
				t.Errorf("received %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	t.Setenv(sdnotify.EnvSocket, "")
	os.Unsetenv(sdnotify.EnvSocket)
	n := sdnotify.FromEnv()
	if n.Enabled() {
		t.Fatal("Enabled without NOTIFY_SOCKET")
	}
	if sent, err := n.Notify(sdnotify.Ready); sent || err != nil {
		t.Errorf("Notify = %v, %v; want false, nil", sent, err)
	}
}

func TestNotifyMissingSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.sock")
	_, err := sdnotify.Notifier{Socket: path}.Notify(sdnotify.Ready)
	if err == nil {
		t.Fatal("Notify to a missing socket: no error")
	}
	if got := err.Error(); !contains(got, path) {
		t.Errorf("error %q does not name the socket %s", got, path)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
