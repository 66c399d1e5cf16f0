package archrules

import (
	"context"
	"strings"
	"testing"
)

// TestRules checks bosun's own import graph against Rules. A failure names
// the rule, the package and the import chain that breaks it: move the code
// to the package the rule allows (ARCHITECTURE.md says where things go)
// rather than loosening the rule.
func TestRules(t *testing.T) {
	g, err := Load(context.Background(), "../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"api", "store", "nodeagent", "reconcile", "manifests", "client", "apiserver"} {
		if g[Module+"/"+must] == nil {
			t.Fatalf("go list did not report package %s: the rules would check nothing", must)
		}
	}
	for _, v := range Check(g, Rules()) {
		t.Error(v)
	}
}

// TestCheck proves that Check finds what the rules forbid, directly and
// through other packages, and honours Allow and Direct.
func TestCheck(t *testing.T) {
	m := func(p string) string { return Module + "/" + p }
	g := Graph{
		m("nodeagent"):       {ImportPath: m("nodeagent"), Imports: []string{m("client")}, Deps: []string{m("client"), m("sync/state"), m("store")}},
		m("client"):          {ImportPath: m("client"), Imports: []string{m("sync/state")}, Deps: []string{m("sync/state"), m("store")}},
		m("sync/state"):      {ImportPath: m("sync/state"), Imports: []string{m("store")}, Deps: []string{m("store")}},
		m("store"):           {ImportPath: m("store")},
		m("manifests"):       {ImportPath: m("manifests"), Imports: []string{"os", m("api")}, Deps: []string{"os", m("api")}},
		m("api"):             {ImportPath: m("api")},
		m("reconcile/gc"):    {ImportPath: m("reconcile/gc"), Imports: []string{m("sync/state")}, Deps: []string{m("sync/state"), m("store")}},
		m("reconcile/other"): {ImportPath: m("reconcile/other"), Imports: []string{"net/http"}, Deps: []string{"net/http", "os"}},
	}
	tests := []struct {
		name string
		rule Rule
		want []string // "package -> forbidden", in order
	}{
		{
			name: "transitive dependency is found with its chain",
			rule: Rule{Name: "no store", From: []string{"nodeagent"}, Forbid: []string{"store"}},
			want: []string{"nodeagent -> store"},
		},
		{
			name: "allowed package is not reported",
			rule: Rule{Name: "no sync", From: []string{"reconcile"}, Forbid: []string{"sync"}, Allow: []string{"sync/state"}},
			want: nil,
		},
		{
			name: "forbidden package below a pattern is reported",
			rule: Rule{Name: "no sync", From: []string{"reconcile"}, Forbid: []string{"sync"}},
			want: []string{"reconcile/gc -> sync/state"},
		},
		{
			name: "direct rule looks at imports only",
			rule: Rule{Name: "no os", From: []string{"reconcile", "manifests"}, Forbid: []string{"os"}, Direct: true},
			want: []string{"manifests -> os"},
		},
		{
			name: "standard library pattern covers its sub-packages",
			rule: Rule{Name: "no net", From: []string{"reconcile"}, Forbid: []string{"net"}},
			want: []string{"reconcile/other -> net/http"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range Check(g, []Rule{tt.rule}) {
				got = append(got, rel(v.Package)+" -> "+rel(v.Forbidden))
				if len(v.Chain) < 2 || v.Chain[0] != v.Package || v.Chain[len(v.Chain)-1] != v.Forbidden {
					t.Errorf("chain %v does not lead from %s to %s", v.Chain, v.Package, v.Forbidden)
				}
				if !strings.Contains(v.String(), tt.rule.Name) {
					t.Errorf("message %q does not name the rule", v)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
