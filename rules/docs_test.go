package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamplesLoad loads every TOML example of docs/rules.md that holds
// a complete rule, so the documentation cannot drift from the loader.
func TestDocsExamplesLoad(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	dir := t.TempDir()
	n := 0
	for i, b := range blocks {
		src := b[1]
		if !strings.Contains(src, "[[rule]]") || !strings.Contains(src, "plugin =") {
			continue
		}
		n++
		file := filepath.Join(dir, fmt.Sprintf("example-%02d.toml", i))
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load([]string{file}, Options{}); err != nil {
			t.Errorf("docs example %d does not load:\n%s\n%v", i, src, err)
		}
	}
	if n < 6 {
		t.Errorf("found only %d rule examples in docs/rules.md", n)
	}

	// The expressions shown in the text compile too.
	for _, when := range []string{
		`payload.object_attributes?.status == "failed"`,
		`(payload.object_attributes?.detailed_merge_status ?? "") == "mergeable"`,
		`payload.changes?.labels != nil`,
		`has_command("/packit build")`,
		`"--chroot" in command_args("/packit", "build")`,
		`any(labels, # startsWith "priority::")`,
		`len(commands) > 0 && kind == "note" && !system`,
		`lower(note) contains "lgtm"`,
		`merge_request.title matches "(?i)^fix"`,
		`glob("release/*", branch)`,
		`$env["project"].path == "a/b" && $env.payload != nil`,
	} {
		if _, err := compileCondition(when); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
}
