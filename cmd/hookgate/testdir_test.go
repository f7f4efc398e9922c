package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTestDir runs `hookgate test --dir` on a real example and on a copy
// whose expectations are wrong, missing or outdated.
func TestTestDir(t *testing.T) {
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "packit"))
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the example to break.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(example)); err != nil {
		t.Fatal(err)
	}
	help := filepath.Join(dir, "expected", "note_help.json")
	orig, err := os.ReadFile(help)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(help, []byte(strings.Replace(string(orig), `"job": "help"`, `"job": "build"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "expected", "note_test.json")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings, in any order
		stderr string
	}{
		{"example passes (config from the folder)", []string{"test", "--dir", example}, 0,
			[]string{"ok    note_build\n", "ok    note_help\n", "ok    note_test\n", "ok: 3 sample events\n"}, ""},
		{"example passes (explicit config)", []string{"test", "--config", filepath.Join(example, "hookgate.toml"), "--dir", example}, 0,
			[]string{"ok: 3 sample events\n"}, ""},
		{"broken copy fails", []string{"test", "--dir", dir}, 1, []string{
			"ok    note_build\n",
			"FAIL  note_help: output differs from " + help + " (-expected +got)\n",
			`-      "job": "build"` + "\n",
			`+      "job": "help"` + "\n",
			"FAIL  note_test: no expected file " + filepath.Join(dir, "expected", "note_test.json"),
			"FAIL: 2 of 3 sample events\n",
		}, ""},
		{"update rewrites", []string{"test", "--dir", dir, "--update"}, 0,
			[]string{"wrote " + help + "\n", "ok: 3 sample events\n"}, ""},
		{"then it passes", []string{"test", "--dir", dir}, 0, []string{"ok: 3 sample events\n"}, ""},
		{"no events", []string{"test", "--dir", t.TempDir()}, 1, nil, "no sample events"},
		{"--dir excludes --event", []string{"test", "--dir", dir, "--event", "x.json"}, 2, nil, "exclude each other"},
		{"--update needs --dir", []string{"test", "--update", "--event", "x.json"}, 2, nil, "--update needs --dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hookgate(t, t.TempDir(), c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, want := range c.stdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	if got, _ := os.ReadFile(help); !sameJSONText(t, got, orig) {
		t.Errorf("--update wrote\n%s\nwant the example's\n%s", got, orig)
	}
}

// sameJSONText compares two JSON documents as values.
func sameJSONText(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}
