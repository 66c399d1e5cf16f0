package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestServerWebhookRefused runs bosun server with webhook settings it must
// refuse before starting anything.
func TestServerWebhookRefused(t *testing.T) {
	t.Setenv("BOSUN_WEBHOOK_SECRET", "")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "secret flags with --no-webhook", args: []string{"--no-webhook", "--webhook-secret", "x"},
			wantErr: "server: --webhook-secret has no effect with --no-webhook"},
		{name: "rate that admits nothing", args: []string{"--webhook-secret", "x", "--webhook-rate", "0"},
			wantErr: "server: --webhook-rate=0: want a number of requests per second above 0"},
		{name: "burst that admits nothing", args: []string{"--webhook-secret", "x", "--webhook-burst", "0"},
			wantErr: "server: --webhook-burst=0: want at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			root := newRootCommand(&out, &out)
			// An etcd that is not there and a deadline: a server that got past
			// the checks fails or stops soon rather than running on.
			root.SetArgs(append([]string{"server", "--repo", t.TempDir(), "--data-dir", t.TempDir(),
				"--etcd-endpoints", "http://" + testutil.FreeAddr(t), "--no-agent"}, tt.args...))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("bosun server %s: %v, want an error containing %q\n%s", strings.Join(tt.args, " "), err, tt.wantErr, out.String())
			}
		})
	}
}

func TestCheckWebhookListeners(t *testing.T) {
	tests := []struct {
		name    string
		c       serverConfig
		secret  string
		wantErr string
	}{
		{name: "loopback without secret", c: serverConfig{listen: "127.0.0.1:6443", insecureListen: "127.0.0.1:8080"}},
		{name: "every interface with a secret", c: serverConfig{listen: ":6443"}, secret: "s"},
		{name: "every interface, no webhook", c: serverConfig{listen: ":6443", noWebhook: true}},
		{name: "every interface without secret", c: serverConfig{listen: ":6443"}, wantErr: "server: --listen: "},
		{name: "insecure listener checked too", c: serverConfig{listen: "127.0.0.1:6443", insecureListen: "0.0.0.0:8080"},
			wantErr: "server: --insecure-listen: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkWebhookListeners(&tt.c, tt.secret)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("checkWebhookListeners: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("checkWebhookListeners: %v, want an error starting %q", err, tt.wantErr)
			}
		})
	}
}
