package reconcile

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTerminal(t *testing.T) {
	base := errors.New("bad spec")
	tests := []struct {
		name     string
		err      error
		terminal bool
	}{
		{name: "nil", err: nil, terminal: false},
		{name: "plain", err: base, terminal: false},
		{name: "terminal", err: Terminal(base), terminal: true},
		{name: "wrapped terminal", err: fmt.Errorf("deployment web: %w", Terminal(base)), terminal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTerminal(tt.err); got != tt.terminal {
				t.Errorf("IsTerminal(%v) = %v, want %v", tt.err, got, tt.terminal)
			}
			if tt.err != nil && !errors.Is(tt.err, base) {
				t.Errorf("errors.Is(%v, base) = false, want true", tt.err)
			}
		})
	}
	if Terminal(nil) != nil {
		t.Errorf("Terminal(nil) != nil")
	}
	if got := Terminal(base).Error(); got != base.Error() {
		t.Errorf("Terminal(err).Error() = %q, want %q", got, base.Error())
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name          string
		obj           metav1.Object
		key           string
		wantNamespace string
		wantName      string
	}{
		{name: "namespaced", obj: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web-1"}},
			key: "prod/web-1", wantNamespace: "prod", wantName: "web-1"},
		{name: "cluster-scoped", obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}},
			key: "node-1", wantNamespace: "", wantName: "node-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KeyOf(tt.obj); got != tt.key {
				t.Errorf("KeyOf = %q, want %q", got, tt.key)
			}
			ns, name := SplitKey(tt.key)
			if ns != tt.wantNamespace || name != tt.wantName {
				t.Errorf("SplitKey(%q) = %q, %q, want %q, %q", tt.key, ns, name, tt.wantNamespace, tt.wantName)
			}
		})
	}
}
