package gitlab

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestEmojiData checks the form of emoji.tsv: a header stating its source,
// then name, emoji and aliases, tab-separated, sorted by name, every name
// and alias once.
func TestEmojiData(t *testing.T) {
	if !strings.Contains(emojiData, "# Source: ") {
		t.Error("emoji.tsv does not state its source")
	}
	seen := map[string]bool{}
	var names []string
	for i, line := range strings.Split(strings.TrimSuffix(emojiData, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < 2 || fields[1] == "" {
			t.Errorf("line %d: %q: want name, emoji and aliases separated by tabs", i+1, line)
			continue
		}
		names = append(names, fields[0])
		for j, name := range fields {
			if j == 1 {
				continue
			}
			if name == "" || strings.IndexFunc(name, func(r rune) bool {
				return !unicode.IsLower(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_+-", r)
			}) >= 0 {
				t.Errorf("line %d: name %q is not lowercase letters, digits, _, + and -", i+1, name)
			}
			if seen[name] {
				t.Errorf("line %d: %q is listed twice", i+1, name)
			}
			seen[name] = true
		}
	}
	if !slices.IsSorted(names) {
		t.Error("emoji.tsv is not sorted by name")
	}
	if len(names) < 1000 {
		t.Errorf("only %d emoji", len(names))
	}
}

func TestEmojiName(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"eyes", "eyes", ""},
		{":thumbsup:", "thumbsup", ""},
		{"+1", "+1", ""}, // an alias: GitLab takes it
		{"👀", "eyes", ""},
		{"❤️", "heart", ""}, // with the variation selector
		{"🚀", "rocket", ""},
		{" tada ", "tada", ""},
		{"rokcet", "", `"rokcet" is not a GitLab emoji name; did you mean "rocket"?`},
		{":thumbsupp:", "", `":thumbsupp:" is not a GitLab emoji name; did you mean "thumbsup"?`},
		{"", "", `"" is not a GitLab emoji name (names like "eyes", "thumbsup", "rocket")`},
		{"../../x", "", `"../../x" is not a GitLab emoji name (names like "eyes", "thumbsup", "rocket")`},
	} {
		got, err := EmojiName(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.err {
			t.Errorf("EmojiName(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.err)
		}
	}
}
