package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckKnowsWhatIsValid runs `hookgate check` on the mistakes an admin
// made in issue 19 (the finding's number in each name): every mistake is
// reported once, where it is, in the words the admin wrote, with a "did
// you mean" when something near exists.
func TestCheckKnowsWhatIsValid(t *testing.T) {
	const rule = "[[rule]]\nname = \"r\"\nplugin = \"ok\"\n"
	tests := []struct {
		name  string
		files map[string]string
		// want are all the problems, in order: "FILE:line:col: message"
		// with FILE relative to the temp dir.
		want []string
	}{
		{
			name: "3: a function the gitlab module does not have",
			files: map[string]string{
				"rules/a.toml": "[[rule]]\nname = \"label\"\nplugin = \"label\"\n",
				"plugins/label.lua": `function handle(event, params)
  if event.kind == "merge_request" then
    gitlab.add_label("needs-review")
  end
end
`,
			},
			want: []string{"plugins/label.lua:3:5: gitlab.add_label is not a function of the gitlab module; did you mean gitlab.add_labels?"},
		},
		{
			name: "4: a plugin with a syntax error is one error, not also \"not found\"",
			files: map[string]string{
				"rules/a.toml":      "[[rule]]\nname = \"build\"\nplugin = \"build\"\n",
				"plugins/build.lua": "function handle(event, params)\n  return (\nend\n",
			},
			want: []string{"plugins/build.lua:3:1: syntax error near 'end'"},
		},
		{
			name: "9: a misspelt field in a condition",
			files: map[string]string{
				"rules/a.toml": "[[rule]]\nname = \"main\"\nplugin = \"ok\"\nwhen = 'merge_request.target_brnach == \"main\"'\n",
			},
			want: []string{"rules/a.toml:4:23: when: merge_request.target_brnach is not a field; did you mean merge_request.target_branch?"},
		},
		{
			name: "9: a misspelt config key",
			files: map[string]string{
				"hookgate.toml": localSetup + "[workers]\ncont = 2\n",
				"rules/a.toml":  rule,
			},
			want: []string{
				"hookgate.toml:6:1: unknown key workers.cont; did you mean workers.count?",
			},
		},
		{
			name:  "9: misspelt rule key",
			files: map[string]string{"rules/a.toml": rule + "paramz = { x = 1 }\n"},
			want:  []string{`rules/a.toml:4:1: unknown key "paramz" in [[rule]]; did you mean "params"?`},
		},
		{
			name:  "9: an unclosed [[rule] on line 1 is reported on line 1",
			files: map[string]string{"rules/a.toml": "[[rule]\nname = \"r\"\nplugin = \"ok\"\n"},
			want:  []string{`rules/a.toml:1:7: expected end of table array name delimiter ']', but got '\n' instead`},
		},
		{
			name: "10: an emoji GitLab does not know",
			files: map[string]string{
				"rules/a.toml":      "[[rule]]\nname = \"ack\"\nplugin = \"ack\"\n",
				"plugins/ack.lua":   "function handle(event, params)\n  gitlab.react(\"rokcet\")\nend\n",
				"plugins/other.lua": "function handle()\n  gitlab.react(\"rocket\")\n  gitlab.react(\"👀\")\nend\n",
			},
			want: []string{`plugins/ack.lua:2:16: gitlab.react: "rokcet" is not a GitLab emoji name; did you mean "rocket"?`},
		},
		{
			name: "13: a duplicate name beside another problem of the same rule",
			files: map[string]string{
				"rules/a.toml": "[[rule]]\nname = \"x\"\nplugin = \"ok\"\n",
				"rules/b.toml": "[[rule]]\nname = \"x\"\nplugin = \"ok\"\nwhen = 'note'\n",
			},
			want: []string{
				"rules/b.toml:2:8: duplicate rule name \"x\" (first defined at {dir}/rules/a.toml:2:8)",
				"rules/b.toml:4:8: when: expected bool, but got string",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"hookgate.toml": localSetup, "plugins/ok.lua": okPlugin}
			for name, content := range tt.files {
				files[name] = content
			}
			dir := writeTree(t, t.TempDir(), files)
			r := hookgate(t, dir, "check", "--config", filepath.Join(dir, "hookgate.toml"))
			var want []string
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "{dir}", dir)
				want = append(want, filepath.Join(dir, w))
			}
			got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if r.code != 1 || r.stdout != "" || strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("exit %d, stdout %q; problems:\n%s\nwant exit 1 and:\n%s", r.code, r.stdout, r.stderr, strings.Join(want, "\n"))
			}
		})
	}
}

// TestDryRunUnknownEmoji: an emoji name check cannot see (built at run
// time) fails the plugin's run with a clear error and makes no API call
// (finding 10 of issue 19).
func TestDryRunUnknownEmoji(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"hookgate.toml": localSetup,
		"rules/r.toml":  "[[rule]]\nname = \"ack\"\non = [\"note\"]\nplugin = \"ack\"\n",
		"plugins/ack.lua": `function handle(event, params)
  gitlab.react("rok" .. "cet")
end
`,
	})
	out := runTest(t, dir, "--config", filepath.Join(dir, "hookgate.toml"), "--event", testdata(t, "note_packit_build.json"))
	rules := out["rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("rules = %v", rules)
	}
	r := rules[0].(map[string]any)
	const want = `ack.lua:2: gitlab: react: "rokcet" is not a GitLab emoji name; did you mean "rocket"?`
	if r["status"] != "error" || r["error"] != want {
		t.Fatalf("outcome = %v, want status error %q", r, want)
	}
	if calls := r["calls"].([]any); len(calls) != 0 {
		t.Fatalf("calls = %v, want none", calls)
	}
}
