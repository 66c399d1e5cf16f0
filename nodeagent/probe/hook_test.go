package probe_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/nodeagent/probe"
)

// TestRunHook: each kind of lifecycle handler runs against the container,
// and failures say why.
func TestRunHook(t *testing.T) {
	var hits atomic.Int32
	port := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/shutdown" {
			w.WriteHeader(500)
		}
	})
	ex := &fakeExec{}
	c := &probe.Checker{Execer: ex}
	target := probe.Target{PodIP: "127.0.0.1", ContainerID: "c1", Container: &corev1.Container{Name: "app"}}
	for _, tc := range []struct {
		name    string
		hook    *corev1.LifecycleHandler
		exec    int
		hits    int32
		wantErr string
	}{
		{name: "none", hook: nil},
		{name: "exec 0", hook: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}},
		{name: "exec 2", exec: 2, hook: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}},
			wantErr: `command "drain" exited with 2`},
		{name: "httpGet", hits: 1, hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/shutdown", Port: intstr.FromInt(port)}}},
		{name: "httpGet 500", hits: 1, hook: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt(port)}},
			wantErr: "statuscode: 500"},
		{name: "tcpSocket", hook: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}},
			wantErr: "tcpSocket is not supported"},
		{name: "empty", hook: &corev1.LifecycleHandler{}, wantErr: "no handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex.set(tc.exec)
			before := hits.Load()
			err := c.RunHook(context.Background(), tc.hook, target, nil)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("RunHook = %v, want error containing %q", err, tc.wantErr)
			}
			if got := hits.Load() - before; got != tc.hits {
				t.Errorf("HTTP requests = %d, want %d", got, tc.hits)
			}
		})
	}
}

// TestRunHookSleep: a sleep hook waits its seconds, or less when ctx
// (the grace period) ends first.
func TestRunHookSleep(t *testing.T) {
	tests := []struct {
		name  string
		limit time.Duration
		want  time.Duration
	}{
		{name: "whole sleep", limit: time.Minute, want: 5 * time.Second},
		{name: "cut by the grace period", limit: 2 * time.Second, want: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), tt.limit)
				defer cancel()
				start := time.Now()
				var c probe.Checker
				if err := c.RunHook(ctx, &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}, probe.Target{}, nil); err != nil {
					t.Fatal(err)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("slept %s, want %s", got, tt.want)
				}
			})
		})
	}
}
