package plugins

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/envelope/command"
)

// noteEnvelope is the envelope of testdata/note_merge_request.json (GitLab's
// Note Hook example on a merge request), built by hand with "/packit build"
// as its note so these tests do not depend on the normalizer.
func noteEnvelope(tb testing.TB) *envelope.Envelope {
	tb.Helper()
	payload, err := os.ReadFile(filepath.Join("testdata", "note_merge_request.json"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := command.Command{Name: "packit", Args: []string{"build"}, Line: "/packit build"}
	return &envelope.Envelope{
		ID:           "01J0000000000000000000TEST",
		Kind:         "note",
		Event:        "Note Hook",
		Action:       "create",
		Instance:     "http://example.com",
		Project:      envelope.Project{ID: 5, Path: "gitlab-org/gitlab-test", URL: "http://example.com/gitlab-org/gitlab-test"},
		User:         envelope.User{ID: 1, Username: "root", Name: "Administrator"},
		Ref:          "refs/heads/master",
		Branch:       "master",
		SHA:          "5ec0f2a1d1c6c35f1d1f6e22a0d8c6c6f0e4c1a0",
		Note:         "/packit build",
		NoteableType: "MergeRequest",
		NoteID:       1244,
		MergeRequest: envelope.MergeRequest{
			IID: 1, Title: "Tempora et eos debitis quae laborum et.", State: "opened",
			SourceBranch: "master", TargetBranch: "markdown", Labels: []string{"bug", "ci"},
			SourceProjectID: 5,
		},
		Labels:   []string{"bug", "ci"},
		Commands: []command.Command{cmd},
		Command:  cmd,
		Payload:  payload,
	}
}

// writePlugins writes name -> source as dir/name.lua in a temp dir.
func writePlugins(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// mustLoad loads files with quiet logging and fails on any load error.
func mustLoad(tb testing.TB, files map[string]string, opts Options) *Set {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Load(writePlugins(tb, files), opts)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func eagerString(s string) lua.LString { return lua.LString(s) }
