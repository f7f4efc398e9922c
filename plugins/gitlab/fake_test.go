package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
)

const (
	testToken = "glpat-secret-token-123"
	testUUID  = "e3b0c442-event-uuid"
)

// got is one request the fake GitLab received.
type got struct {
	Method string
	Path   string // escaped path, "?query" appended when present
	Body   string
	Token  string
	UUID   string
}

// answer is what the fake GitLab replies.
type answer struct {
	status  int
	body    string
	headers map[string]string
}

// fakeGitLab is an httptest server standing in for GitLab's REST API. It
// records every request and answers with respond (default: 200 {}).
type fakeGitLab struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []got
	respond func(g got) answer
}

func newFake(t *testing.T, respond func(g got) answer) *fakeGitLab {
	t.Helper()
	f := &fakeGitLab{t: t, respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitLab) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	g := got{Method: r.Method, Path: p, Body: string(b),
		Token: r.Header.Get("PRIVATE-TOKEN"), UUID: r.Header.Get("X-Gitlab-Event-UUID")}
	f.mu.Lock()
	f.reqs = append(f.reqs, g)
	f.mu.Unlock()
	a := answer{status: 200, body: "{}"}
	if f.respond != nil {
		a = f.respond(g)
	}
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	if strings.HasPrefix(strings.TrimSpace(a.body), "{") || strings.HasPrefix(strings.TrimSpace(a.body), "[") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (f *fakeGitLab) requests() []got {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]got(nil), f.reqs...)
}

// instance is an Instance pointing at the fake.
func (f *fakeGitLab) instance() Instance {
	return Instance{URL: f.srv.URL, Token: testToken, BotUsername: "bot", HTTPClient: f.srv.Client()}
}

// scope builds a Scope for env on a client pointing at the fake.
func (f *fakeGitLab) scope(t *testing.T, env *envelope.Envelope, mod func(*Instance)) *Scope {
	t.Helper()
	inst := f.instance()
	if mod != nil {
		mod(&inst)
	}
	cs, err := New([]Instance{inst}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs.For(env).Scope(env, testUUID)
}

// failServer is a fake that fails the test if it is ever called.
func failServer(t *testing.T) *fakeGitLab {
	return newFake(t, func(g got) answer {
		t.Errorf("GitLab was called in dry run: %s %s", g.Method, g.Path)
		return answer{status: 500, body: `{"message":"dry run sent a request"}`}
	})
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	if got == "" || want == "" {
		return got == want
	}
	var a, b any
	if err := json.Unmarshal([]byte(got), &a); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("bad JSON %q: %v", want, err)
	}
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

// Test envelopes, shaped like the normalized fixtures.
func project() envelope.Project {
	return envelope.Project{ID: 5, Path: "gitlab-org/gitlab-test", URL: "http://example.com/gitlab-org/gitlab-test"}
}

func mrNoteEnv() *envelope.Envelope {
	return &envelope.Envelope{
		ID: "d1", Kind: "note", Event: "Note Hook", Action: "create",
		Project: project(), User: envelope.User{ID: 1, Username: "root"},
		SHA: "b83d6e391c22777fca1ed3012fce84f633d7fed0", Note: "/packit build",
		NoteableType: "MergeRequest", NoteID: 1244,
		MergeRequest: envelope.MergeRequest{IID: 7, Title: "Tempora et eos", State: "opened",
			SourceBranch: "feature", TargetBranch: "main", Labels: []string{"bug"}, SourceProjectID: 5},
	}
}

func issueNoteEnv() *envelope.Envelope {
	return &envelope.Envelope{
		ID: "d2", Kind: "note", Project: project(), NoteableType: "Issue", NoteID: 1241,
		Issue: envelope.Issue{IID: 17, Title: "Issue", State: "opened"},
	}
}

func commitNoteEnv() *envelope.Envelope {
	return &envelope.Envelope{
		ID: "d3", Kind: "note", Project: project(), NoteableType: "Commit", NoteID: 1243,
		SHA: "cfe32cf61b73a0d5e9f13e774abde7ff789b1660",
	}
}

func snippetNoteEnv() *envelope.Envelope {
	return &envelope.Envelope{
		ID: "d4", Kind: "note", Project: project(), NoteableType: "Snippet", NoteID: 1245,
		Payload: []byte(`{"object_kind":"note","object_attributes":{"id":1245,"noteable_id":53},"snippet":{"id":53}}`),
	}
}

func mrEventEnv() *envelope.Envelope {
	return &envelope.Envelope{
		ID: "d5", Kind: "merge_request", Action: "open", Project: project(),
		SHA:          "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		MergeRequest: envelope.MergeRequest{IID: 1, SourceBranch: "ms-viewport", TargetBranch: "master", SourceProjectID: 5},
	}
}

func issueEventEnv() *envelope.Envelope {
	return &envelope.Envelope{ID: "d6", Kind: "issue", Action: "open", Project: project(),
		Issue: envelope.Issue{IID: 23}}
}

func pushEnv() *envelope.Envelope {
	return &envelope.Envelope{ID: "d7", Kind: "push", Project: project(), Ref: "refs/heads/master",
		Branch: "master", SHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}
}

// ctxT is a context bounded by the test.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	return t.Context()
}
