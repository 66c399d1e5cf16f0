package gitsource

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestIsAncestor(t *testing.T) {
	dir, repo := initRepo(t, false)
	files := map[string]fentry{"a.yaml": {data: "a: 1\n"}}
	c1 := writeCommit(t, repo, nil, "one", testTime(1), files)
	c2 := writeCommit(t, repo, []plumbing.Hash{c1}, "two", testTime(2), files)
	c3 := writeCommit(t, repo, []plumbing.Hash{c2}, "three", testTime(3), files)
	other := writeCommit(t, repo, []plumbing.Hash{c1}, "rewritten", testTime(4), files)
	setBranch(t, repo, "main", c3)
	src := mainSource(t, dir)
	for _, tc := range []struct {
		name      string
		anc, desc plumbing.Hash
		want      bool
	}{
		{"itself", c2, c2, true},
		{"parent", c2, c3, true},
		{"grandparent", c1, c3, true},
		{"a sibling history", c2, other, false},
		{"the other way", c3, c1, false},
		{"an unknown commit, walked to the root", plumbing.NewHash("0123456789abcdef0123456789abcdef01234567"), c3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := src.IsAncestor(t.Context(), tc.anc.String(), tc.desc.String())
			if err != nil || got != tc.want {
				t.Errorf("IsAncestor(%.8s, %.8s) = %v, %v; want %v", tc.anc, tc.desc, got, err, tc.want)
			}
		})
	}
}
