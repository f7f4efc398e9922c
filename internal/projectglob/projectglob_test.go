package projectglob

import "testing"

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"group/*", "group/app", true},
		{"group/*", "group/sub/app", false},
		{"group/**", "group/app", true},
		{"group/**", "group/sub/app", true},
		{"group/**", "other/app", false},
		{"**/docs", "docs", true},
		{"**/docs", "a/b/docs", true},
		{"Team-A/**", "team-a/App", true}, // case-insensitive
		{"team-a/app", "/TEAM-A/app/", true},
		{"team-?/app", "team-b/app", true},
		{"team-[ab]/app", "team-c/app", false},
		{"{team-a,team-b}/*", "team-b/x", true},
		{"*", "group/app", false}, // one segment; [[secret]] "*" is every project (auth's own tier)
		{"[", "x", false},         // malformed: matches nothing
	} {
		if got := Match(c.pattern, c.path); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestValid(t *testing.T) {
	for _, p := range []string{"group/*", "group/**", "**/docs", "a/{b,c}", "x"} {
		if err := Valid(p); err != nil {
			t.Errorf("Valid(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "[", "a/{b"} {
		if err := Valid(p); err == nil {
			t.Errorf("Valid(%q) accepted", p)
		}
	}
	if IsGlob("group/app") || !IsGlob("group/*") || !IsGlob("a/{b,c}") {
		t.Error("IsGlob")
	}
}

// MatchString keeps the dialect rules' glob() has always had.
func TestMatchString(t *testing.T) {
	for _, tt := range []struct {
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
		{"release/*", "Release/1.0", false}, // case matters for strings
		{"*", "", true},
	} {
		if got := MatchString(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchString(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	if ValidString("a/[") == nil {
		t.Error("bad pattern accepted")
	}
}
