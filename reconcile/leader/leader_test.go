package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
)

// newClient returns a fresh etcd client to the same etcd as base, closed when
// the test ends (closing it twice is harmless).
func newClient(t *testing.T, base *clientv3.Client) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: base.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// leaders tracks which candidates lead, and the most that ever led at once.
type leaders struct {
	mu      sync.Mutex
	now     map[string]bool
	max     int
	elected map[string]int // how often each was elected
}

func newLeaders() *leaders { return &leaders{now: map[string]bool{}, elected: map[string]int{}} }

// lead returns a lead function for id that blocks until its ctx ends.
func (l *leaders) lead(id string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		l.mu.Lock()
		l.now[id] = true
		l.elected[id]++
		l.max = max(l.max, len(l.now))
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		delete(l.now, id)
		l.mu.Unlock()
		return nil
	}
}

// current returns the only leader, or "" when none or several lead.
func (l *leaders) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.now) != 1 {
		return ""
	}
	for id := range l.now {
		return id
	}
	return ""
}

func (l *leaders) isLeading(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now[id]
}

func (l *leaders) timesElected(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.elected[id]
}

// candidate runs Run for id on c until cancel is called; done closes when Run
// returned.
type candidate struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, c *clientv3.Client, name, id string, ttl int, lead func(context.Context) error) *candidate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cd := &candidate{id: id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(cd.done)
		if err := Run(ctx, c, name, id, ttl, storetest.Logger(t), lead); err != nil {
			t.Errorf("Run(%s) = %v", id, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-cd.done
	})
	return cd
}

func (cd *candidate) stop(t *testing.T) {
	t.Helper()
	cd.cancel()
	testutil.Receive(t, cd.done, 10*time.Second, "Run("+cd.id+") to return after its context ended")
}

func TestLeaderNoCandidates(t *testing.T) {
	s := storetest.Start(t)
	if _, err := Leader(context.Background(), s.Client(), "nobody"); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader of an empty election = %v, want ErrNoLeader", err)
	}
}

func TestLeaderFailover(t *testing.T) {
	tests := []struct {
		name string
		ttl  int
		// end makes the leader stop leading; deadline bounds the takeover.
		end      func(t *testing.T, leader *candidate, client *clientv3.Client)
		deadline time.Duration
		// stays says whether the old leader's Run keeps running as a standby.
		stays bool
		// overlapOK allows the two candidates to lead at once for a moment.
		overlapOK bool
	}{
		{
			name:     "leader shuts down and resigns",
			ttl:      60, // the takeover must not wait for the lease
			end:      func(t *testing.T, leader *candidate, _ *clientv3.Client) { leader.stop(t) },
			deadline: 20 * time.Second, // well within the lease, generous for a busy machine
		},
		{
			name:     "leader's etcd connection dies",
			ttl:      1,
			end:      func(t *testing.T, _ *candidate, c *clientv3.Client) { _ = c.Close() },
			deadline: 15 * time.Second, // ttl, plus etcd's lease expiry checks, on a busy machine
		},
		{
			name: "leader's key is deleted",
			ttl:  60, // the takeover must not wait for the lease
			end: func(t *testing.T, leader *candidate, c *clientv3.Client) {
				// Someone else (an operator, a bug) removes the leader's key.
				ctx := context.Background()
				resp, err := c.Get(ctx, KeyPrefix+"failover/", clientv3.WithFirstCreate()...)
				if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != leader.id {
					t.Fatalf("reading the leader key: %v, %v", resp, err)
				}
				if _, err := c.Delete(ctx, string(resp.Kvs[0].Key)); err != nil {
					t.Fatal(err)
				}
			},
			deadline: 20 * time.Second,
			stays:    true,
			// Both candidates see the deletion at once: the standby may start
			// leading a few milliseconds before the deposed leader's lead
			// returns. Leadership taken away from outside cannot be handed
			// over without overlap; the old lead ctx is cancelled within the
			// deadline (checked above).
			overlapOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			l := newLeaders()
			clients := map[string]*clientv3.Client{}
			cands := map[string]*candidate{}
			for _, id := range []string{"a", "b"} {
				clients[id] = newClient(t, s.Client())
				cands[id] = start(t, clients[id], "failover", id, tt.ttl, l.lead(id))
			}
			var first string
			testutil.EventuallyTrue(t, 10*time.Second, "a leader", func() bool { first = l.current(); return first != "" })
			ctx := context.Background()
			if got, err := Leader(ctx, s.Client(), "failover"); err != nil || got != first {
				t.Fatalf("Leader = %q, %v, want %q", got, err, first)
			}
			other := map[string]string{"a": "b", "b": "a"}[first]
			if l.isLeading(other) {
				t.Fatalf("both candidates lead")
			}

			began := time.Now()
			tt.end(t, cands[first], clients[first])
			testutil.EventuallyTrue(t, tt.deadline, "the old leader's lead ctx to be cancelled", func() bool { return !l.isLeading(first) })
			testutil.EventuallyTrue(t, tt.deadline, "the standby to take over", func() bool { return l.isLeading(other) })
			t.Logf("takeover after %v", time.Since(began))
			testutil.EventuallyTrue(t, tt.deadline, "Leader to name the new leader", func() bool {
				got, err := Leader(ctx, s.Client(), "failover")
				return err == nil && got == other
			})
			if tt.stays {
				// The deposed leader campaigns again and leads once the new one stops.
				cands[other].stop(t)
				testutil.EventuallyTrue(t, 20*time.Second, "the old leader to lead again", func() bool { return l.isLeading(first) })
			}
			cands["a"].stop(t)
			cands["b"].stop(t)
			if l.max != 1 && !(tt.overlapOK && l.max == 2) {
				t.Errorf("%d candidates led at the same time, want 1", l.max)
			}
		})
	}
}

// TestLeaderStandbyWaitsForLeaseExpiry has a leader that dies without resigning
// (its client is closed while it holds the election through a bare session): a
// standby must not lead while the lease lives and must lead once it expires.
func TestLeaderStandbyWaitsForLeaseExpiry(t *testing.T) {
	s := storetest.Start(t)
	dead := newClient(t, s.Client())
	sess, err := concurrency.NewSession(dead, concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := concurrency.NewElection(sess, KeyPrefix+"expiry").Campaign(context.Background(), "dead"); err != nil {
		t.Fatal(err)
	}
	l := newLeaders()
	start(t, newClient(t, s.Client()), "expiry", "standby", 1, l.lead("standby"))
	if got, err := Leader(context.Background(), s.Client(), "expiry"); err != nil || got != "dead" {
		t.Fatalf("Leader = %q, %v, want dead", got, err)
	}
	began := time.Now()
	_ = dead.Close() // dies: no resign, no revoke
	testutil.EventuallyTrue(t, 15*time.Second, "the standby to take over", func() bool { return l.isLeading("standby") })
	took := time.Since(began)
	t.Logf("takeover after %v", took)
	if took < 500*time.Millisecond {
		t.Errorf("standby took over after %v, before the 1 s lease of the dead leader could expire", took)
	}
}

func TestLeaderManyCandidates(t *testing.T) {
	s := storetest.Start(t)
	l := newLeaders()
	var cands []*candidate
	for i := range 4 {
		id := fmt.Sprintf("c%d", i)
		// A 60 s lease: a stopped leader resigns, and the next must not wait for its lease.
		cands = append(cands, start(t, newClient(t, s.Client()), "many", id, 60, l.lead(id)))
	}
	// Stop leaders one by one: each time exactly one other takes over.
	stopped := map[string]bool{}
	for range len(cands) {
		var cur string
		testutil.EventuallyTrue(t, 20*time.Second, "a leader", func() bool { cur = l.current(); return cur != "" && !stopped[cur] })
		for _, cd := range cands {
			if cd.id == cur {
				cd.stop(t)
				stopped[cur] = true
			}
		}
	}
	if l.max != 1 {
		t.Errorf("%d candidates led at the same time, want 1", l.max)
	}
	if _, err := Leader(context.Background(), s.Client(), "many"); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader after every candidate stopped = %v, want ErrNoLeader", err)
	}
}

func TestLeaderLeadReturningCampaignsAgain(t *testing.T) {
	s := storetest.Start(t)
	var calls atomic.Int32
	again := make(chan struct{})
	lead := func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			return errors.New("controllers failed to start")
		}
		close(again)
		<-ctx.Done()
		return nil
	}
	cd := start(t, s.Client(), "retry", "solo", 5, lead)
	testutil.Receive(t, again, 10*time.Second, "lead to be called again after it returned an error")
	cd.stop(t)
	if _, err := Leader(context.Background(), s.Client(), "retry"); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader after a clean stop = %v, want ErrNoLeader (resigned)", err)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	if err := Run(context.Background(), nil, "x", "id", 1, nil, func(context.Context) error { return nil }); err == nil {
		t.Error("Run with a nil client returned nil")
	}
	if DefaultID() == "" {
		t.Error("DefaultID is empty")
	}
}
