package archrules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

// Module is bosun's module path; rule patterns are written relative to it.
const Module = "github.com/bosun-dev/bosun"

// Rule says that the packages matched by From must not depend on any package
// matched by Forbid, directly or (unless Direct) through other packages.
// Patterns name a package path relative to Module ("store") or absolute
// ("go.etcd.io/etcd/server/v3"); a pattern matches that package and every
// package below it. Allow lists exceptions to Forbid.
type Rule struct {
	// Name is the rule as ARCHITECTURE.md states it.
	Name string
	// From selects the packages the rule constrains.
	From []string
	// Forbid selects the packages they must not depend on.
	Forbid []string
	// Allow selects packages that Forbid would match but that are allowed.
	Allow []string
	// Direct limits the rule to direct imports (for standard-library packages
	// that every dependency tree contains somewhere).
	Direct bool
}

// Rules returns bosun's dependency rules.
func Rules() []Rule {
	return []Rule{
		{
			Name:   "api is the shared vocabulary: it depends on no other bosun package and on no etcd",
			From:   []string{"api"},
			Forbid: []string{Module, "go.etcd.io"},
			Allow:  []string{"api"},
		},
		{
			Name:   "api does no I/O: it imports no networking and no files",
			From:   []string{"api"},
			Forbid: []string{"os", "net", "syscall"},
			Direct: true,
		},
		{
			Name:   "manifests does no I/O beyond reading the bytes it is given",
			From:   []string{"manifests"},
			Forbid: []string{"os", "net", "syscall", Module},
			Allow:  []string{"api", "manifests", "internal/editdistance", "net/netip"}, // netip parses addresses and editdistance compares strings: no I/O
			Direct: true,
		},
		{
			Name:   "manifests depends on no other bosun package but api (and the leaf internal/editdistance, which imports nothing of bosun)",
			From:   []string{"manifests"},
			Forbid: []string{Module},
			Allow:  []string{"api", "manifests", "internal/editdistance"},
		},
		{
			Name:   "agents never import the store: the node agent speaks only through the API",
			From:   []string{"nodeagent"},
			Forbid: []string{"store", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/client/v3", "reconcile", "apiserver"},
		},
		{
			Name:   "an agent's credentials (pki, join) need no store and no etcd: agents on other machines use them",
			From:   []string{"pki", "join"},
			Forbid: []string{"store", "tokens", "apiserver", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/client/v3"},
		},
		{
			Name:   "the client speaks HTTP only: no store, no etcd",
			From:   []string{"client"},
			Forbid: []string{"store", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/client/v3"},
		},
		{
			Name:   "controllers never import sync, and nothing of Git",
			From:   []string{"reconcile"},
			Forbid: []string{"sync", "github.com/go-git"},
			Allow:  []string{"sync/state"},
		},
		{
			Name:   "the store knows no controller, no agent, no API server and no Git",
			From:   []string{"store"},
			Forbid: []string{"reconcile", "sync", "nodeagent", "apiserver", "client", "github.com/go-git"},
		},
		{
			Name:   "the API server does not import the command-line client",
			From:   []string{"apiserver"},
			Forbid: []string{"client", "cmd", "nodeagent", "reconcile"},
		},
		{
			Name:   "renderers (render/...) read only the tree they are given: no store, no etcd, no API server, controllers, agents or Git",
			From:   []string{"render"},
			Forbid: []string{"store", "go.etcd.io", "apiserver", "reconcile", "nodeagent", "client", "sync", "github.com/go-git"},
			Allow:  []string{"sync/yamledit"},
		},
		{
			Name:   "sync does not import controllers or agents",
			From:   []string{"sync"},
			Forbid: []string{"reconcile", "nodeagent", "apiserver"},
		},
	}
}

// Package is one package of the graph.
type Package struct {
	// ImportPath is the package's full import path.
	ImportPath string
	// Imports are the packages it imports directly.
	Imports []string
	// Deps are all packages it depends on, directly or not.
	Deps []string
}

// Graph maps import paths to packages: the module's packages and their deps.
type Graph map[string]*Package

// Load lists the module rooted at dir with `go list -deps -json ./...`
// (non-test code only, as the binaries are built).
func Load(ctx context.Context, dir string) (Graph, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("archrules: go list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("archrules: decode go list output: %w", err)
		}
		g[p.ImportPath] = &p
	}
	return g, nil
}

// Violation is one package breaking one rule.
type Violation struct {
	Rule string
	// Package is the constrained package; Forbidden the package it must not
	// depend on; Chain the import chain from Package to Forbidden.
	Package, Forbidden string
	Chain              []string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s depends on %s (%s)", v.Rule, rel(v.Package), rel(v.Forbidden), strings.Join(mapRel(v.Chain), " -> "))
}

// Check returns the violations of rules in g, by rule and package: one for
// each forbidden pattern a package reaches, naming the shortest chain to the
// first package of that pattern it depends on.
func Check(g Graph, rules []Rule) []Violation {
	var out []Violation
	paths := make([]string, 0, len(g))
	for p := range g {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, r := range rules {
		for _, p := range paths {
			if !strings.HasPrefix(p, Module) || !matchAny(p, r.From) {
				continue
			}
			deps := g[p].Deps
			if r.Direct {
				deps = g[p].Imports
			}
			reported := map[string]bool{}
			for _, d := range deps {
				pat, ok := match(d, r.Forbid)
				if d == p || !ok || reported[pat] {
					continue
				}
				if _, allowed := match(d, r.Allow); allowed {
					continue
				}
				reported[pat] = true
				out = append(out, Violation{Rule: r.Name, Package: p, Forbidden: d, Chain: chain(g, p, d)})
			}
		}
	}
	return out
}

// abs turns a rule pattern into a full import path.
func abs(pattern string) string {
	switch {
	case pattern == "":
		return Module
	case pattern == Module, strings.Contains(strings.SplitN(pattern, "/", 2)[0], "."):
		return pattern
	case isStd(pattern):
		return pattern
	}
	return Module + "/" + pattern
}

// isStd reports whether a pattern names a standard-library package ("os",
// "net"), which rules write bare, like bosun's own packages ("store"): the
// standard library's top-level names are listed here, as rules use them.
func isStd(pattern string) bool {
	return slices.Contains([]string{"os", "net", "syscall"}, strings.SplitN(pattern, "/", 2)[0])
}

func matchAny(path string, patterns []string) bool {
	_, ok := match(path, patterns)
	return ok
}

// match returns the first pattern that matches path.
func match(path string, patterns []string) (string, bool) {
	for _, pat := range patterns {
		a := abs(pat)
		if path == a || strings.HasPrefix(path, a+"/") {
			return pat, true
		}
	}
	return "", false
}

// chain finds a shortest import chain from -> to by breadth-first search.
func chain(g Graph, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var c []string
			for ; p != ""; p = prev[p] {
				c = append(c, p)
			}
			slices.Reverse(c)
			return c
		}
		pkg := g[p]
		if pkg == nil {
			continue
		}
		for _, i := range pkg.Imports {
			if _, seen := prev[i]; !seen {
				prev[i] = p
				queue = append(queue, i)
			}
		}
	}
	return []string{from, "...", to}
}

func rel(p string) string {
	if r, ok := strings.CutPrefix(p, Module+"/"); ok {
		return r
	}
	return p
}

func mapRel(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = rel(p)
	}
	return out
}
