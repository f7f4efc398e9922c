package gitlab

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

func TestFor(t *testing.T) {
	cs, err := New([]Instance{
		{URL: "https://gitlab.example.com", Token: "a", BotUsername: "bot-a"},
		{URL: "https://code.example.org/gitlab/", Token: "b", BotUsername: "bot-b"},
		{URL: "https://code.example.org", Token: "c", BotUsername: "bot-c"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		instance   string
		projectURL string
		want       string // instance; "" = dry run
	}{
		{"by X-Gitlab-Instance", "https://gitlab.example.com", "", "https://gitlab.example.com"},
		{"instance case and slash", "https://GitLab.Example.com/", "", "https://gitlab.example.com"},
		{"instance with /api/v4", "https://gitlab.example.com/api/v4/", "", "https://gitlab.example.com"},
		{"instance with the default port", "https://gitlab.example.com:443", "", "https://gitlab.example.com"},
		{"instance with a path", "https://code.example.org/gitlab", "", "https://code.example.org/gitlab"},
		{"instance wins over project URL", "https://code.example.org", "https://gitlab.example.com/g/p", "https://code.example.org"},
		// The body never chooses the instance: the receiver sets it.
		{"no instance, several configured: not by project URL", "", "https://gitlab.example.com/group/project", ""},
		{"scheme must match", "http://gitlab.example.com", "", ""},
		{"unknown instance, several configured", "https://other.example.net", "https://other.example.net/g/p", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &envelope.Envelope{Instance: tt.instance, Project: envelope.Project{ID: 1, URL: tt.projectURL}}
			c := cs.For(env)
			if tt.want == "" {
				if !c.DryRun() {
					t.Fatalf("got instance %s, want a dry-run client", c.Instance())
				}
				return
			}
			if c.DryRun() || c.Instance() != tt.want {
				t.Fatalf("got %s (dry run %v), want %s", c.Instance(), c.DryRun(), tt.want)
			}
		})
	}
	if got := cs.BotUsername("https://code.example.org/gitlab"); got != "bot-b" {
		t.Errorf("BotUsername = %q, want bot-b", got)
	}
	if got := cs.BotUsername("https://nowhere"); got != "" {
		t.Errorf("BotUsername of an unknown instance = %q", got)
	}
}

func TestForSingleInstance(t *testing.T) {
	cs, err := New([]Instance{{URL: "https://gitlab.example.com", Token: "a", BotUsername: "bot"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// With one instance, a delivery naming none uses it; one naming
	// another gets a recorder (the receiver refuses those at the door).
	c := cs.For(&envelope.Envelope{})
	if c.DryRun() || c.Instance() != "https://gitlab.example.com" {
		t.Fatalf("got %s", c.Instance())
	}
	if c := cs.For(&envelope.Envelope{Instance: "https://elsewhere.example.net"}); !c.DryRun() {
		t.Fatalf("another instance got the configured client %s", c.Instance())
	}
	if got := cs.BotUsername(""); got != "bot" {
		t.Errorf("BotUsername = %q", got)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New([]Instance{{URL: ""}}, nil); err == nil || !strings.Contains(err.Error(), "url is empty") {
		t.Errorf("empty URL: err = %v", err)
	}
	_, err := New([]Instance{{URL: "https://a.example", Token: "x"}, {URL: "https://A.example/", Token: "y"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "configured twice") {
		t.Errorf("duplicate: err = %v", err)
	}
}

func TestHTTPClientNotModified(t *testing.T) {
	hc := &http.Client{}
	if _, err := New([]Instance{{URL: "https://a.example", Token: "x", HTTPClient: hc}}, nil); err != nil {
		t.Fatal(err)
	}
	if hc.Transport != nil || hc.Timeout != 0 {
		t.Errorf("caller's HTTP client was changed: %+v", hc)
	}
}

// TestDryRun: a dry-run instance sends nothing and records every call with
// its body; values are plausible.
func TestDryRun(t *testing.T) {
	f := failServer(t)
	env := mrNoteEnv()
	s := f.scope(t, env, func(i *Instance) { i.DryRun = true })
	checkDryRun(t, s)
}

// TestNoInstances: with no [[gitlab]] blocks, events get a dry-run client.
func TestNoInstances(t *testing.T) {
	cs, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := mrNoteEnv()
	env.Instance = "https://gitlab.example.com"
	c := cs.For(env)
	if !c.DryRun() || c.Instance() != "https://gitlab.example.com" {
		t.Fatalf("got %s dry run %v", c.Instance(), c.DryRun())
	}
	checkDryRun(t, c.Scope(env, testUUID))
	if got := cs.BotUsername(env.Instance); got != "" {
		t.Errorf("BotUsername = %q", got)
	}
}

func checkDryRun(t *testing.T, s *Scope) {
	t.Helper()
	ctx := t.Context()
	if !s.DryRun() {
		t.Fatal("scope is not dry run")
	}
	id, err := s.Comment(ctx, "Building.")
	if err != nil || id != 0 {
		t.Fatalf("comment: %d, %v", id, err)
	}
	if err := s.SetCommitStatus(ctx, StatusOptions{State: "pending", Name: "packit"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddLabels(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.React(ctx, "eyes"); err != nil {
		t.Fatal(err)
	}
	lvl, err := s.AccessLevel(ctx, 42)
	if err != nil || lvl != DryRunAccessLevel {
		t.Fatalf("access level %d, %v; want %d", lvl, err, DryRunAccessLevel)
	}
	content, found, err := s.FileContent(ctx, ".packit.yaml", "")
	if err != nil || found || content != "" {
		t.Fatalf("file: %q %v %v", content, found, err)
	}
	mr, err := s.MergeRequest(ctx)
	if err != nil || mr["iid"] != int64(7) || mr["source_branch"] != "feature" {
		t.Fatalf("merge request %v, %v", mr, err)
	}
	p, err := s.CreatePipeline(ctx, "", map[string]string{"X": "1"})
	if err != nil || p.ID != 0 || p.Ref != "feature" {
		t.Fatalf("pipeline %+v, %v", p, err)
	}
	want := []queue.Call{
		{Method: "POST", Path: "/projects/5/merge_requests/7/notes", Body: []byte(`{"body":"Building."}`)},
		{Method: "POST", Path: "/projects/5/statuses/b83d6e391c22777fca1ed3012fce84f633d7fed0", Body: []byte(`{"state":"pending","name":"packit"}`)},
		{Method: "PUT", Path: "/projects/5/merge_requests/7", Body: []byte(`{"add_labels":"a,b"}`)},
		{Method: "POST", Path: "/projects/5/merge_requests/7/notes/1244/award_emoji", Body: []byte(`{"name":"eyes"}`)},
		{Method: "GET", Path: "/projects/5/members/all/42"},
		{Method: "GET", Path: "/projects/5/repository/files/%2Epackit%2Eyaml/raw?ref=b83d6e391c22777fca1ed3012fce84f633d7fed0"},
		{Method: "GET", Path: "/projects/5/merge_requests/7"},
		{Method: "POST", Path: "/projects/5/pipeline", Body: []byte(`{"ref":"feature","variables":[{"key":"X","value":"1"}]}`)},
	}
	got := s.Calls()
	if len(got) != len(want) {
		t.Fatalf("recorded %d calls, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.Method || g.Path != w.Path || string(g.Body) != string(w.Body) ||
			!g.DryRun || g.Status != 0 || g.Error != "" {
			t.Errorf("call %d:\n got %s %s %s status %d dry %v err %q\nwant %s %s %s (dry run)",
				i, g.Method, g.Path, g.Body, g.Status, g.DryRun, g.Error, w.Method, w.Path, w.Body)
		}
	}
}

func TestClientsAccessLevel(t *testing.T) {
	f := newFake(t, func(g got) answer { return answer{200, `{"id": 42, "access_level": 40}`, nil} })
	cs, err := New([]Instance{f.instance()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := mrNoteEnv()
	// Without a scope in ctx.
	lvl, err := cs.AccessLevel(t.Context(), env, 42)
	if err != nil || lvl != 40 {
		t.Fatalf("level %d, %v", lvl, err)
	}
	// With the run's scope in ctx, the call is recorded there.
	env2 := mrNoteEnv()
	env2.Project.ID = 6
	s := cs.For(env2).Scope(env2, testUUID)
	ctx := WithScope(t.Context(), s)
	if lvl, err := cs.AccessLevel(ctx, env2, 42); err != nil || lvl != 40 {
		t.Fatalf("level %d, %v", lvl, err)
	}
	if c := s.Calls(); len(c) != 1 || c[0].Path != "/projects/6/members/all/42" {
		t.Errorf("scope recorded %+v", c)
	}
	if r := f.requests(); len(r) != 2 || r[1].UUID != testUUID {
		t.Errorf("requests %+v", r)
	}
}

func TestScopeContext(t *testing.T) {
	if _, ok := ScopeFrom(context.Background()); ok {
		t.Error("scope found in an empty context")
	}
	//nolint:staticcheck // a nil context must be handled: L.Context() is nil when unset.
	if _, ok := ScopeFrom(nil); ok {
		t.Error("scope found in a nil context")
	}
	cs, _ := New(nil, nil)
	s := cs.For(mrNoteEnv()).Scope(mrNoteEnv(), "")
	if got, ok := ScopeFrom(WithScope(context.Background(), s)); !ok || got != s {
		t.Error("scope not found")
	}
}

func TestOnCall(t *testing.T) {
	cs, _ := New(nil, nil)
	var mu sync.Mutex
	var seen []string
	cs.OnCall(func(instance string, c queue.Call) {
		mu.Lock()
		seen = append(seen, instance+" "+c.Method+" "+c.Path)
		mu.Unlock()
	})
	env := mrNoteEnv()
	env.Instance = "https://gitlab.example.com"
	if _, err := cs.For(env).Scope(env, "").Comment(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "https://gitlab.example.com POST /projects/5/merge_requests/7/notes" {
		t.Errorf("observed %v", seen)
	}
}
