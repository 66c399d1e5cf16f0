package testutil

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
)

// cleanupTB records Errorf and runs Cleanup functions when told to.
type cleanupTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (c *cleanupTB) Helper()                           {}
func (c *cleanupTB) Cleanup(f func())                  { c.cleanups = append(c.cleanups, f) }
func (c *cleanupTB) Errorf(format string, args ...any) { c.errs = append(c.errs, format) }
func (c *cleanupTB) end() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

func TestStart(t *testing.T) {
	tests := []struct {
		name    string
		run     func(ctx context.Context, release <-chan struct{}) error
		wantErr string // start of the format of the one error reported; "" none
	}{
		{name: "returns nil when cancelled", run: func(ctx context.Context, _ <-chan struct{}) error { <-ctx.Done(); return nil }},
		{name: "returns an error", run: func(ctx context.Context, _ <-chan struct{}) error { <-ctx.Done(); return errors.New("boom") },
			wantErr: "Run returned"},
		{name: "does not return when cancelled", run: func(_ context.Context, release <-chan struct{}) error { <-release; return nil },
			wantErr: "Run did not return"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tb := &cleanupTB{TB: t}
				started, release := make(chan struct{}), make(chan struct{})
				Start(tb, func(ctx context.Context) error { close(started); return tt.run(ctx, release) })
				<-started
				synctest.Wait()
				tb.end()
				close(release)
				switch {
				case tt.wantErr == "" && len(tb.errs) != 0:
					t.Errorf("errors %q, want none", tb.errs)
				case tt.wantErr != "" && (len(tb.errs) != 1 || !strings.HasPrefix(tb.errs[0], tt.wantErr)):
					t.Errorf("errors %q, want one starting %q", tb.errs, tt.wantErr)
				}
			})
		})
	}
}
