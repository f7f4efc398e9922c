package envelope

import (
	"strings"
	"testing"

	"github.com/hookgate/hookgate/internal/fixtures"
)

type fixture struct {
	key   string // name under its source: "push.json", "webhooks/build.json"
	file  string // path of the payload
	event string // X-Gitlab-Event it is delivered with
}

// loadFixtures returns the repository's payloads (testdata/gitlab) whose
// names start with prefix: "docs/" for GitLab's documented examples,
// "client-go/" for client-go's testdata, "" for all.
func loadFixtures(tb testing.TB, prefix string) []fixture {
	tb.Helper()
	var out []fixture
	for _, f := range fixtures.All(tb, prefix) {
		out = append(out, fixture{key: strings.TrimPrefix(f.Name, prefix), file: f.File, event: f.Event})
	}
	return out
}

// loadSharedFixtures returns GitLab's documented examples.
func loadSharedFixtures(tb testing.TB) []fixture { return loadFixtures(tb, "docs/") }
