package gitwrite

import (
	"strings"
	"testing"
)

func TestMerge3(t *testing.T) {
	base := "a\nreplicas: 3\nb\nc\nd\ne\nimage: v1\nf\n"
	tests := []struct {
		name         string
		ours, theirs string
		want         string
		wantConflict bool
	}{
		{name: "only theirs", ours: base, theirs: strings.Replace(base, "v1", "v0", 1), want: strings.Replace(base, "v1", "v0", 1)},
		{name: "only ours", ours: strings.Replace(base, "3", "4", 1), theirs: base, want: strings.Replace(base, "3", "4", 1)},
		{name: "apart", ours: strings.Replace(base, "replicas: 3", "replicas: 4", 1), theirs: strings.Replace(base, "image: v1", "image: v0", 1),
			want: "a\nreplicas: 4\nb\nc\nd\ne\nimage: v0\nf\n"},
		{name: "same line", ours: strings.Replace(base, "v1", "v2", 1), theirs: strings.Replace(base, "v1", "v0", 1), wantConflict: true},
		{name: "adjacent lines", ours: strings.Replace(base, "e\n", "E\n", 1), theirs: strings.Replace(base, "v1", "v0", 1), wantConflict: true},
		{name: "insertion and change apart", ours: "x\n" + base, theirs: strings.Replace(base, "v1", "v0", 1), want: "x\n" + strings.Replace(base, "v1", "v0", 1)},
		{name: "deletion apart", ours: strings.Replace(base, "c\n", "", 1), theirs: strings.Replace(base, "f\n", "g\n", 1), want: "a\nreplicas: 3\nb\nd\ne\nimage: v1\ng\n"},
		{name: "no final newline", ours: "a\nb\nc\nd\ne", theirs: "A\nb\nc\nd\ne", want: "A\nb\nc\nd\ne"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			if tt.name == "no final newline" {
				b = "a\nb\nc\nd\ne"
			}
			got, ok := merge3([]byte(b), []byte(tt.ours), []byte(tt.theirs))
			if ok == tt.wantConflict {
				t.Fatalf("merge3 ok = %v, want conflict %v (got %q)", ok, tt.wantConflict, got)
			}
			if ok && string(got) != tt.want {
				t.Errorf("merge3 = %q, want %q", got, tt.want)
			}
		})
	}
}
