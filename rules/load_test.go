package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/diag"
)

// writeFiles writes name -> content into dir and returns dir.
func writeFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pluginsIn reports plugins that exist: only those listed.
func pluginsIn(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// want are the expected errors, each "file:line:col: msg" with the
		// file relative to the test folder; "{dir}" is the folder.
		want []string
	}{
		{
			name: "duplicate names across files point at the second",
			files: map[string]string{
				"a.toml": "[[rule]]\nname = \"build\"\nplugin = \"p\"\n",
				"b.toml": "# second file\n[[rule]]\nname   = \"build\"\nplugin = \"p\"\n",
			},
			want: []string{`b.toml:3:10: duplicate rule name "build" (first defined at {dir}/a.toml:2:8)`},
		},
		{
			name: "unknown keys at the top, in a rule and as a sub-table",
			files: map[string]string{"a.toml": `title = "x"
[[rule]]
name = "a"
plugin = "p"
  plugn = "q"
params = { free = "form", any.key = 1 }
[rule.extra]
x = 1
[settings]
y = 2
`},
			want: []string{
				`a.toml:1:1: unknown key "title"`,
				`a.toml:5:3: unknown key "plugn" in [[rule]]; did you mean "plugin"?`,
				`a.toml:7:2: unknown key "extra" in [[rule]]`,
				`a.toml:9:2: unknown table [settings]`,
			},
		},
		{
			name:  "a misspelt key gets a suggestion, and a missing key it stands for no second error",
			files: map[string]string{"a.toml": "[[rule]]\nname = \"a\"\nplugn = \"p\"\nparamz = { x = 1 }\n"},
			want: []string{
				`a.toml:3:1: unknown key "plugn" in [[rule]]; did you mean "plugin"?`,
				`a.toml:4:1: unknown key "paramz" in [[rule]]; did you mean "params"?`,
			},
		},
		{
			name:  "a misspelt [[rule]] table",
			files: map[string]string{"a.toml": "[[rules]]\nname = \"a\"\nplugin = \"p\"\n"},
			want:  []string{`a.toml:1:3: unknown table [[rules]]; did you mean [[rule]]?`},
		},
		{
			name:  "an unclosed header on line 1 is reported on line 1",
			files: map[string]string{"a.toml": "[[rule]\nname = \"a\"\nplugin = \"p\"\n"},
			want:  []string{`a.toml:1:7: expected end of table array name delimiter ']', but got '\n' instead`},
		},
		{
			name: "duplicate names are found among rules with other problems too",
			files: map[string]string{
				"a.toml": "[[rule]]\nname = \"x\"\nplugin = \"p\"\n",
				"b.toml": "[[rule]]\nname = \"x\"\nwhen = '1'\nplugin = \"p\"\n",
			},
			want: []string{
				`b.toml:2:8: duplicate rule name "x" (first defined at {dir}/a.toml:2:8)`,
				`b.toml:3:8: when: expected bool, but got int`,
			},
		},
		{
			name: "condition errors name fields as the author writes them",
			files: map[string]string{"a.toml": `[[rule]]
name = "a"
plugin = "p"
when = 'merge_request.target_brnach == "main"'

[[rule]]
name = "b"
plugin = "p"
when = 'any(commands, .nme == "retest")'

[[rule]]
name = "c"
plugin = "p"
when = 'note.text == ""'

[[rule]]
name = "d"
plugin = "p"
when = 'has_comand("/retest")'

[[rule]]
name = "e"
plugin = "p"
when = 'user.id == "alice"'

[[rule]]
name = "f"
plugin = "p"
when = 'project.owner == "x"'

[[rule]]
name = "g"
plugin = "p"
when = '$env.merge_request["draftt"]'
`},
			want: []string{
				`a.toml:4:23: when: merge_request.target_brnach is not a field; did you mean merge_request.target_branch?`,
				`a.toml:9:24: when: .nme is not a field of command; did you mean .name?`,
				`a.toml:14:14: when: note is a string: it has no field text`,
				`a.toml:19:9: when: has_comand is not a function; did you mean has_command?`,
				`a.toml:24:17: when: invalid operation: == (mismatched types int and string)`,
				`a.toml:29:17: when: project.owner is not a field; project has id, path, url`,
				`a.toml:34:27: when: merge_request.draftt is not a field; did you mean merge_request.draft?`,
			},
		},
		{
			name: "non-boolean when",
			files: map[string]string{"a.toml": `[[rule]]
name = "sum"
when = '1 + 2'
plugin = "p"
`},
			want: []string{`a.toml:3:8: when: expected bool, but got int`},
		},
		{
			name: "bad constant regex",
			files: map[string]string{"a.toml": `[[rule]]
name = "re"
when = 'project.path matches "["'
plugin = "p"
`},
			want: []string{"a.toml:3:22: when: error parsing regexp: missing closing ]: `[`"},
		},
		{
			name: "missing plugin and bad require_access",
			files: map[string]string{"a.toml": `[[rule]]
name = "a"
plugin = "nope"

[[rule]]
name = "b"
plugin = "p"
require_access = "admin"

[[rule]]
name = "c"
plugin = "p"
require_access = 60
`},
			want: []string{
				`a.toml:3:10: plugin "nope" not found (plugins/nope.lua)`,
				`a.toml:8:18: require_access "admin" is not one of guest, planner, reporter, developer, maintainer, owner`,
				`a.toml:13:18: require_access 60 is out of range (10 guest .. 50 owner)`,
			},
		},
		{
			name: "error inside a multi-line when is shifted to its line",
			files: map[string]string{"a.toml": `[[rule]]
name = "ml"
plugin = "p"
when = """
note contains "/x" &&
  (kind == "note" ||
   nope)
"""
`},
			want: []string{`a.toml:7:4: when: nope is not a field; did you mean note?`},
		},
		{
			name:  "syntax error after escapes in a basic string",
			files: map[string]string{"a.toml": "[[rule]]\nname = \"esc\"\nplugin = \"p\"\nwhen = \"note contains \\\"/x\\\" && && kind\"\n"},
			// when = "note contains \"/x\" && && kind": the second && is
			// expr column 23 (1-based); in the file: the quote at column
			// 8, then 22 characters and 2 escapes' backslashes.
			want: []string{`a.toml:4:33: when: unexpected token Operator("&&")`},
		},
		{
			name:  "syntax error in a multi-line literal string",
			files: map[string]string{"a.toml": "[[rule]]\nname = \"lit\"\nplugin = \"p\"\nwhen = '''kind == \"note\" &&\n   )'''\n"},
			want:  []string{`a.toml:5:4: when: unexpected token Bracket(")")`},
		},
		{
			name:  "constant glob pattern is checked",
			files: map[string]string{"a.toml": "[[rule]]\nname = \"g\"\nplugin = \"p\"\nwhen = 'glob(\"[\", project.path)'\n"},
			want:  []string{`a.toml:4:14: when: bad glob "[": syntax error in pattern`},
		},
		{
			name: "types, missing name and plugin, bad kind, bad projects",
			files: map[string]string{"a.toml": `[[rule]]
stop = "yes"
on = "note"
when = ""

[[rule]]
name = "k"
plugin = "a/b"
on = ["Note Hook"]
projects = ["group/["]
params = 3
enabled = 1
`},
			want: []string{
				`a.toml:1:3: rule has no name`,
				`a.toml:1:3: rule has no plugin`,
				`a.toml:2:8: stop must be true or false, not a string`,
				`a.toml:3:6: on must be a list of strings, like on = ["..."], not a string`,
				`a.toml:4:8: when is empty: omit it to match every event`,
				`a.toml:8:10: plugin "a/b" is not a plugin name (letters, digits, _ and -; the file is plugins/NAME.lua)`,
				`a.toml:9:6: on: "Note Hook" is not an envelope kind (kinds are lowercase, like "note" or "merge_request")`,
				`a.toml:10:12: projects: bad glob "group/[": syntax error in pattern`,
				`a.toml:11:10: params must be a table, not an integer`,
				`a.toml:12:11: enabled must be true or false, not an integer`,
			},
		},
		{
			name: "node limit",
			files: map[string]string{"a.toml": "[[rule]]\nname = \"big\"\nplugin = \"p\"\nwhen = '" +
				strings.Repeat("kind == \"x\" || ", 700) + "true'\n"},
			// expr reports it at the end of the expression.
			want: []string{`a.toml:4:7521: when: compilation failed: expression exceeds maximum allowed nodes`},
		},
		{
			name:  "a table instead of an array of tables",
			files: map[string]string{"a.toml": "# one\n[rule]\nname = \"x\"\nplugin = \"p\"\n"},
			want:  []string{`a.toml:2:2: rule must be an array of tables: write each rule as a [[rule]] table`},
		},
		{
			name:  "TOML syntax error",
			files: map[string]string{"a.toml": "[[rule]]\nname = \"x\nplugin = \"p\"\n"},
			want:  []string{`a.toml:2:10: strings cannot contain newlines`},
		},
		{
			name: "every file's problems are reported",
			files: map[string]string{
				"a.toml": "[[rule]]\nname = \"a\"\nplugin = \"nope\"\n",
				"b.toml": "[[rule]]\nname = \"b\"\nplugin = \"p\"\nwhen = 'nope'\n",
			},
			want: []string{
				`a.toml:3:10: plugin "nope" not found (plugins/nope.lua)`,
				`b.toml:4:9: when: nope is not a field; did you mean note?`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), tt.files)
			set, err := Load([]string{filepath.Join(dir, "*.toml")}, Options{PluginExists: pluginsIn("p")})
			if set != nil {
				t.Errorf("Load returned a set along with errors")
			}
			var got []string
			for _, e := range diag.Errors(err) {
				got = append(got, strings.TrimPrefix(e.Error(), dir+string(filepath.Separator)))
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "{dir}", dir))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestLoadRules(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"10-packit.toml": `# Packit-style commands
[[rule]]
name = "packit-build"
description = "build in Copr"
on = ["note"]
when = 'note contains "/packit build"'
plugin = "packit_build"
params = { chroots = ["fedora-rawhide-x86_64"], retries = 2 }
stop = true
projects = ["infra/**"]
require_access = "developer"
allow_bots = true
on_edit = true

[[rule]]
name = "off"
plugin = "p"
enabled = false
`,
		"20-any.toml": "[[rule]]\nname = \"any\"\nplugin = \"p\"\nrequire_access = 40\n",
		"ignored.txt": "not toml",
	})
	set, err := Load([]string{filepath.Join(dir, "*.toml"), filepath.Join(dir, "20-any.toml")}, Options{PluginExists: pluginsIn("p", "packit_build")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(set.Files()), 2; got != want {
		t.Fatalf("files = %v, want %d (each once)", set.Files(), want)
	}
	rules := set.Rules()
	if len(rules) != 3 {
		t.Fatalf("rules = %v", rules)
	}
	r := rules[0]
	if r.Name != "packit-build" || r.Description != "build in Copr" || !r.Enabled || !r.Stop || !r.AllowBots || !r.OnEdit ||
		r.RequireAccess != AccessDeveloper || r.Plugin != "packit_build" || r.Line != 2 ||
		strings.Join(r.On, ",") != "note" || strings.Join(r.Projects, ",") != "infra/**" ||
		r.When != `note contains "/packit build"` {
		t.Errorf("rule = %+v", r)
	}
	if chroots, ok := r.Params["chroots"].([]any); !ok || len(chroots) != 1 || chroots[0] != "fedora-rawhide-x86_64" || r.Params["retries"] != int64(2) {
		t.Errorf("params = %#v", r.Params)
	}
	if rules[1].Enabled || rules[1].Params == nil {
		t.Errorf("disabled rule = %+v (params must be an empty map, not nil)", rules[1])
	}
	if rules[2].RequireAccess != AccessMaintainer {
		t.Errorf("require_access = 40 gave %d", rules[2].RequireAccess)
	}
	if got := strings.Join(set.Plugins(), ","); got != "packit_build,p" {
		t.Errorf("plugins = %s", got)
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	_, err := Load([]string{filepath.Join(dir, "missing.toml")}, Options{})
	if got, want := errText(err), filepath.Join(dir, "missing.toml")+": no such file"; got != want {
		t.Errorf("missing literal path: %q, want %q", got, want)
	}
	set, err := Load([]string{filepath.Join(dir, "*.toml")}, Options{})
	if err != nil || len(set.Rules()) != 0 {
		t.Errorf("glob matching nothing: %v, %v", set, err)
	}
	_, err = Load([]string{filepath.Join(dir, "[.toml")}, Options{})
	if got, want := errText(err), filepath.Join(dir, "[.toml")+": bad glob: syntax error in pattern"; got != want {
		t.Errorf("bad glob: %q, want %q", got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
