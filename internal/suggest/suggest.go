// Package suggest owns the "did you mean" of every error about a name that
// does not exist (a rule key, a config key, a condition field, a module
// function, an emoji): one edit distance, one threshold, so suggestions
// read alike wherever an admin meets them.
package suggest

// Closest returns the candidate nearest to word by edit distance (the
// optimal string alignment distance: insertions, deletions, substitutions
// and transpositions of adjacent characters each cost 1), or "" when none
// is within max(1, len(word)/3) edits, counting in runes. Ties go to the
// earlier candidate. A candidate equal to word is returned as is.
func Closest(word string, candidates []string) string {
	w := []rune(word)
	limit := max(1, len(w)/3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := distance(w, []rune(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b.
func distance(a, b []rune) int {
	// rows i-2, i-1 and i of the table, each len(b)+1 long.
	prev2 := make([]int, len(b)+1)
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
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
