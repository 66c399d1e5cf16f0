package agentapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wsExec runs cmd in container app of pod web over the v5 WebSocket
// protocol, sending stdin (then closing it), and returns stdout, stderr
// and the status the agent sends on channel 3.
func wsExec(t *testing.T, f *fixture, stdin string, cmd ...string) (stdout, stderr string, status metav1.Status) {
	t.Helper()
	u := strings.Replace(f.url, "https://", "wss://", 1) + "/exec/default/web/app?output=1&error=1"
	if stdin != "" {
		u += "&input=1"
	}
	for _, c := range cmd {
		u += "&command=" + c
	}
	cfg, err := websocket.NewConfig(u, f.url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{"v5.channel.k8s.io"}
	cfg.TlsConfig = f.hc.Transport.(*http.Transport).TLSClientConfig
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if stdin != "" {
		if err := websocket.Message.Send(ws, append([]byte{0}, stdin...)); err != nil {
			t.Fatal(err)
		}
		if err := websocket.Message.Send(ws, []byte{255, 0}); err != nil { // close stdin
			t.Fatal(err)
		}
	}
	var out, errOut strings.Builder
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			t.Fatalf("no status before the end of the stream: %v (stdout %q, stderr %q)", err, out.String(), errOut.String())
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case 1:
			out.Write(msg[1:])
		case 2:
			errOut.Write(msg[1:])
		case 3:
			if len(msg) == 1 {
				continue
			}
			if err := json.Unmarshal(msg[1:], &status); err != nil {
				t.Fatalf("status %q: %v", msg[1:], err)
			}
			return out.String(), errOut.String(), status
		}
	}
}

func TestStreamExecWebSocket(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	t.Run("stdin to stdout", func(t *testing.T) {
		stdout, _, st := wsExec(t, f, "from stdin\n", "cat")
		if stdout != "from stdin\n" || st.Status != metav1.StatusSuccess {
			t.Fatalf("stdout %q, status %+v", stdout, st)
		}
	})
	t.Run("exit code", func(t *testing.T) {
		_, stderr, st := wsExec(t, f, "", "fail", "3")
		if stderr != "failing\n" || st.Reason != "NonZeroExitCode" || st.Details == nil || len(st.Details.Causes) != 1 ||
			st.Details.Causes[0].Type != "ExitCode" || st.Details.Causes[0].Message != "3" {
			t.Fatalf("stderr %q, status %+v", stderr, st)
		}
	})
}

// TestStreamErrors: what is refused before any upgrade, as a Status.
func TestStreamErrors(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {"v5.channel.k8s.io"}}
	tests := []struct {
		name   string
		path   string
		header http.Header
		code   int
		want   string
	}{
		{name: "attach", path: "/attach/default/web/app?output=1", header: upgrade, code: 400,
			want: "cannot attach to container app of pod web: bosun starts containers without stdin"},
		{name: "exec in a container that does not run", path: "/exec/default/web/side?command=true&output=1", header: upgrade, code: 400,
			want: `container "side" in pod "web" is not running`},
		{name: "exec without streams", path: "/exec/default/web/app?command=true", header: upgrade, code: 400,
			want: "you must specify at least 1 of stdin, stdout, stderr"},
		{name: "port-forward without upgrade", path: "/portForward/default/web?port=8080", code: 400,
			want: "port forwarding needs an upgrade request"},
		{name: "port-forward to another node's pod", path: "/portForward/default/other?port=8080", header: upgrade, code: 404,
			want: `pod "other" in namespace "default" does not run on this node`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, f.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header
			resp, err := f.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var st metav1.Status
			_ = json.Unmarshal(b, &st)
			if resp.StatusCode != tt.code || !strings.HasPrefix(st.Message, tt.want) {
				t.Fatalf("got %d %s, want %d %q", resp.StatusCode, b, tt.code, tt.want)
			}
		})
	}
}
