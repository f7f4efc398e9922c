package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
)

// marshal is encoding/json's quoting of s, with or without HTML escaping.
func marshal(s string, html bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain", "<a href=\"x\">&</a>", "\b\f\n\r\t\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "é ☃ 😀", `\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, html := range []bool{true, false} {
			if got, want := Append(nil, s, html), marshal(s, html); !bytes.Equal(got, want) {
				t.Fatalf("Append(%q, html=%v) = %s, encoding/json says %s", s, html, got, want)
			}
		}
	})
}
