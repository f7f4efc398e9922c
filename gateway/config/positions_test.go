package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookgate/hookgate/diag"
)

// Load reports keys in awkward places where they are.
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
	})
}
