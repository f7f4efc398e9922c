package samples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/config"
)

// sampleDir writes a sample folder: one rule on notes whose plugin comments
// the note back, and the given events and expected files.
func sampleDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"hookgate.toml":    "[rules]\npaths = [\"rules/*.toml\"]\n[plugins]\ndir = \"plugins\"\n",
		"rules/echo.toml":  "[[rule]]\nname = \"echo\"\non = [\"note\"]\nplugin = \"echo\"\n",
		"plugins/echo.lua": "function handle(event) gitlab.comment('you said: ' .. event.note) return { n = #event.note } end\n",
	}
	for k, v := range files {
		base[k] = v
	}
	for name, content := range base {
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

func note(text string) string {
	return `{"object_kind": "note", "project": {"id": 3, "path_with_namespace": "g/p", "web_url": "https://gl.example/g/p"},
 "user": {"id": 1, "username": "ann"}, "object_attributes": {"id": 11, "note": "` + text + `", "noteable_type": "Issue"},
 "issue": {"iid": 2, "title": "t"}}`
}

const expectedHi = `[{"rule": "echo", "plugin": "echo", "status": "ok", "result": {"n": 2}, "logs": [],
  "calls": [{"method": "POST", "path": "/projects/3/issues/2/notes", "body": {"body": "you said: hi"}}]}]`

func load(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfgPath, d, err := Locate(dir)
	if err != nil || d != dir {
		t.Fatalf("Locate(%s) = %s %s %v", dir, cfgPath, d, err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCheck(t *testing.T) {
	dir := sampleDir(t, map[string]string{
		"events/hi.json":       note("hi"),
		"expected/hi.json":     expectedHi, // key order and spacing differ from the output
		"events/bye.json":      note("bye"),
		"expected/bye.json":    strings.ReplaceAll(expectedHi, "hi", "bye"), // wrong n
		"events/new.json":      note("new"),
		"expected/orphan.json": "[]",
		"events/broken.json":   "{not json",
		"expected/broken.json": "[]",
		"events/ignored.txt":   "not an event",
	})
	cases, err := Check(load(t, dir), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		passed bool
		errHas string
		diff   []string // lines the diff must contain
	}
	wants := map[string]want{
		"hi":     {passed: true},
		"bye":    {diff: []string{`-      "n": 2`, `+      "n": 3`}},
		"new":    {errHas: "no expected file " + filepath.Join(dir, "expected", "new.json")},
		"orphan": {errHas: "has no sample event"},
		"broken": {errHas: filepath.Join(dir, "events", "broken.json")},
	}
	if len(cases) != len(wants) {
		t.Fatalf("%d cases, want %d: %+v", len(cases), len(wants), cases)
	}
	for _, c := range cases {
		w, ok := wants[c.Name]
		if !ok {
			t.Errorf("unexpected case %s", c.Name)
			continue
		}
		if c.Passed != w.passed || (w.errHas == "") != (c.Err == nil) || (c.Err != nil && !strings.Contains(c.Err.Error(), w.errHas)) {
			t.Errorf("%s: passed %v err %v; want passed %v err containing %q", c.Name, c.Passed, c.Err, w.passed, w.errHas)
		}
		d := c.Diff()
		if c.Passed && c.Err == nil && d != "" {
			t.Errorf("%s: passing case has a diff:\n%s", c.Name, d)
		}
		for _, line := range w.diff {
			if !strings.Contains(d, line+"\n") {
				t.Errorf("%s: diff lacks %q:\n%s", c.Name, line, d)
			}
		}
	}
}

func TestCheckUpdate(t *testing.T) {
	dir := sampleDir(t, map[string]string{
		"events/hi.json":   note("hi"),
		"expected/hi.json": "[]",
		"events/new.json":  note("new"),
	})
	cfg := load(t, dir)
	cases, err := Check(cfg, dir, Options{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.Passed || c.Err != nil {
			t.Errorf("update %s: %+v", c.Name, c)
		}
	}
	cases, err = Check(cfg, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.Passed || c.Err != nil {
			t.Errorf("after update %s: %v\n%s", c.Name, c.Err, c.Diff())
		}
	}
	if len(cases) != 2 {
		t.Errorf("cases = %d", len(cases))
	}
}

func TestCheckAndLocateErrors(t *testing.T) {
	empty := sampleDir(t, nil)
	if _, err := Check(load(t, empty), empty, Options{}); err == nil || !strings.Contains(err.Error(), "no sample events") {
		t.Errorf("no events: %v", err)
	}
	if _, _, err := Locate(filepath.Join(empty, "missing")); err == nil {
		t.Error("Locate of a missing path succeeded")
	}
	bare := t.TempDir()
	if _, _, err := Locate(bare); err == nil || !strings.Contains(err.Error(), "has no hookgate.toml") {
		t.Errorf("Locate of a folder without config: %v", err)
	}
	cfgPath, dir, err := Locate(filepath.Join(empty, "hookgate.toml"))
	if err != nil || dir != empty || cfgPath != filepath.Join(empty, "hookgate.toml") {
		t.Errorf("Locate(config file) = %s %s %v", cfgPath, dir, err)
	}
}

func TestDiffLines(t *testing.T) {
	long := func(mid string) string {
		var b strings.Builder
		for i := range 20 {
			if i == 10 {
				b.WriteString(mid + "\n")
				continue
			}
			b.WriteString("line" + string(rune('a'+i)) + "\n")
		}
		return b.String()
	}
	cases := []struct {
		name, a, b, want string
	}{
		{"equal", "x\ny\n", "x\ny\n", ""},
		{"changed", "x\ny\nz\n", "x\nY\nz\n", " x\n-y\n+Y\n z\n"},
		{"added", "x\n", "x\ny\n", " x\n+y\n"},
		{"removed", "x\ny\n", "y\n", "-x\n y\n"},
		{"context trimmed", long("old"), long("new"), "...\n lineh\n linei\n linej\n-old\n+new\n linel\n linem\n linen\n...\n"},
	}
	for _, c := range cases {
		if got := diffLines(c.a, c.b); got != c.want {
			t.Errorf("%s: diffLines =\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}
