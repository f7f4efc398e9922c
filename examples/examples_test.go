package examples_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/examples"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/sdk/plugintest"
)

var update = flag.Bool("update", false, "rewrite examples/*/expected/*.json from the current output")

// names are the examples; each is a folder with hookgate.toml, rules/,
// plugins/, events/ and expected/.
var names = []string{"labeler", "packit", "retest"}

// programs are the examples that are Go programs (package main with its own
// tests), not setups for the hookgate binary; their rules and plugins are
// not bundled.
var programs = []string{"embed"}

// deployment are folders of deployment files (a systemd unit), checked by
// their own tests.
var deployment = []string{"systemd"}

// TestExamplesFolders checks that the list above is every example.
func TestExamplesFolders(t *testing.T) {
	var found []string
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			found = append(found, e.Name())
		}
	}
	want := append(append(slices.Clone(names), programs...), deployment...)
	sort.Strings(want)
	if !reflect.DeepEqual(found, want) {
		t.Fatalf("example folders = %v, want %v (update names or programs)", found, want)
	}
}

// TestExamples runs every sample event of every example through
// `hookgate test` (gateway.DryRun) with the example's own hookgate.toml
// and compares the "rules" part of the output with expected/<event>.json
// (plugintest.RunDir, the same check as `hookgate test --dir`). An event
// without an expected file, or the reverse, fails.
// go test ./examples -update rewrites the expected files.
func TestExamples(t *testing.T) {
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(name, "hookgate.toml"))
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if len(cfg.GitLab) != 0 {
				t.Fatal("an example config must not name a GitLab instance: its calls are recorded, never sent")
			}
			plugintest.RunDir(t, name, plugintest.WithUpdate(*update))
		})
	}
}

// TestExpectedOutputsSayWhatTheExamplesDo pins the gist of the expected
// files, so that regenerating them with -update cannot silently bless a
// broken example.
func TestExpectedOutputsSayWhatTheExamplesDo(t *testing.T) {
	type call struct{ method, path string }
	cases := []struct {
		file   string
		rules  []string // rule: status
		calls  []call   // of all rules, in order
		bodies []string // substrings of the calls' bodies, in order
	}{
		{"packit/expected/note_build.json", []string{"packit-build: ok"}, []call{
			{"POST", "/projects/5/merge_requests/1/notes/1301/award_emoji"},
			{"POST", "/projects/5/statuses/562e173be03b8ff2efb05345d12df18815438a4b"},
			{"POST", "/projects/5/statuses/562e173be03b8ff2efb05345d12df18815438a4b"},
			{"POST", "/projects/5/merge_requests/1/notes"},
		}, []string{`"eyes"`, `packit/build/fedora-rawhide-x86_64`, `packit/build/fedora-41-x86_64`, `Packit build queued for 562e173b`}},
		{"packit/expected/note_test.json", []string{"packit-test: ok"}, []call{
			{"POST", "/projects/5/merge_requests/1/notes/1302/award_emoji"},
			{"POST", "/projects/5/statuses/562e173be03b8ff2efb05345d12df18815438a4b"},
			{"POST", "/projects/5/merge_requests/1/notes"},
		}, []string{`"eyes"`, `packit/test/fedora-rawhide-x86_64`, `Packit test queued`}},
		{"packit/expected/note_help.json", []string{"packit-help: ok"}, []call{
			{"POST", "/projects/5/merge_requests/1/notes"},
		}, []string{"`/packit build`"}},
		{"labeler/expected/mr_open_fix.json", []string{"label-new-merge-requests: ok"}, []call{
			{"PUT", "/projects/1/merge_requests/1"},
		}, []string{`"add_labels":"target::main,bug"`}},
		{"labeler/expected/mr_open_docs_release.json", []string{"label-new-merge-requests: ok"}, []call{
			{"PUT", "/projects/1/merge_requests/1"},
		}, []string{`"add_labels":"target::release,documentation"`}},
		{"labeler/expected/mr_update.json", nil, nil, nil},
		{"retest/expected/note_retest.json", []string{"retest: ok"}, []call{
			{"POST", "/projects/5/pipeline"},
			{"POST", "/projects/5/merge_requests/1/notes"},
		}, []string{`"ref":"fix-empty-note"`, "Retesting `fix-empty-note`"}},
		{"retest/expected/note_retest_on_issue.json", nil, nil, nil},
	}
	for _, c := range cases {
		raw, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		var out []gateway.TestRule
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		var rules, bodies []string
		var calls []call
		for _, r := range out {
			rules = append(rules, r.Rule+": "+r.Status)
			for _, cl := range r.Calls {
				calls = append(calls, call{cl.Method, cl.Path})
				var compact bytes.Buffer
				_ = json.Compact(&compact, cl.Body)
				bodies = append(bodies, compact.String())
			}
		}
		if !reflect.DeepEqual(rules, c.rules) || !reflect.DeepEqual(calls, c.calls) {
			t.Errorf("%s: rules %v calls %v, want %v %v", c.file, rules, calls, c.rules, c.calls)
			continue
		}
		for i, want := range c.bodies {
			if !strings.Contains(bodies[i], want) {
				t.Errorf("%s: call %d body %s does not contain %s", c.file, i, bodies[i], want)
			}
		}
	}
}

// TestWriteBundled checks that the rules and plugins embedded in the
// binary are every example's, and that they load together: no two rules
// share a name, every rule finds its plugin.
func TestWriteBundled(t *testing.T) {
	dir := t.TempDir()
	// Leftovers of an older binary are replaced.
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "stale.toml"), []byte("not toml ["), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := examples.WriteBundled(dir); err != nil {
		t.Fatal(err)
	}

	var wantRules, wantPlugins, gotRules, gotPlugins []string
	for _, name := range names {
		rs, _ := filepath.Glob(filepath.Join(name, "rules", "*.toml"))
		for _, r := range rs {
			wantRules = append(wantRules, name+"-"+filepath.Base(r))
			sameFile(t, r, filepath.Join(dir, "rules", name+"-"+filepath.Base(r)))
		}
		ps, _ := filepath.Glob(filepath.Join(name, "plugins", "*.lua"))
		for _, p := range ps {
			wantPlugins = append(wantPlugins, filepath.Base(p))
			sameFile(t, p, filepath.Join(dir, "plugins", filepath.Base(p)))
		}
	}
	for kind, into := range map[string]*[]string{"rules": &gotRules, "plugins": &gotPlugins} {
		entries, err := os.ReadDir(filepath.Join(dir, kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			*into = append(*into, e.Name())
		}
	}
	sort.Strings(wantRules)
	sort.Strings(wantPlugins)
	if !reflect.DeepEqual(gotRules, wantRules) || !reflect.DeepEqual(gotPlugins, wantPlugins) {
		t.Fatalf("written rules %v plugins %v, want %v %v", gotRules, gotPlugins, wantRules, wantPlugins)
	}

	cfgPath := filepath.Join(dir, "hookgate.toml")
	if err := os.WriteFile(cfgPath, []byte("[rules]\npaths = [\"rules/*.toml\"]\n[plugins]\ndir = \"plugins\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gateway.LoadBundle(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("the bundled examples do not load together: %v", err)
	}
	n := 0
	for _, name := range names {
		one, err := config.Load(filepath.Join(name, "hookgate.toml"))
		if err != nil {
			t.Fatal(err)
		}
		ob, err := gateway.LoadBundle(one, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n += len(ob.Rules.Rules())
	}
	if got := len(b.Rules.Rules()); got != n || n == 0 {
		t.Fatalf("bundled rules = %d, want the %d of the examples", got, n)
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatalf("not written: %v", err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s differs from %s", b, a)
	}
}
