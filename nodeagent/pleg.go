package nodeagent

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// pleg is kubelet's pod lifecycle event generator: it lists the runtime's
// state every interval (and when kicked) and notifies the pods whose
// sandboxes or containers changed: that is how the agent notices exits.
// Once the API's pods are listed it also notifies every pod the runtime
// has and the node should not run (orphans, e.g. left by a crash), and
// once, the pod directories of such pods; their workers remove them.
type pleg struct {
	rt       runtime.Runtime
	clk      clock.WithTicker
	log      *slog.Logger
	interval time.Duration
	// synced reports whether the API's pods were listed; known whether the
	// node should run the pod uid.
	synced func() bool
	known  func(uid string) bool
	// podDirs lists the UIDs of this node's pod directories.
	podDirs func() []string
	// notify asks for a sync of the pod uid.
	notify func(uid string)
	kick   chan struct{}

	state       map[string]string // fingerprints by pod UID; the relist goroutine only
	dirsChecked bool              // pod directories of unknown pods were looked for
}

// relistSoon asks for a relist now (the API's pods were just listed). It never blocks.
func (p *pleg) relistSoon() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run relists until ctx ends.
func (p *pleg) run(ctx context.Context) {
	t := p.clk.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.relist(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-p.kick:
		}
	}
}

func (p *pleg) relist(ctx context.Context) {
	sbs, err := p.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{})
	if err != nil {
		p.log.Warn("listing the runtime's sandboxes failed", "error", err)
		return
	}
	cs, err := p.rt.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		p.log.Warn("listing the runtime's containers failed", "error", err)
		return
	}
	fps := map[string]*strings.Builder{}
	fp := func(uid string) *strings.Builder {
		b := fps[uid]
		if b == nil {
			b = &strings.Builder{}
			fps[uid] = b
		}
		return b
	}
	for _, s := range sbs {
		b := fp(s.Metadata.UID)
		b.WriteString(s.ID)
		b.WriteString(string(s.State))
		b.WriteByte(';')
	}
	for _, c := range cs {
		b := fp(c.PodUID)
		b.WriteString(c.ID)
		b.WriteString(string(c.State))
		b.WriteString(strconv.Itoa(int(c.ExitCode)))
		b.WriteByte(';')
	}
	synced := p.synced()
	var notify []string
	for uid, b := range fps {
		s := b.String()
		if p.state[uid] != s || (synced && !p.known(uid)) {
			notify = append(notify, uid)
		}
		p.state[uid] = s
	}
	for uid := range p.state {
		if _, ok := fps[uid]; !ok {
			delete(p.state, uid)
			notify = append(notify, uid) // everything of it vanished: recreate if still wanted
		}
	}
	if synced && !p.dirsChecked { // pod directories left behind by a crash
		p.dirsChecked = true
		for _, uid := range p.podDirs() {
			if !p.known(uid) {
				notify = append(notify, uid)
			}
		}
	}
	for _, uid := range notify {
		p.notify(uid)
	}
}
