package samples

import "strings"

// maxDiffCells bounds the table of diffLines; larger inputs are shown whole.
const maxDiffCells = 4 << 20

// diffContext is how many common lines diffLines keeps around a change.
const diffContext = 3

// diffLines is a unified-style line diff from a to b: lines only in a
// start with "-", lines only in b with "+", common lines with " " (only
// those within diffContext lines of a change; "..." marks the gaps). Empty
// when a == b.
func diffLines(a, b string) string {
	if a == b {
		return ""
	}
	return trimContext(fullDiff(a, b))
}

// fullDiff is diffLines with every common line.
func fullDiff(a, b string) []string {
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	var out []string
	if (len(x)+1)*(len(y)+1) > maxDiffCells {
		for _, l := range x {
			out = append(out, "-"+l)
		}
		for _, l := range y {
			out = append(out, "+"+l)
		}
		return out
	}
	// lcs[i][j] is the length of the longest common subsequence of x[i:]
	// and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out = append(out, " "+x[i])
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+x[i])
			i++
		default:
			out = append(out, "+"+y[j])
			j++
		}
	}
	return out
}

// trimContext keeps the changed lines and diffContext common lines around
// each, joined with newlines.
func trimContext(lines []string) string {
	keep := make([]bool, len(lines))
	for i, l := range lines {
		if l[0] == ' ' {
			continue
		}
		for k := max(0, i-diffContext); k <= min(len(lines)-1, i+diffContext); k++ {
			keep[k] = true
		}
	}
	var out strings.Builder
	gap := false
	for i, l := range lines {
		if !keep[i] {
			gap = true
			continue
		}
		if gap {
			out.WriteString("...\n")
			gap = false
		}
		out.WriteString(l + "\n")
	}
	if gap {
		out.WriteString("...\n")
	}
	return out.String()
}
