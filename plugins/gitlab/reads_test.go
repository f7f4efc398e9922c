package gitlab

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins"
)

func TestAccessLevel(t *testing.T) {
	f := newFake(t, func(g got) answer {
		switch g.Path {
		case "/api/v4/projects/5/members/all/42":
			return answer{200, `{"id": 42, "username": "dev", "access_level": 30}`, nil}
		case "/api/v4/projects/5/members/all/43":
			return answer{404, `{"message":"404 Not found"}`, nil}
		}
		t.Errorf("unexpected request %s %s", g.Method, g.Path)
		return answer{500, "{}", nil}
	})
	s := f.scope(t, mrNoteEnv(), nil)
	now := time.Now()
	s.c.now = func() time.Time { return now }

	for _, tt := range []struct {
		user     int64
		want     int
		requests int // total requests GitLab has seen after the call
	}{
		{42, 30, 1},
		{42, 30, 1}, // cached
		{43, 0, 2},  // 404: not a member
		{43, 0, 2},  // cached too
	} {
		lvl, err := s.AccessLevel(t.Context(), tt.user)
		if err != nil {
			t.Fatalf("user %d: %v", tt.user, err)
		}
		if lvl != tt.want {
			t.Errorf("user %d: level %d, want %d", tt.user, lvl, tt.want)
		}
		if n := len(f.requests()); n != tt.requests {
			t.Errorf("user %d: GitLab saw %d requests, want %d", tt.user, n, tt.requests)
		}
	}
	r := f.requests()[0]
	if r.Method != "GET" || r.Token != testToken || r.UUID != testUUID {
		t.Errorf("request %+v", r)
	}
	calls := s.Calls()
	if len(calls) != 2 || calls[1].Status != 404 || calls[1].Error != "" {
		t.Errorf("recorded %+v, want 2 calls, the 404 without error", calls)
	}

	// The cache is per client: a new scope on the same client hits it,
	// until it expires.
	s2 := s.c.Scope(mrNoteEnv(), "")
	if lvl, _ := s2.AccessLevel(t.Context(), 42); lvl != 30 || len(f.requests()) != 2 {
		t.Errorf("second scope: level %d, %d requests; want a cache hit", lvl, len(f.requests()))
	}
	now = now.Add(accessCacheTTL)
	if lvl, _ := s2.AccessLevel(t.Context(), 42); lvl != 30 || len(f.requests()) != 3 {
		t.Errorf("after expiry: level %d, %d requests; want a new request", lvl, len(f.requests()))
	}
}

func TestFileContent(t *testing.T) {
	const packit = "specfile_path: foo.spec\njobs: []\n"
	f := newFake(t, func(g got) answer {
		switch g.Path {
		case "/api/v4/projects/5/repository/files/%2Epackit%2Eyaml/raw?ref=b83d6e391c22777fca1ed3012fce84f633d7fed0":
			return answer{200, packit, nil}
		case "/api/v4/projects/5/repository/files/dir%2Fa%20b%2Etxt/raw?ref=release%2F1.0":
			return answer{200, "x", nil}
		case "/api/v4/projects/5/repository/files/missing/raw?ref=main":
			return answer{404, `{"message":"404 File Not Found"}`, nil}
		case "/api/v4/projects/5/repository/files/README%2Emd/raw":
			return answer{200, "readme", nil}
		}
		t.Errorf("unexpected request %s %s", g.Method, g.Path)
		return answer{500, "{}", nil}
	})
	tests := []struct {
		path, ref string
		noSHA     bool
		want      string
		found     bool
	}{
		{path: ".packit.yaml", want: packit, found: true},
		{path: "/dir/a b.txt", ref: "release/1.0", want: "x", found: true},
		{path: "missing", ref: "main", found: false},
		{path: "README.md", noSHA: true, want: "readme", found: true},
	}
	for _, tt := range tests {
		env := mrNoteEnv()
		if tt.noSHA {
			env.SHA = ""
		}
		s := f.scope(t, env, nil)
		got, found, err := s.FileContent(t.Context(), tt.path, tt.ref)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if got != tt.want || found != tt.found {
			t.Errorf("%s: got %q found %v, want %q %v", tt.path, got, found, tt.want, tt.found)
		}
		c := s.Calls()
		if len(c) != 1 || c[0].Error != "" || c[0].Body != nil {
			t.Errorf("%s: recorded %+v", tt.path, c)
		}
	}
}

func TestFileTooLarge(t *testing.T) {
	const limit = 4096
	f := newFake(t, func(g got) answer {
		if strings.Contains(g.Path, "big") {
			return answer{200, strings.Repeat("x", limit+1), nil}
		}
		return answer{200, strings.Repeat("x", limit), nil}
	})
	s := f.scope(t, mrNoteEnv(), nil)
	s.c.transport.limit = limit
	_, _, err := s.FileContent(t.Context(), "big.bin", "")
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v, want too large", err)
	}
	if _, retry := plugins.IsRetry(err); retry {
		t.Errorf("too large must be final")
	}
	// Exactly at the limit is fine.
	content, found, err := s.FileContent(t.Context(), "fits.bin", "")
	if err != nil || !found || len(content) != limit {
		t.Fatalf("at the limit: %d bytes, %v, %v", len(content), found, err)
	}
}

func TestMergeRequest(t *testing.T) {
	f := newFake(t, func(g got) answer {
		if g.Method != "GET" || g.Path != "/api/v4/projects/5/merge_requests/7" {
			t.Errorf("unexpected request %s %s", g.Method, g.Path)
		}
		return answer{200, `{"id": 99, "iid": 7, "project_id": 5, "title": "Fix", "description": "d",
			"state": "opened", "draft": true, "source_branch": "feature", "target_branch": "main",
			"source_project_id": 5, "target_project_id": 5, "sha": "abc", "web_url": "https://gl/mr/7",
			"labels": ["bug"], "author": {"id": 1, "username": "root", "name": "Admin"},
			"detailed_merge_status": "mergeable", "has_conflicts": false,
			"diff_refs": {"base_sha": "b", "head_sha": "abc", "start_sha": "s"}}`, nil}
	})
	s := f.scope(t, mrNoteEnv(), nil)
	m, err := s.MergeRequest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": int64(99), "iid": int64(7), "project_id": int64(5), "title": "Fix", "description": "d",
		"state": "opened", "draft": true, "source_branch": "feature", "target_branch": "main",
		"source_project_id": int64(5), "target_project_id": int64(5), "sha": "abc", "merge_commit_sha": "",
		"web_url": "https://gl/mr/7", "labels": []string{"bug"}, "detailed_merge_status": "mergeable",
		"has_conflicts": false,
		"author":        map[string]any{"id": int64(1), "username": "root", "name": "Admin"},
		"diff_refs":     map[string]any{"base_sha": "b", "head_sha": "abc", "start_sha": "s"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("merge request\n got %#v\nwant %#v", m, want)
	}
	// The dry-run answer has the same keys.
	d := s.envMergeRequest()
	for k := range want {
		if _, ok := d[k]; !ok {
			t.Errorf("dry-run merge request lacks %q", k)
		}
	}
	if len(d) != len(want) {
		t.Errorf("dry-run merge request has %d keys, want %d", len(d), len(want))
	}
}
