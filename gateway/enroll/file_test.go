package enroll

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/envelope"
)

func TestReadMissingFile(t *testing.T) {
	f, err := Read(filepath.Join(t.TempDir(), "none.json"))
	if err != nil || len(f.Projects) != 0 {
		t.Fatalf("Read(missing) = %+v, %v", f, err)
	}
	if e, err := f.Enrolled(); e != nil || err != nil {
		t.Errorf("Enrolled of an empty file = %v, %v", e, err)
	}
}

func TestReadErrors(t *testing.T) {
	salt := `"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="`
	hash := `"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="`
	file := func(body string) string {
		return `{"version":1,"scheme":"` + Scheme + `","salt":` + salt + `,"projects":[` + body + `]}`
	}
	tests := []struct {
		name, text, want string
	}{
		{"not json", "{", "not valid JSON"},
		{"unknown key", `{"version":1,"scheme":"` + Scheme + `","tokens":[]}`, "unknown field"},
		{"version", `{"version":2,"scheme":"` + Scheme + `"}`, "version 2"},
		{"scheme", `{"version":1,"scheme":"md5"}`, "unknown hash scheme"},
		{"short salt", `{"version":1,"scheme":"` + Scheme + `","salt":"YWJj","projects":[{"project":"a/b"}]}`, "salt must be"},
		{"no path", file(`{"project":""}`), "no project path"},
		{"twice", file(`{"project":"a/b"},{"project":"A/B"}`), "listed twice"},
		{"twice on one instance", file(`{"project":"a/b","instance":"https://x.example"},{"project":"A/B","instance":"https://X.example/"}`), "listed twice"},
		{"nil project", file(`null`), "no project path"},
		{"short hash", file(`{"project":"a/b","secrets":[{"id":"x","hash":"YWJj"}]}`), "hash must be 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read = %v, want %q and the path", err, tt.want)
			}
			if strings.Contains(err.Error(), strings.Trim(hash, `"`)) {
				t.Error("error shows a hash")
			}
		})
	}
	if _, err := Read(t.TempDir()); err == nil {
		t.Error("Read(a folder) succeeded")
	}
}

// Concurrent writers (separate commands, or hosts sharing the file) do not
// lose each other's changes, and readers always see a whole file.
func TestUpdateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "s.json")
	now := time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(readErr)
				return
			default:
			}
			if _, err := Read(path); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for i := range 16 {
		wg.Go(func() {
			err := Update(path, now, func(f *File) error {
				f.Projects = append(f.Projects, &Project{Project: fmt.Sprintf("g/p%02d", i), Secrets: []Secret{}})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatalf("a reader saw a partial file: %v", err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Projects) != 16 {
		t.Fatalf("%d projects, want 16", len(f.Projects))
	}
	if !slices.IsSortedFunc(f.Projects, func(a, b *Project) int { return strings.Compare(a.Project, b.Project) }) {
		t.Error("projects not sorted")
	}
	// A failing change writes nothing.
	st, _ := os.Stat(path)
	if err := Update(path, now, func(*File) error { return fmt.Errorf("no") }); err == nil {
		t.Fatal("the change's error was lost")
	}
	if st2, _ := os.Stat(path); !os.SameFile(st, st2) {
		t.Error("a failed update replaced the file")
	}
}

func TestPrune(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	f := &File{Projects: []*Project{{
		Project:       "a/b",
		FallbackUntil: at(0),
		Secrets: []Secret{
			{ID: "gone", NotAfter: at(-time.Second)},
			{ID: "edge", NotAfter: at(0)},
			{ID: "soon", NotAfter: at(time.Second)},
			{ID: "kept"},
		},
	}, {
		Project: "c/d", FallbackUntil: at(time.Minute),
		Secrets: []Secret{{ID: "last", NotAfter: at(-time.Hour)}},
	}}}
	f.prune(now)
	var ids []string
	for _, s := range f.Projects[0].Secrets {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{"soon", "kept"}) || f.Projects[0].FallbackUntil != nil {
		t.Errorf("after prune: %v, fallback %v", ids, f.Projects[0].FallbackUntil)
	}
	// A project whose last secret expired stays, closed.
	if len(f.Projects) != 2 || len(f.Projects[1].Secrets) != 0 || f.Projects[1].FallbackUntil == nil {
		t.Errorf("second project = %+v", f.Projects[1])
	}
}

func TestParseEvents(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
		err  string
	}{
		{nil, DefaultEvents, ""},
		{[]string{"note", "merge_request"}, []string{"merge_requests", "note"}, ""},
		{[]string{"Merge-Requests", "merge_requests_events", "MR", "issue", "build", "tag_push"}, []string{"issues", "job", "merge_requests", "tag_push"}, ""},
		{[]string{"release", "wiki", "emoji", "confidential_note", "push", "deployment"}, []string{"confidential_note", "deployment", "emoji", "push", "releases", "wiki_page"}, ""},
		{[]string{"note", "bogus"}, nil, "unknown event bogus; known: push, tag_push"},
		{[]string{" ", ""}, nil, "no events given"},
	}
	for _, tt := range tests {
		got, err := ParseEvents(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseEvents(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseEvents(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	// Every event name round-trips through the hook options and back.
	for _, name := range EventNames() {
		got, err := ParseEvents([]string{name})
		if err != nil || !slices.Equal(got, []string{name}) {
			t.Errorf("ParseEvents(%q) = %v, %v", name, got, err)
		}
	}
}

func TestSameURL(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"https://h.example.com/hooks/gitlab", "https://h.example.com/hooks/gitlab", true},
		{"https://H.Example.com/hooks/gitlab/", "HTTPS://h.example.com/hooks/gitlab", true},
		{"https://h.example.com/hooks/gitlab", "http://h.example.com/hooks/gitlab", false},
		{"https://h.example.com/Hooks/gitlab", "https://h.example.com/hooks/gitlab", false},
		{"https://h.example.com:8443/hooks/gitlab", "https://h.example.com/hooks/gitlab", false},
		{"https://h.example.com/hooks/gitlab?x=1", "https://h.example.com/hooks/gitlab", false},
	} {
		if got := sameURL(c.a, c.b); got != c.want {
			t.Errorf("sameURL(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestListAndRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := now.Add(time.Hour)
	past := now.Add(-time.Hour)
	err := Update(path, now.Add(-2*time.Hour), func(f *File) error {
		f.Projects = []*Project{
			{Project: "b/two", Secrets: []Secret{{ID: "n2", Hash: make([]byte, 32), CreatedAt: now}}},
			{Project: "a/one", Instance: "https://gitlab.example", Secrets: []Secret{
				{ID: "new", Hash: make([]byte, 32), CreatedAt: now},
				{ID: "old", Hash: make([]byte, 32), CreatedAt: now.Add(-time.Minute), NotAfter: &end},
				{ID: "dead", Hash: make([]byte, 32), CreatedAt: now.Add(-time.Hour), NotAfter: &past},
			}},
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := List(path, "", now)
	if err != nil || len(all) != 2 || all[0].Project != "a/one" {
		t.Fatalf("List = %+v, %v", all, err)
	}
	var ids []string
	for _, s := range all[0].Secrets {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{"old", "new"}) {
		t.Errorf("live secrets oldest first = %v", ids)
	}
	if one, err := List(path, "B/TWO", now); err != nil || len(one) != 1 {
		t.Errorf("List(B/TWO) = %+v, %v", one, err)
	}
	if _, err := List(path, "c/three", now); err == nil {
		t.Error("List of a project not enrolled succeeded")
	}
	if ok, err := Remove(path, "A/one", "https://elsewhere.example", now); ok || err != nil {
		t.Fatalf("Remove on another instance = %v, %v; want nothing removed", ok, err)
	}
	if ok, err := Remove(path, "A/one", "", now); !ok || err != nil {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if ok, err := Remove(path, "a/one", "", now); ok || err != nil {
		t.Fatalf("Remove again = %v, %v", ok, err)
	}
	if all, _ := List(path, "", now); len(all) != 1 {
		t.Errorf("after Remove: %+v", all)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{}, 16)
	// A long poll: what arrives quickly came from file-system events.
	if err := Watch(ctx, path, time.Hour, func() { changes <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	write := func() {
		t.Helper()
		if err := Update(path, time.Now(), func(*File) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change seen after %s", what)
		}
	}
	write()
	wait("create")
	write()
	wait("atomic replace")
	// Other files in the folder (the queue's) do not count.
	if err := os.WriteFile(filepath.Join(dir, "hookgate.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
		t.Fatal("a change to another file was reported")
	case <-time.After(300 * time.Millisecond):
	}

	// Without events (the folder does not exist yet), polling finds it.
	late := filepath.Join(dir, "later", "s.json")
	if err := Watch(ctx, late, 20*time.Millisecond, func() { changes <- struct{}{} }); err == nil {
		t.Fatal("Watch on a missing folder reported events available")
	}
	if err := Update(late, time.Now(), func(*File) error { return nil }); err != nil {
		t.Fatal(err)
	}
	wait("poll")
}

// The same path on two instances is two projects: the file reads, and
// each instance's secret opens only its own.
func TestReadSamePathOnTwoInstances(t *testing.T) {
	salt := []byte("0123456789abcdef0123456789abcdef")
	ha, hb := auth.TokenHash(salt, "token-a"), auth.TokenHash(salt, "token-b")
	enc := base64.StdEncoding.EncodeToString
	text := `{"version":1,"scheme":"` + Scheme + `","salt":"` + enc(salt) + `","projects":[` +
		`{"project":"team/app","instance":"https://a.example","secrets":[{"id":"1","hash":"` + enc(ha[:]) + `"}]},` +
		`{"project":"team/app","instance":"https://b.example","secrets":[{"id":"2","hash":"` + enc(hb[:]) + `"}]}]}`
	path := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	e, err := f.Enrolled()
	if err != nil {
		t.Fatalf("Enrolled: %v", err)
	}
	base, err := auth.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	v := base.WithEnrolled(e)
	now := time.Now()
	if _, err := v.Verify(envelope.NormalizeInstance("https://b.example"), "team/app", auth.Headers{Token: "token-b"}, nil, now); err != nil {
		t.Errorf("b's token from b: %v", err)
	}
	if _, err := v.Verify(envelope.NormalizeInstance("https://a.example"), "team/app", auth.Headers{Token: "token-b"}, nil, now); err == nil {
		t.Error("b's token opened a's project")
	}
}
