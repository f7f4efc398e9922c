package rules

import "testing"

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"group/*", "group/app", true},
		{"group/*", "group/sub/app", false},
		{"group/**", "group/app", true},
		{"group/**", "group/sub/app", true},
		{"group/**", "other/app", false},
		{"**", "a/b/c", true},
		{"**/docs", "docs", true},
		{"**/docs", "a/b/docs", true},
		{"**/docs", "a/b/docs/x", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
		{"a/**/**/z", "a/b/z", true},
		{"infra/app-?", "infra/app-1", true},
		{"infra/app-[0-9]", "infra/app-x", false},
		{"exact/path", "exact/path", true},
		{"exact/path", "exact/path2", false},
		{"*", "", true},
	}
	for _, tt := range tests {
		got, err := matchGlob(tt.pattern, tt.s)
		if err != nil || got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, %v; want %v", tt.pattern, tt.s, got, err, tt.want)
		}
	}
	if _, err := matchGlob("a/[", "a/b"); err == nil {
		t.Error("bad pattern accepted")
	}
}
