package podenv

import "strings"

// Expand replaces $(VAR) in s by mapping's value, as Kubernetes does:
// "$$" is an escaped "$", a reference to an unknown variable or an
// unclosed "$(" is kept as written, and a "$" before anything else stays.
func Expand(s string, mapping func(string) (string, bool)) string {
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:cursor])
		next := s[cursor+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			cursor++
		case next == '(':
			end := strings.IndexByte(s[cursor+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				cursor++
				break
			}
			name := s[cursor+2 : cursor+2+end]
			if v, ok := mapping(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			cursor += 2 + end
		default:
			b.WriteByte('$')
			b.WriteByte(next)
			cursor++
		}
		checkpoint = cursor + 1
	}
	b.WriteString(s[checkpoint:])
	return b.String()
}
