// Package editdistance measures how far apart two short strings are, for
// "did you mean" suggestions (a misspelt field in a manifest, an unknown key
// in a config file). It imports nothing of bosun, so any package may use it.
package editdistance

// Levenshtein returns the Levenshtein distance of a and b (insertions,
// deletions and substitutions of bytes), or limit when it is limit or more;
// strings longer than 64 bytes are not compared (limit). A limit <= 0 means
// no limit.
func Levenshtein(a, b string, limit int) int {
	if limit > 0 {
		if len(a) > 64 || len(b) > 64 {
			return limit
		}
		if d := len(a) - len(b); d >= limit || -d >= limit {
			return limit
		}
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	if limit > 0 && prev[len(b)] > limit {
		return limit
	}
	return prev[len(b)]
}
