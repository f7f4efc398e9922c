package envelope

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sharedFixtures is the folder of GitLab payloads shared by every package,
// with events.tsv mapping each file to its X-Gitlab-Event.
const sharedFixtures = "../../../shared/fixtures/gitlab"

type fixture struct {
	file  string // path of the payload
	event string // X-Gitlab-Event it is delivered with
}

// loadSharedFixtures reads events.tsv and returns every fixture it lists.
func loadSharedFixtures(tb testing.TB) []fixture {
	tb.Helper()
	dir := sharedFixtures
	if d := os.Getenv("HOOKGATE_FIXTURES"); d != "" {
		dir = d
	}
	f, err := os.Open(filepath.Join(dir, "events.tsv"))
	if err != nil {
		tb.Fatalf("shared fixtures: %v", err)
	}
	defer f.Close()
	var out []fixture
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		name, event, ok := strings.Cut(sc.Text(), "\t")
		if first || !ok {
			continue // header line
		}
		out = append(out, fixture{file: filepath.Join(dir, name), event: event})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatal("events.tsv lists no fixture")
	}
	return out
}

// clientGoTestdata returns client-go's testdata folder, found with
// `go list -m`, or skips the test when go is not available.
func clientGoTestdata(tb testing.TB) string {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("go is not on PATH: cannot locate client-go's testdata")
	}
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", "gitlab.com/gitlab-org/api/client-go").Output()
	if err != nil {
		tb.Skipf("cannot locate client-go: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "testdata")
}
