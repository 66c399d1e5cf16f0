package nodeagent

import (
	"context"
	"strconv"
	"strings"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// relistLoop lists the runtime's state every RelistInterval (and when
// kicked) and enqueues the pods whose sandboxes or containers changed, as
// kubelet's PLEG does: that is how the agent notices exits. After the first
// pod list it also enqueues every pod the runtime has and the API does not
// (orphans, e.g. left by a crash), which the workers then remove.
func (a *Agent) relistLoop(ctx context.Context) {
	t := a.clk.NewTicker(a.cfg.RelistInterval)
	defer t.Stop()
	for {
		a.relist(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-a.kick:
		}
	}
}

func (a *Agent) relist(ctx context.Context) {
	sbs, err := a.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{})
	if err != nil {
		a.log.Warn("listing the runtime's sandboxes failed", "error", err)
		return
	}
	cs, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		a.log.Warn("listing the runtime's containers failed", "error", err)
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
	a.mu.Lock()
	synced, q := a.synced, a.queue
	var enqueue []string
	for uid, b := range fps {
		s := b.String()
		_, known := a.cache[uid]
		_, static := a.static[uid]
		if a.plegState[uid] != s || (synced && !known && !static) {
			enqueue = append(enqueue, uid)
		}
		a.plegState[uid] = s
	}
	for uid := range a.plegState {
		if _, ok := fps[uid]; !ok {
			delete(a.plegState, uid)
			enqueue = append(enqueue, uid) // everything of it vanished: recreate if still wanted
		}
	}
	if synced && !a.dirsChecked { // pod directories left behind by a crash
		a.dirsChecked = true
		for _, uid := range a.podDirUIDs() {
			_, known := a.cache[uid]
			_, static := a.static[uid]
			if !known && !static {
				enqueue = append(enqueue, uid)
			}
		}
	}
	a.mu.Unlock()
	for _, uid := range enqueue {
		q.Add(uid)
	}
}
