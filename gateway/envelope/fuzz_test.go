package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"unsafe"
)

// unsafeString views b as a string without copying, as fiber does with
// header values: the string changes when b does.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// FuzzNormalize checks Normalize's contract on arbitrary input: it never
// panics; it succeeds exactly for JSON objects that encoding/json accepts
// (nested at most MaxDepth deep), and then Payload is the body and every list is non-nil;
// otherwise the error is a *SyntaxError.
func FuzzNormalize(f *testing.F) {
	for _, fx := range loadFixtures(f, "") {
		body, err := os.ReadFile(fx.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fx.event, body)
	}
	for _, s := range []string{"", "{", "[]", `{"a":"\u00"}`, `{"object_kind":"note","object_attributes":{"note":"/a \"b c\""}}`, "{\"a\":1e999}", `{"project":{"id":"5"}}`} {
		f.Add("Note Hook", []byte(s))
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		e, err := Normalize(header, body, "")
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		isObject := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, not *SyntaxError", err, err)
			}
			if se.Reason == reasonValues && countValues(body) <= MaxValues(len(body)) {
				t.Fatalf("refused for its values, but it holds %d, the budget is %d", countValues(body), MaxValues(len(body)))
			}
			if isObject && se.Reason != reasonDepth && se.Reason != reasonValues {
				t.Fatalf("valid JSON object refused: %v", err)
			}
			return
		}
		if !isObject {
			t.Fatalf("accepted a body that encoding/json does not take as an object: %q", body)
		}
		if !bytes.Equal(e.Payload, body) {
			t.Fatal("Payload differs from the body")
		}
		if e.Event != header {
			t.Fatalf("Event = %q, want %q", e.Event, header)
		}
		if e.Labels == nil || e.MergeRequest.Labels == nil || e.Issue.Labels == nil || e.Commands == nil || e.Command.Args == nil {
			t.Fatal("a list is nil")
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("envelope does not marshal: %v", err)
		}
	})
}

// countValues counts the JSON values of a valid body, with encoding/json.
func countValues(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			continue
		}
		n++
	}
}
