package rules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/diag"
)

// waitFor receives from ch until ok() holds, failing after 5 s.
func waitFor(t *testing.T, ch <-chan struct{}, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !ok() {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestWatch(t *testing.T) {
	root := t.TempDir()
	rulesDir := filepath.Join(root, "rules")
	pluginsDir := filepath.Join(root, "plugins")
	writeFiles(t, root, map[string]string{"rules/a.toml": "# a\n", "plugins/p.lua": "-- p\n"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan struct{}, 100)
	if err := Watch(ctx, []string{filepath.Join(rulesDir, "*.toml")}, []string{pluginsDir}, 50*time.Millisecond, func() {
		calls <- struct{}{}
	}); err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("no callback after %s", what)
		}
	}
	// settle waits out the debounce of earlier events and forgets them.
	settle := func() {
		time.Sleep(150 * time.Millisecond)
		drain(calls)
	}

	writeFiles(t, root, map[string]string{"rules/a.toml": "# a, changed\n"})
	wait("writing a rule file")

	tmp := filepath.Join(rulesDir, ".a.toml.swp")
	if err := os.WriteFile(tmp, []byte("# a, replaced\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	settle()
	if err := os.Rename(tmp, filepath.Join(rulesDir, "a.toml")); err != nil {
		t.Fatal(err)
	}
	wait("renaming over a rule file")

	settle()
	writeFiles(t, root, map[string]string{"plugins/q.lua": "-- q\n"})
	wait("adding a plugin")

	// A burst of writes is coalesced. A watcher with a long debounce, so
	// that a loaded machine cannot space the writes out past it.
	burst := make(chan struct{}, 100)
	if err := Watch(ctx, []string{filepath.Join(rulesDir, "*.toml")}, nil, 500*time.Millisecond, func() {
		burst <- struct{}{}
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		writeFiles(t, root, map[string]string{"rules/a.toml": strings.Repeat("#\n", i+1)})
	}
	select {
	case <-burst:
	case <-time.After(5 * time.Second):
		t.Fatal("no callback after a burst of writes")
	}
	time.Sleep(700 * time.Millisecond)
	if extra := drain(burst); extra > 0 {
		t.Errorf("a burst of 5 writes gave %d callbacks, want 1", extra+1)
	}

	if err := Watch(ctx, []string{filepath.Join(root, "missing", "*.toml")}, nil, 0, func() {}); err == nil {
		t.Error("watching a missing folder did not fail")
	}
}

func drain(ch <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}

// TestReloadKeepsLastGoodSet runs Holder + Watch as the gateway does: a
// changed rule file is in force for the next event; a broken one is
// reported and the previous rules keep serving.
func TestReloadKeepsLastGoodSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.toml")
	paths := []string{filepath.Join(dir, "*.toml")}
	write := func(content string) {
		t.Helper()
		// Replace atomically, as editors and deploy tools do.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("[[rule]]\nname = \"old\"\non = [\"note\"]\nwhen = 'note contains \"/old\"'\nplugin = \"p\"\n")

	var h Holder
	if err := h.Reload(paths, Options{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan struct{}, 100)
	if err := Watch(ctx, paths, nil, 20*time.Millisecond, func() {
		_ = h.Reload(paths, Options{})
		reloaded <- struct{}{}
	}); err != nil {
		t.Fatal(err)
	}
	matches := func(text string) string {
		res := h.Current().Match(ctx, event(t, "note_issue", note(text)), Deps{})
		var names []string
		for _, m := range res.Matches {
			names = append(names, m.Rule.Name)
		}
		return strings.Join(names, ",")
	}
	if got := matches("/old"); got != "old" {
		t.Fatalf("before: %q", got)
	}

	write("[[rule]]\nname = \"new\"\non = [\"note\"]\nwhen = 'note contains \"/new\"'\nplugin = \"p\"\n")
	waitFor(t, reloaded, "the new rule", func() bool { return matches("/new") == "new" })
	if got := matches("/old"); got != "" {
		t.Errorf("old rule still matches: %q", got)
	}

	good := h.Current()
	write("[[rule]]\nname = \"new\"\non = [\"note\"]\nwhen = 'note contains'\nplugin = \"p\"\n")
	waitFor(t, reloaded, "the reload error", func() bool { return h.LastError() != nil })
	if h.Current() != good {
		t.Error("a broken file replaced the rule set")
	}
	if got := matches("/new"); got != "new" {
		t.Errorf("after a broken edit: %q, want the last good rule", got)
	}
	errs := diag.Errors(h.LastError())
	if len(errs) != 1 || errs[0].File != file || errs[0].Line != 4 {
		t.Errorf("reload error = %v", h.LastError())
	}
}
