package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// TestLocateAgreesWithNormalize: for every real payload, with and without
// an instance header, Locate finds the project Normalize builds.
func TestLocateAgreesWithNormalize(t *testing.T) {
	for _, fx := range loadFixtures(t, "") {
		body, err := os.ReadFile(fx.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, inst := range []string{"", "https://gitlab.example.com", "http://example.com/"} {
			e, err := Normalize(fx.event, body, inst)
			if err != nil {
				t.Fatalf("%s: %v", fx.key, err)
			}
			l, err := Locate(body, inst)
			if err != nil {
				t.Fatalf("%s: Locate: %v", fx.key, err)
			}
			if l.Path != e.Project.Path || l.URL != e.Project.URL {
				t.Errorf("%s (instance %q): Locate = %+v, Normalize = %q %q", fx.key, inst, l, e.Project.Path, e.Project.URL)
			}
		}
	}
}

func TestLocate(t *testing.T) {
	for _, c := range []struct {
		name, body string
		path, url  string
		err        string
	}{
		{"project object", `{"project":{"web_url":"https://g.example/a/b","path_with_namespace":"a/b"}}`, "a/b", "https://g.example/a/b", ""},
		{"first member wins", `{"project":{"path_with_namespace":"a/b"},"project":{"path_with_namespace":"evil/x"}}`, "a/b", "https://g.example/a/b", ""},
		{"project not an object", `{"project":"a/b","path_with_namespace":"c/d"}`, "c/d", "https://g.example/c/d", ""},
		{"MR target", `{"object_attributes":{"target":{"path_with_namespace":"t/p"}}}`, "t/p", "https://g.example/t/p", ""},
		{"escaped key", `{"project":{"path_with_n\u0061mespace":"a/b"}}`, "a/b", "https://g.example/a/b", ""},
		{"escaped value", `{"path_with_namespace":"a\/b"}`, "a/b", "https://g.example/a/b", ""},
		{"job homepage", `{"repository":{"homepage":"https://g.example/grp/app"}}`, "grp/app", "https://g.example/grp/app", ""},
		{"deep noise skipped", `{"x":[[[[{"project":{"path_with_namespace":"no/no"}}]]]],"project_path_with_namespace":"s/h"}`, "s/h", "https://g.example/s/h", ""},
		{"strings with brackets", `{"a":"]}{[","project":{"path_with_namespace":"q/r"}}`, "q/r", "https://g.example/q/r", ""},
		{"none", `{"object_kind":"user_create"}`, "", "", ""},
		{"array", `[1]`, "", "", "array"},
		{"number", ` 7`, "", "", "not an object"},
		{"empty", ``, "", "", "empty"},
		{"truncated", `{"project":{"path_with_namespace":"a/b"`, "", "", "not valid JSON"},
		{"unbalanced", `{"x":[1}]}`, "", "", ""}, // Normalize's to refuse
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := Locate([]byte(c.body), "https://g.example")
			if c.err != "" {
				var se *SyntaxError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want a SyntaxError with %q", err, c.err)
				}
				return
			}
			if c.name == "unbalanced" {
				return
			}
			if err != nil || l.Path != c.path || l.URL != c.url {
				t.Fatalf("Locate = %+v, %v; want %q %q", l, err, c.path, c.url)
			}
		})
	}
}

// TestLocateCostsNothingPerValue: a body of millions of values costs
// Locate no memory beyond what it returns.
func TestLocateCostsNothingPerValue(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"x":[`)
	for i := range 2_000_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('0')
	}
	b.WriteString(`],"deep":`)
	b.WriteString(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000))
	b.WriteString(`,"project":{"path_with_namespace":"a/b"}}`)
	body := b.Bytes()
	var l Location
	allocs := testing.AllocsPerRun(3, func() {
		var err error
		if l, err = Locate(body, "https://g.example"); err != nil {
			t.Fatal(err)
		}
	})
	if l.Path != "a/b" {
		t.Fatalf("path = %q", l.Path)
	}
	if allocs > 4 {
		t.Fatalf("Locate allocated %v times for a %d-byte body", allocs, len(body))
	}
}

// FuzzLocate: Locate never panics, and on any body Normalize accepts it
// finds Normalize's project unless the body has keys that are escaped or
// repeated (where the receiver checks the two agree).
func FuzzLocate(f *testing.F) {
	for _, fx := range loadFixtures(f, "") {
		body, err := os.ReadFile(fx.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, "")
	}
	for _, s := range []string{`{"project":{"path_with_namespace":"a/b"},"project":1}`, `{"path_with_namespace":7}`,
		`{"project":{"web_url":"http://h/x/y"}}`, `{"repository":{"homepage":"https://h/g/p"},"project_id":3}`,
		`{"object_attributes":{"url":"https://h/g/p/-/security/1"}}`, `{"a":"\"]"}`} {
		f.Add([]byte(s), "https://h")
	}
	f.Fuzz(func(t *testing.T, body []byte, instance string) {
		l, lerr := Locate(body, instance)
		e, err := Normalize("Push Hook", body, instance)
		if err != nil {
			return
		}
		if lerr != nil {
			t.Fatalf("Normalize accepts the body, Locate says %v", lerr)
		}
		if (l.Path != e.Project.Path || l.URL != e.Project.URL) && !oddKeys(body) {
			t.Fatalf("Locate = %+v, Normalize = %q %q", l, e.Project.Path, e.Project.URL)
		}
	})
}

// oddKeys reports whether some object of a valid JSON body has an escaped
// key or the same key twice.
func oddKeys(body []byte) bool {
	if bytes.Contains(body, []byte(`\`)) {
		return true // conservative: an escape somewhere
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if s, ok := tok.(string); ok {
				if top.keys[s] {
					return true
				}
				top.keys[s] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
}
