package editdistance

import "testing"

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 0, 0},
		{"replicas", "replicas", 0, 0},
		{"replicaz", "replicas", 0, 1},
		{"data-dri", "data-dir", 0, 2},
		{"kitten", "sitting", 0, 3},
		{"kitten", "sitting", 2, 2},
		{"a", "abcdef", 3, 3},
		{string(make([]byte, 65)), "x", 5, 5},
	}
	for _, tc := range tests {
		if got := Levenshtein(tc.a, tc.b, tc.limit); got != tc.want {
			t.Errorf("Levenshtein(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.limit, got, tc.want)
		}
	}
}
