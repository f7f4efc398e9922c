package rules

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// sharedFixtures is the folder of GitLab payloads shared by every package
// (HOOKGATE_FIXTURES overrides it).
const sharedFixtures = "../../shared/fixtures/gitlab"

// fixtureEvents maps a fixture to the X-Gitlab-Event it is delivered with.
var fixtureEvents = map[string]string{
	"push":               "Push Hook",
	"tag_push":           "Tag Push Hook",
	"issue":              "Issue Hook",
	"note_commit":        "Note Hook",
	"note_merge_request": "Note Hook",
	"note_issue":         "Note Hook",
	"note_snippet":       "Note Hook",
	"merge_request":      "Merge Request Hook",
	"pipeline":           "Pipeline Hook", // from client-go's testdata
}

var (
	clientGoOnce sync.Once
	clientGoDir  string
)

// fixturePath finds a payload: the shared fixtures first, then client-go's
// testdata/webhooks (skipping the test when go cannot locate it).
func fixturePath(t testing.TB, name string) string {
	t.Helper()
	dir := sharedFixtures
	if d := os.Getenv("HOOKGATE_FIXTURES"); d != "" {
		dir = d
	}
	p := filepath.Join(dir, name+".json")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	clientGoOnce.Do(func() {
		if goBin, err := exec.LookPath("go"); err == nil {
			out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", "gitlab.com/gitlab-org/api/client-go").Output()
			if err == nil {
				clientGoDir = filepath.Join(strings.TrimSpace(string(out)), "testdata", "webhooks")
			}
		}
	})
	if clientGoDir == "" {
		t.Skipf("fixture %s: not in %s and client-go's testdata cannot be located", name, dir)
	}
	return filepath.Join(clientGoDir, name+".json")
}

// event normalizes fixture name after patch changed its decoded JSON, so
// the envelope comes from envelope.Normalize exactly as in the gateway.
func event(t testing.TB, name string, patch func(m map[string]any)) *envelope.Envelope {
	t.Helper()
	data, err := os.ReadFile(fixturePath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if patch != nil {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		patch(m)
		if data, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	env, err := envelope.Normalize(fixtureEvents[name], data, "")
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
