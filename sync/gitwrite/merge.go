package gitwrite

import (
	"bytes"
	"slices"
)

// maxMergeCells bounds the line-diff table of merge3 (lines of base times
// lines of the other side); larger files are not merged.
const maxMergeCells = 16 << 20

// hunk replaces base lines [start, end) with lines.
type hunk struct {
	start, end int
	lines      [][]byte
}

// merge3 merges, line by line, the changes from base to ours and from base
// to theirs, as git's three-way merge does when they do not meet. It
// reports false when a change of one side touches or overlaps a change of
// the other (a conflict), or when the files are too large to compare.
func merge3(base, ours, theirs []byte) ([]byte, bool) {
	b, o, t := splitLines(base), splitLines(ours), splitLines(theirs)
	if len(b)*max(len(o), len(t)) > maxMergeCells {
		return nil, false
	}
	oh, th := diffHunks(b, o), diffHunks(b, t)
	for _, x := range oh {
		for _, y := range th {
			if x.start <= y.end && y.start <= x.end {
				return nil, false
			}
		}
	}
	all := append(oh, th...)
	slices.SortFunc(all, func(x, y hunk) int { return x.start - y.start })
	var out bytes.Buffer
	pos := 0
	for _, h := range all {
		for _, l := range b[pos:h.start] {
			out.Write(l)
		}
		for _, l := range h.lines {
			out.Write(l)
		}
		pos = h.end
	}
	for _, l := range b[pos:] {
		out.Write(l)
	}
	return out.Bytes(), true
}

// splitLines splits s after each newline, keeping the newlines.
func splitLines(s []byte) [][]byte {
	var out [][]byte
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// diffHunks returns the changes from a to b as hunks over a's lines, from
// a longest common subsequence of lines.
func diffHunks(a, b [][]byte) []hunk {
	n, m := len(a), len(b)
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if bytes.Equal(a[i], b[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var hunks []hunk
	i, j := 0, 0
	cur := hunk{start: -1}
	flush := func() {
		if cur.start >= 0 {
			cur.end = i
			hunks = append(hunks, cur)
			cur = hunk{start: -1}
		}
	}
	for i < n || j < m {
		switch {
		case i < n && j < m && bytes.Equal(a[i], b[j]):
			flush()
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			if cur.start < 0 {
				cur.start = i
			}
			cur.lines = append(cur.lines, b[j])
			j++
		default:
			if cur.start < 0 {
				cur.start = i
			}
			i++
		}
	}
	flush()
	return hunks
}
