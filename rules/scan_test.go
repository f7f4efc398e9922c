package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

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

func TestScanTOML(t *testing.T) {
	src := `top = 1 # comment with [brackets] and = signs
"quoted.key" = { a = [1, 2], b = "x]" }

[[rule]]
name = "a"   # trailing
when = """
multi = line
[not a table]
"""
list = [
  "x", # comment ]
  'y',
]
params.sub.key = 'v'

[rule.params]
z = 1
`
	tables := scanTOML(src)
	var got []string
	for _, tb := range tables {
		head := "root"
		if tb.Path != nil {
			head = strings.Join(tb.Path, ".")
			if tb.Array {
				head = "[" + head + "]"
			}
		}
		got = append(got, head)
		for _, k := range tb.Keys {
			got = append(got, fmt.Sprintf("  %s %s %d:%d %d:%d", strings.Join(k.Path, "."), src[k.ValueOff:k.ValueEnd][:1],
				k.Key.Line, k.Key.Col, k.Value.Line, k.Value.Col))
		}
	}
	want := []string{
		"root",
		"  top 1 1:1 1:7",
		"  quoted.key { 2:1 2:16",
		"[rule]",
		"  name \" 5:1 5:8",
		"  when \" 6:1 6:8",
		"  list [ 10:1 10:8",
		"  params.sub.key ' 14:1 14:18",
		"rule.params",
		"  z 1 17:1 17:5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
