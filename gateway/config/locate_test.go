package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/diag"
)

func TestLocate(t *testing.T) {
	src := "\xef\xbb\xbf" + `# header comment
top = 1
"quoted key" = 'x'
a.b . c = """
fake = 1
[not.a.table]
"""
lit = '''
x = 1'''
[server]   # trailing
listen = "127.0.0.1:1" # = [
inline = { k1 = 1, nested = { k2 = [1, { k3 = 3 }] } }
list = [
  "a", # comment ]
  { p = 1 },
]
[[gitlab]]
url = "a"
[gitlab.extra]
deep = 1
[[gitlab]]
  url = "b"
[[gitlab.sub]]
s = 1
[[gitlab.sub]]
s = 2
`
	l := locate(src)
	tests := []struct {
		path      []string
		value     bool
		line, col int
	}{
		{p("top"), false, 2, 1},
		{p("top"), true, 2, 7},
		{p("quoted key"), false, 3, 1},
		{p("a"), false, 4, 1},
		{p("a", "b", "c"), true, 4, 11},
		{p("fake"), false, 0, 0},
		{p("not"), false, 0, 0},
		{p("lit"), true, 8, 7},
		{p("x"), false, 0, 0},
		{p("server"), false, 10, 2},
		{p("server", "listen"), true, 11, 10},
		{p("server", "inline", "k1"), false, 12, 12},
		{p("server", "inline", "nested", "k2", indexSeg(1), "k3"), false, 12, 42},
		{p("server", "list", indexSeg(1), "p"), false, 15, 5},
		{p("server", "list", indexSeg(1)), true, 15, 3},
		{p("server", "missing"), false, 10, 2}, // falls back to the table
		{p("gitlab", indexSeg(0), "url"), true, 18, 7},
		{p("gitlab", indexSeg(0), "extra", "deep"), false, 20, 1},
		{p("gitlab", indexSeg(1), "url"), false, 22, 3},
		{p("gitlab", indexSeg(1)), false, 21, 3},
		{p("gitlab", indexSeg(1), "sub", indexSeg(1), "s"), true, 26, 5},
		{p("gitlab", indexSeg(0), "sub"), false, 17, 3}, // no sub in block 0: the block
		{p("nowhere"), false, 0, 0},
	}
	for _, tt := range tests {
		line, col := l.find(tt.path, tt.value)
		if line != tt.line || col != tt.col {
			t.Errorf("find(%q, %v) = %d:%d, want %d:%d", strings.Join(tt.path, "."), tt.value, line, col, tt.line, tt.col)
		}
	}
}

// Positions found by locate agree with what Load reports for keys in
// awkward places.
func TestLoadPositionsInAwkwardPlaces(t *testing.T) {
	text := `[server]
listen = """
not = "a key"
"""
[[secret]]
project = "a"
token = "t"
[[secret]]
project = "b"
token = "t"
"odd key" = 1
`
	path := writeConfig(t, text)
	_, err := Load(path)
	got := problems(path, err)
	if len(got) != 2 || got[0] != `F:2:10: invalid server.listen "not = \"a key\"\n": want host:port` || got[1] != `F:11:1: unknown key secret."odd key"` {
		t.Errorf("got %q", got)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(DefaultTOML()))
	f.Add([]byte("[[gitlab]]\nurl = \"https://x\"\ntoken = \"env:NOPE\"\n[[secret]]\nproject = \"a/**\"\ntoken = \"file:x\"\n"))
	f.Add([]byte("a = { b = [ { c = '''x''' } ] }\n[[a.b]]\n"))
	f.Add([]byte("server = { listen = 1, x = \"\"\"\n\"\"\" }"))
	f.Add([]byte("\xef\xbb\xbf[log]\nlevel = \"x\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				panic(fmt.Sprintf("Load hung on %q", data))
			}
		}()
		cfg, err := Load(path)
		close(done)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Load returned config %v with error %v", cfg != nil, err)
		}
		for _, e := range diag.Errors(err) {
			if e.File != path || e.Msg == "" {
				t.Fatalf("malformed error %#v", e)
			}
		}
		locate(string(data)) // total on any input, not only valid TOML
	})
}
