package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// RunHook runs a container's lifecycle handler (its postStart or preStop
// hook) against t once, as kubelet does: exec runs the command in the
// container (an exit code other than 0 fails), httpGet sends the request
// (a status outside 200-399 fails), sleep waits its seconds on clk (nil:
// the real clock). Nothing but ctx bounds it: the caller gives it the
// termination grace period (preStop) or no limit (postStart). The error
// says what failed; tcpSocket is refused, as kubelet refuses it.
func (c *Checker) RunHook(ctx context.Context, h *corev1.LifecycleHandler, t Target, clk clock.Clock) error {
	var out Outcome
	switch {
	case h == nil:
		return nil
	case h.Exec != nil:
		out = c.exec(ctx, h.Exec, t)
	case h.HTTPGet != nil:
		out = c.httpGet(ctx, h.HTTPGet, t)
	case h.Sleep != nil:
		return sleep(ctx, clk, time.Duration(h.Sleep.Seconds)*time.Second)
	case h.TCPSocket != nil:
		return errors.New("tcpSocket is not supported as a lifecycle hook (as in Kubernetes): use exec, httpGet or sleep")
	default:
		return errors.New("the lifecycle hook has no handler: set exec, httpGet or sleep")
	}
	if out.OK {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s (%w)", out.Message, err)
	}
	return errors.New(out.Message)
}

// sleep waits d on clk, or until ctx ends (not an error: the hook's time
// is up, as kubelet's sleep hook ends with the grace period).
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-ctx.Done():
	}
	return nil
}
