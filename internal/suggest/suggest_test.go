package suggest

import "testing"

func TestClosest(t *testing.T) {
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"paramz", []string{"name", "params", "plugin"}, "params"},
		{"add_label", []string{"add_labels", "remove_labels"}, "add_labels"},
		{"rokcet", []string{"rock", "rocket", "pocket"}, "rocket"}, // a transposition is one edit
		{"target_brnach", []string{"source_branch", "target_branch"}, "target_branch"},
		{"x", []string{"a", "b"}, "a"}, // one edit is always allowed; ties go to the first
		{"lisen", []string{"listen", "lisp"}, "listen"},
		{"colour", []string{"name", "plugin", "params"}, ""}, // nothing near
		{"abcdef", []string{"abcxyz"}, ""},                   // 3 edits > 6/3
		{"name", []string{"name"}, "name"},
		{"note", nil, ""},
		{"ünï", []string{"uni", "üni"}, "üni"}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := Closest(tt.word, tt.candidates); got != tt.want {
			t.Errorf("Closest(%q, %q) = %q, want %q", tt.word, tt.candidates, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"ab", "ba", 1}, {"abc", "acb", 1}, {"ca", "abc", 3},
	} {
		if got := distance([]rune(tt.a), []rune(tt.b)); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
