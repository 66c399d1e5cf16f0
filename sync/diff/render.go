package diff

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// contextLines is the number of unchanged lines around each hunk.
const contextLines = 3

// maxDiffCells bounds the line-diff table (lines of one side times lines
// of the other); larger objects are shown as wholly replaced.
const maxDiffCells = 4 << 20

// Render writes changes as a report: the Added, Changed and Pruned
// sections (Changed with a unified diff of each object's YAML under a
// "--- live" / "+++ <rev>" header), then the Deployments that would roll
// out. rev names the revision in the headers. With no changes it writes
// one line saying so.
func Render(w io.Writer, changes []Change, rev string) error {
	var b bytes.Buffer
	if len(changes) == 0 {
		fmt.Fprintf(&b, "No changes: %s matches the live desired state.\n", rev)
		_, err := w.Write(b.Bytes())
		return err
	}
	section := func(op Op, title, mark string) {
		var n int
		for _, c := range changes {
			if c.Op == op {
				n++
			}
		}
		if n == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s (%d):\n", title, n)
		for _, c := range changes {
			if c.Op != op {
				continue
			}
			fmt.Fprintf(&b, "  %s %s", mark, c.ID())
			if c.Source != "" {
				fmt.Fprintf(&b, "  (%s)", c.Source)
			}
			b.WriteByte('\n')
		}
	}
	section(Added, "Added", "+")
	section(Changed, "Changed", "~")
	for _, c := range changes {
		if c.Op != Changed {
			continue
		}
		fmt.Fprintf(&b, "\n--- live %s\n+++ %s %s\n", c.ID(), rev, c.ID())
		b.WriteString(Unified(string(c.Live), string(c.Desired), contextLines))
	}
	section(Pruned, "Pruned", "-")
	var roll []Change
	for _, c := range changes {
		if c.RollsOut {
			roll = append(roll, c)
		}
	}
	b.WriteString("\nDeployments that would roll out:")
	if len(roll) == 0 {
		b.WriteString(" none\n")
	} else {
		b.WriteByte('\n')
		for _, c := range roll {
			note := "pod template changed"
			if c.Op == Added {
				note = "new"
			}
			fmt.Fprintf(&b, "  %s/%s (%s)\n", c.Namespace, c.Name, note)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Unified returns the hunks ("@@ -a,b +c,d @@" and " ", "-", "+" lines)
// of a line diff from a to b with n lines of context, or "" when they are
// equal. It finds a longest common subsequence of lines.
func Unified(a, b string, n int) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	ops := lineOps(x, y)
	var out strings.Builder
	// Group the edit script into hunks with n lines of context.
	i := 0
	for i < len(ops) {
		// Find the next change.
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i == len(ops) {
			break
		}
		start := max(i-n, 0)
		// Extend past changes separated by at most 2n unchanged lines.
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*n {
				end = min(end+n, len(ops))
				break
			}
			end = run
		}
		h := ops[start:end]
		aStart, bStart := h[0].ai, h[0].bi
		var aLen, bLen int
		for _, o := range h {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, o := range h {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// lineOp is one line of an edit script: kind ' ' (in both), '-' (only in
// a) or '+' (only in b); ai and bi are the 0-based positions in a and b
// before the line.
type lineOp struct {
	kind   byte
	text   string
	ai, bi int
}

func lineOps(x, y []string) []lineOp {
	// Common prefix and suffix need no table.
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	mx, my := x[pre:len(x)-suf], y[pre:len(y)-suf]
	var ops []lineOp
	for i := 0; i < pre; i++ {
		ops = append(ops, lineOp{' ', x[i], i, i})
	}
	ai, bi := pre, pre
	if len(mx)*len(my) > maxDiffCells {
		for _, l := range mx {
			ops = append(ops, lineOp{'-', l, ai, bi})
			ai++
		}
		for _, l := range my {
			ops = append(ops, lineOp{'+', l, ai, bi})
			bi++
		}
	} else {
		// lcs[i][j] is the LCS length of mx[i:] and my[j:].
		w := len(my) + 1
		lcs := make([]int32, (len(mx)+1)*w)
		for i := len(mx) - 1; i >= 0; i-- {
			for j := len(my) - 1; j >= 0; j-- {
				if mx[i] == my[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(mx) || j < len(my) {
			switch {
			case i < len(mx) && j < len(my) && mx[i] == my[j]:
				ops = append(ops, lineOp{' ', mx[i], ai, bi})
				i, j, ai, bi = i+1, j+1, ai+1, bi+1
			case i < len(mx) && (j == len(my) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				ops = append(ops, lineOp{'-', mx[i], ai, bi})
				i, ai = i+1, ai+1
			default:
				ops = append(ops, lineOp{'+', my[j], ai, bi})
				j, bi = j+1, bi+1
			}
		}
	}
	for k := len(x) - suf; k < len(x); k++ {
		ops = append(ops, lineOp{' ', x[k], ai, bi})
		ai, bi = ai+1, bi+1
	}
	return ops
}
