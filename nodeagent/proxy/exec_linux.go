package proxy

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
)

// Exec is the real IPTables: go-iptables for single rules and chains, and
// the iptables-restore program for whole syncs (go-iptables has no restore
// API). With NetNS set, every command runs in that network namespace.
type Exec struct {
	ipt *iptables.IPTables
	// netNS is the path of a network namespace file ("" = the caller's).
	netNS string
	// restore is the iptables-restore program.
	restore string
	// RestoreTimeout bounds one iptables-restore; default
	// DefaultRestoreTimeout.
	RestoreTimeout time.Duration
}

// DefaultRestoreTimeout is how long one iptables-restore may take before it
// is killed and the sync fails (and is retried).
const DefaultRestoreTimeout = time.Minute

// NewExec returns an Exec for IPv4. netNS, when not empty, is the path of a
// network namespace (e.g. /run/netns/NAME) whose tables are programmed
// instead of the current one's.
func NewExec(netNS string) (*Exec, error) {
	e := &Exec{netNS: netNS}
	restore, err := exec.LookPath("iptables-restore")
	if err != nil {
		return nil, fmt.Errorf("proxy: iptables-restore not found (make deps installs iptables): %w", err)
	}
	e.restore = restore
	err = e.do(func() error {
		var err error
		e.ipt, err = iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(5))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: iptables: %w", err)
	}
	return e, nil
}

// do runs fn in the network namespace of e.
func (e *Exec) do(fn func() error) error {
	if e.netNS == "" {
		return fn()
	}
	return RunInNetNS(e.netNS, fn)
}

// Restore implements IPTables.
func (e *Exec) Restore(ctx context.Context, table string, data []byte) error {
	timeout := e.RestoreTimeout
	if timeout <= 0 {
		timeout = DefaultRestoreTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return e.do(func() error {
		cmd := exec.CommandContext(ctx, e.restore, "--noflush", "-w", "5")
		cmd.Stdin = bytes.NewReader(data)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("proxy: iptables-restore of table %s: %w: %s", table, err, strings.TrimSpace(out.String()))
		}
		return nil
	})
}

// EnsureChain implements IPTables.
func (e *Exec) EnsureChain(table, chain string) error {
	return e.do(func() error {
		ok, err := e.ipt.ChainExists(table, chain)
		if err != nil {
			return fmt.Errorf("proxy: look for chain %s in table %s: %w", chain, table, err)
		}
		if ok {
			return nil
		}
		if err := e.ipt.NewChain(table, chain); err != nil {
			return fmt.Errorf("proxy: create chain %s in table %s: %w", chain, table, err)
		}
		return nil
	})
}

// EnsureJump implements IPTables.
func (e *Exec) EnsureJump(table, chain string, rule ...string) error {
	return e.do(func() error {
		if err := e.ipt.InsertUnique(table, chain, 1, rule...); err != nil {
			return fmt.Errorf("proxy: ensure rule in %s/%s: %w", table, chain, err)
		}
		return nil
	})
}

// DeleteJump implements IPTables.
func (e *Exec) DeleteJump(table, chain string, rule ...string) error {
	return e.do(func() error {
		// A rule cannot name a missing chain, so with its target gone the
		// rule is gone too (and iptables -C would fail).
		for i, a := range rule {
			if a == "-j" && i+1 < len(rule) && isBosunChain(rule[i+1]) {
				ok, err := e.ipt.ChainExists(table, rule[i+1])
				if err != nil {
					return fmt.Errorf("proxy: look for chain %s in table %s: %w", rule[i+1], table, err)
				}
				if !ok {
					return nil
				}
			}
		}
		if err := e.ipt.DeleteIfExists(table, chain, rule...); err != nil {
			return fmt.Errorf("proxy: delete rule from %s/%s: %w", table, chain, err)
		}
		return nil
	})
}

// ListChains implements IPTables.
func (e *Exec) ListChains(table string) ([]string, error) {
	var out []string
	err := e.do(func() error {
		var err error
		out, err = e.ipt.ListChains(table)
		if err != nil {
			return fmt.Errorf("proxy: list chains of table %s: %w", table, err)
		}
		return nil
	})
	return out, err
}

// DeleteChain implements IPTables.
func (e *Exec) DeleteChain(table, chain string) error {
	return e.do(func() error {
		ok, err := e.ipt.ChainExists(table, chain)
		if err != nil {
			return fmt.Errorf("proxy: look for chain %s in table %s: %w", chain, table, err)
		}
		if !ok {
			return nil
		}
		if err := e.ipt.ClearAndDeleteChain(table, chain); err != nil {
			return fmt.Errorf("proxy: delete chain %s in table %s: %w", chain, table, err)
		}
		return nil
	})
}

// AppendRule appends one rule to chain through go-iptables, one exec per
// rule. The Proxier never uses it; it exists so that benchmarks can compare
// rule-by-rule programming with one iptables-restore.
func (e *Exec) AppendRule(table, chain string, rule ...string) error {
	return e.do(func() error { return e.ipt.Append(table, chain, rule...) })
}

func defaultIPTables() (IPTables, error) { return NewExec("") }
