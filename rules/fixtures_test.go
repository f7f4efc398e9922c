package rules

import (
	"encoding/json"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/internal/fixtures"
)

// fixtureFiles maps a fixture name to its payload under testdata/gitlab.
var fixtureFiles = map[string]string{
	"push":               "docs/push.json",
	"tag_push":           "docs/tag_push.json",
	"issue":              "docs/issue.json",
	"note_commit":        "docs/note_commit.json",
	"note_merge_request": "docs/note_merge_request.json",
	"note_issue":         "docs/note_issue.json",
	"note_snippet":       "docs/note_snippet.json",
	"merge_request":      "docs/merge_request.json",
	"pipeline":           "client-go/webhooks/pipeline.json",
}

// event normalizes fixture name after patch changed its decoded JSON, so
// the envelope comes from envelope.Normalize exactly as in the gateway.
func event(t testing.TB, name string, patch func(m map[string]any)) *envelope.Envelope {
	t.Helper()
	file, ok := fixtureFiles[name]
	if !ok {
		t.Fatalf("no fixture named %q", name)
	}
	data := fixtures.Read(t, file)
	if patch != nil {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		patch(m)
		var err error
		if data, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	env, err := envelope.Normalize(fixtures.Event(t, file), data, "")
	if err != nil {
		t.Fatalf("normalize %s: %v", name, err)
	}
	return env
}

// obj returns m[key] as an object, creating it when absent.
func obj(m map[string]any, key string) map[string]any {
	o, ok := m[key].(map[string]any)
	if !ok {
		o = map[string]any{}
		m[key] = o
	}
	return o
}

// note sets the text of a note fixture.
func note(text string) func(map[string]any) {
	return func(m map[string]any) { obj(m, "object_attributes")["note"] = text }
}

// patches applies several patches in order.
func patches(ps ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, p := range ps {
			p(m)
		}
	}
}
