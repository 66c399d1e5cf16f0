package yamledit

import (
	"errors"
	"strings"
	"testing"
)

func TestKustomizationEntries(t *testing.T) {
	const kust = `# overlay for prod
resources:
  - ../base # shared
images:
  - name: registry.local/web # the app
    newTag: "1.0"
  - name: registry.local/db
    newName: mirror.local/db
    digest: sha256:aaaa
replicas:
- name: web
  count: 2
`
	tests := []struct {
		name string
		data string
		edit func([]byte) ([]byte, error)
		old  string // the text that changes ("" appends new to the file)
		new  string
		err  error
	}{
		{
			name: "tag of an existing entry", data: kust,
			edit: func(d []byte) ([]byte, error) { return SetImageEntry(d, "registry.local/web", "", "1.1", "") },
			old:  `    newTag: "1.0"`, new: `    newTag: "1.1"`,
		},
		{
			name: "new name added to an existing entry, after its last line", data: kust,
			edit: func(d []byte) ([]byte, error) {
				return SetImageEntry(d, "registry.local/web", "mirror.local/web", "1.0", "")
			},
			old: "    newTag: \"1.0\"\n", new: "    newTag: \"1.0\"\n    newName: mirror.local/web\n",
		},
		{
			name: "tag replaces a digest", data: kust,
			edit: func(d []byte) ([]byte, error) {
				return SetImageEntry(d, "registry.local/db", "mirror.local/db", "15", "")
			},
			old: "    digest: sha256:aaaa\n", new: "    newTag: \"15\"\n",
		},
		{
			name: "new entry at the end of images:", data: kust,
			edit: func(d []byte) ([]byte, error) { return SetImageEntry(d, "registry.local/cache", "", "7", "") },
			old:  "    digest: sha256:aaaa\n", new: "    digest: sha256:aaaa\n  - name: registry.local/cache\n    newTag: \"7\"\n",
		},
		{
			name: "images: added to a file without it", data: "resources:\n- ../base",
			edit: func(d []byte) ([]byte, error) { return SetImageEntry(d, "web", "", "v2", "") },
			old:  "- ../base", new: "- ../base\nimages:\n- name: web\n  newTag: v2\n",
		},
		{
			name: "count of an existing replicas: entry", data: kust,
			edit: func(d []byte) ([]byte, error) { return SetReplicasEntry(d, "web", 5) },
			old:  "  count: 2\n", new: "  count: 5\n",
		},
		{
			name: "new replicas: entry keeps the dash column", data: kust,
			edit: func(d []byte) ([]byte, error) { return SetReplicasEntry(d, "worker", 3) },
			old:  "  count: 2\n", new: "  count: 2\n- name: worker\n  count: 3\n",
		},
		{
			name: "flow sequence refused", data: "images: [{name: web, newTag: v1}]\n",
			edit: func(d []byte) ([]byte, error) { return SetImageEntry(d, "web", "", "v2", "") },
			err:  ErrUnsupported,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.edit([]byte(tc.data))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(tc.data, tc.old, tc.new, 1)
			if string(out) != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}
