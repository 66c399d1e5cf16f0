package yamledit

import (
	"errors"
	"strings"
	"testing"
)

func TestSetPath(t *testing.T) {
	const values = `# values for web
replicaCount: 2 # how many
image:
  repository: "registry.local/web"
  tag: 'v1'
ports:
  - 80
  - name: admin
    port: 9000
`
	tests := []struct {
		name  string
		path  []string
		value string
		tag   string
		old   string // the line that changes
		want  string // what it becomes
		err   error
	}{
		{name: "int stays plain", path: []string{"replicaCount"}, value: "5", tag: "!!int", old: "replicaCount: 2 # how many", want: "replicaCount: 5 # how many"},
		{name: "double quoted string", path: []string{"image", "repository"}, value: "r/web2", tag: "!!str", old: `  repository: "registry.local/web"`, want: `  repository: "r/web2"`},
		{name: "single quoted string", path: []string{"image", "tag"}, value: "v2", tag: "!!str", old: "  tag: 'v1'", want: "  tag: 'v2'"},
		{name: "sequence item", path: []string{"ports", "[1]", "port"}, value: "9001", tag: "!!int", old: "    port: 9000", want: "    port: 9001"},
		{name: "missing key", path: []string{"image", "digest"}, value: "x", err: ErrNotFound},
		{name: "index out of range", path: []string{"ports", "[5]"}, value: "1", err: ErrNotFound},
		{name: "not a scalar", path: []string{"image"}, value: "x", err: ErrUnsupported},
		{name: "string that looks like a number is quoted", path: []string{"replicaCount"}, value: "7", tag: "!!str", old: "replicaCount: 2 # how many", want: `replicaCount: "7" # how many`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := SetPath([]byte(values), tc.path, tc.value, tc.tag)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(values, tc.old+"\n", tc.want+"\n", 1)
			if string(out) != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}
