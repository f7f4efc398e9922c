package tomlpos

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func p(segs ...string) []string { return segs }

func TestScan(t *testing.T) {
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
s = 2
[[gitlab.sub]]
s = 2
[ "odd table" ]
'k.1' = "v"
`
	d := Scan(src)
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
		{p("fake"), false, 0, 0}, // inside a string
		{p("not"), false, 0, 0},
		{p("lit"), true, 8, 7},
		{p("x"), false, 0, 0},
		{p("server"), false, 10, 2}, // a header's key is its name
		{p("server", "listen"), true, 11, 10},
		{p("server", "inline", "k1"), false, 12, 12},
		{p("server", "inline", "nested", "k2", Index(1), "k3"), false, 12, 42},
		{p("server", "list", Index(1), "p"), false, 15, 5},
		{p("server", "list", Index(1)), true, 15, 3},
		{p("server", "missing"), false, 10, 2}, // falls back to the table
		{p("gitlab", Index(0), "url"), true, 18, 7},
		{p("gitlab", Index(0), "extra", "deep"), false, 20, 1},
		{p("gitlab", Index(1), "url"), false, 22, 3},
		{p("gitlab", Index(1)), false, 21, 3},
		{p("gitlab", Index(1), "sub", Index(1), "s"), true, 26, 5},
		{p("gitlab", Index(0), "sub"), false, 17, 3}, // no sub in block 0: the block
		{p("odd table", "k.1"), true, 28, 9},
		{p("odd table"), false, 27, 3},
		{p("nowhere"), false, 0, 0},
	}
	for _, tt := range tests {
		got := d.Find(tt.path, tt.value)
		if got.Line != tt.line || got.Col != tt.col {
			t.Errorf("Find(%q, %v) = %d:%d, want %d:%d", KeyName(tt.path), tt.value, got.Line, got.Col, tt.line, tt.col)
		}
	}
	for _, tt := range []struct {
		path []string
		want bool
	}{
		{p("server"), true}, {p("gitlab"), true}, {p("gitlab", Index(1)), true},
		{p("gitlab", Index(0), "extra"), true}, {p("server", "inline"), false}, {p("a"), false},
	} {
		if got := d.IsTable(tt.path...); got != tt.want {
			t.Errorf("IsTable(%q) = %v", KeyName(tt.path), got)
		}
	}
}

func TestKeyName(t *testing.T) {
	if got := KeyName(p("secret", Index(2), "odd key")); got != `secret."odd key"` {
		t.Errorf("KeyName = %s", got)
	}
}

// TestDecodeStringAgreesWithTOML checks the position-keeping decoder
// against BurntSushi/toml's own decoding, and that each decoded character
// maps back to where it is in the file.
func TestDecodeStringAgreesWithTOML(t *testing.T) {
	values := []string{
		`"plain"`,
		`"esc \"q\" \\ \t \u00e9 \U0001F600 \x41 \e"`,
		`'literal \n stays'`,
		"\"\"\"\nfirst newline trimmed\nsecond \"\" quotes\"\"\"",
		"\"\"\"\r\ncrlf\r\nkept\"\"\"",
		"\"\"\"line \\\n    continued \\   \n\n  twice\"\"\"",
		"\"\"\"ends with quotes\"\"\"\"\"",
		"'''\nliteral ''\n multi'''",
		"'''two more''''",
		`"ünïcödé"`,
	}
	for _, v := range values {
		var doc struct{ V string }
		if _, err := toml.Decode("v = "+v+"\n", &doc); err != nil {
			t.Fatalf("%q is not valid TOML: %v", v, err)
		}
		got, offs, ok := decodeString(v, 0)
		if !ok || got != doc.V {
			t.Errorf("decodeString(%q) = %q, %v; toml says %q", v, got, ok, doc.V)
			continue
		}
		if len(offs) != len(got)+1 {
			t.Errorf("%q: %d offsets for %d bytes", v, len(offs), len(got))
			continue
		}
		// Each byte maps to itself in the source, or to the backslash of
		// the escape that produced it.
		for i := 0; i < len(got); i++ {
			if src := v[offs[i]]; src != got[i] && src != '\\' {
				t.Errorf("%q: byte %d %q maps to %q", v, i, got[i], src)
			}
		}
	}
}

func TestStringPos(t *testing.T) {
	src := "[[rule]]\nwhen = \"a \\\"é\\\" b\"\n[[rule]]\nwhen = '''\nx &&\n  ünï'''\n"
	d := Scan(src)
	for _, tt := range []struct {
		path      []string
		want      string
		i         int
		line, col int
		ok        bool
	}{
		{p("rule", Index(0), "when"), `a "é" b`, 0, 2, 9, true},
		{p("rule", Index(0), "when"), `a "é" b`, 2, 2, 11, true},    // the escape's backslash
		{p("rule", Index(0), "when"), `a "é" b`, 3, 2, 13, true},    // é, two bytes
		{p("rule", Index(0), "when"), `a "é" b`, 7, 2, 19, true},    // past the end: the closing quote
		{p("rule", Index(1), "when"), "x &&\n  ünï", 8, 6, 5, true}, // ï, after ü's two bytes
		{p("rule", Index(1), "when"), "other text", 0, 0, 0, false},
		{p("rule", Index(2), "when"), "", 0, 0, 0, false},
	} {
		got, ok := d.StringPos(tt.path, tt.want, tt.i)
		if ok != tt.ok || got.Line != tt.line || got.Col != tt.col {
			t.Errorf("StringPos(%s, %q, %d) = %d:%d %v, want %d:%d %v", KeyName(tt.path), tt.want, tt.i, got.Line, got.Col, ok, tt.line, tt.col, tt.ok)
		}
	}
}

// TestSyntaxError pins where syntax errors are reported: on the line of
// the mistake, not where the parser's lexer stopped.
func TestSyntaxError(t *testing.T) {
	for _, tt := range []struct {
		src       string
		line, col int
		msg       string
	}{
		{"[[rule]\nname = \"x\"\n", 1, 7, "expected end of table array name delimiter ']'"},
		{"[server\nx=1\n", 1, 8, "expected '.' or ']' to end table name"},
		{"[[rule]]\nname = \"x\n", 2, 10, "strings cannot contain newlines"},
		{"a = \n", 1, 5, "expected value but found '\\n' instead"},
		{"x = 1 2\n", 1, 7, "expected a top-level item to end with a newline"},
		{"[a]\nb = 1\n[a]\n", 3, 2, "Key 'a' has already been defined."},
		{"\xef\xbb\xbf[a\n", 1, 6, "to end table name"},
	} {
		var m map[string]any
		_, err := toml.Decode(tt.src, &m)
		pos, msg, ok := SyntaxError(tt.src, err)
		if !ok || pos.Line != tt.line || pos.Col != tt.col || !strings.Contains(msg, tt.msg) {
			t.Errorf("%q: %d:%d %q %v, want %d:%d %q", tt.src, pos.Line, pos.Col, msg, ok, tt.line, tt.col, tt.msg)
		}
	}
	if _, _, ok := SyntaxError("", nil); ok {
		t.Error("SyntaxError(nil) is ok")
	}
}

func FuzzScan(f *testing.F) {
	f.Add("a = { b = [ { c = '''x''' } ] }\n[[a.b]]\n")
	f.Add("server = { listen = 1, x = \"\"\"\n\"\"\" }")
	f.Add("\xef\xbb\xbf[log]\nlevel = \"x\"\n")
	f.Add("[[rule]\nwhen = \"\\")
	f.Fuzz(func(t *testing.T, src string) {
		d := Scan(src) // total on any input, not only valid TOML
		for k, v := range d.vals {
			if v.from < 0 || v.to > len(src) || v.from > v.to {
				t.Fatalf("value %q at [%d, %d) of %d bytes", k, v.from, v.to, len(src))
			}
		}
	})
}
