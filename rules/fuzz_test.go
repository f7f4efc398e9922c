package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/diag"
)

// FuzzLoad feeds arbitrary bytes as a rule file: Load must not panic, and
// every problem it reports must name the file and a place inside it.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(exampleRules))
	f.Add([]byte("title = 1\n[[rule]]\nname = \"a\"\nplugin = \"p\"\nplugn = 1\n[rule.x]\n[other]\n"))
	f.Add([]byte("[[rule]]\nname = \"ml\"\nplugin = \"p\"\nwhen = \"\"\"\nnote contains \"/x\" &&\n  (nope)\n\"\"\"\n"))
	f.Add([]byte("[[rule]]\nname = \"e\"\nplugin = \"p\"\nwhen = \"note contains \\\"/x\\\" && && kind\\u00e9\"\n"))
	f.Add([]byte("[[rule]]\nname='l'\nplugin='p'\nwhen='''\nkind == \"note\" &&\n )'''\nrequire_access = 60\n"))
	f.Add([]byte("[rule]\nname = 1\n"))
	f.Add([]byte("rule = [{name = \"inline\", plugin = \"p\"}]\n"))
	f.Add([]byte("[[rule]]\nname = \"x\"\nplugin = \"p\"\nwhen = 'glob(\"[\", project.path) || payload.a?.b ?? false'\nprojects = [\"a/**\", 'b/*']\n"))
	dir := f.TempDir()
	file := filepath.Join(dir, "rules.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := Load([]string{file}, Options{PluginExists: func(n string) bool { return n == "p" }})
		if err == nil {
			for _, r := range set.Rules() {
				if r.Name == "" || r.Plugin != "p" {
					t.Fatalf("accepted rule %+v", r)
				}
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		errs := diag.Errors(err)
		if len(errs) == 0 {
			t.Fatalf("error without *Error: %v", err)
		}
		for _, e := range errs {
			if e.File != file || e.Line < 0 || e.Line > lines || e.Col < 0 || e.Msg == "" {
				t.Fatalf("bad error %q (file has %d lines)", e.Error(), lines)
			}
		}
	})
}
