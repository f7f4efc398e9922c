package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// otherHost is a server GitLab's answers point to; it records what reaches
// it.
type otherHost struct {
	URL string

	mu     sync.Mutex
	reqs   []string // "METHOD path"
	tokens []string // PRIVATE-TOKEN values seen
}

func newOtherHost(t *testing.T) *otherHost {
	t.Helper()
	h := &otherHost{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.reqs = append(h.reqs, r.Method+" "+r.URL.Path)
		if tok := r.Header.Get("PRIVATE-TOKEN"); tok != "" {
			h.tokens = append(h.tokens, tok)
		}
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id": 1}`))
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *otherHost) seen() (reqs, tokens []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reqs...), append([]string(nil), h.tokens...)
}

// A GitLab answer redirecting elsewhere must not take the bot's token
// along: the plugin's call fails, finally, with the redirect named, and the
// other host hears nothing (issue 18, break 6).
func TestGitLabRedirectIsNotFollowed(t *testing.T) {
	other := newOtherHost(t)
	f := newFakeGitLab(t)
	redirect := func(n int) apiAnswer {
		return apiAnswer{Status: http.StatusFound, Body: `{}`, Header: map[string]string{"Location": other.URL + "/steal?x=1"}}
	}
	f.route("GET", "/api/v4/projects/5/repository/files/README.md/raw", redirect)
	f.route("POST", mrNotes, redirect)
	files := map[string]string{
		"rules/r.toml": `
[[rule]]
name = "read"
on = ["note"]
plugin = "read"

[[rule]]
name = "reply"
on = ["note"]
plugin = "reply"
`,
		"plugins/read.lua":  "function handle(event, params)\n  return { content = gitlab.file(\"README.md\") }\nend\n",
		"plugins/reply.lua": "function handle(event, params)\n  return { note = gitlab.comment(\"hello\") }\nend\n",
	}
	g := startGateway(t, gitlabConfig(f.URL, "", "[rules]\npaths = [\"rules/*.toml\"]\n[plugins]\ndir = \"plugins\"\n"), files)

	d, raw := g.deliver(t, withNote(t, "anything"), "uuid-redirect")
	for _, rule := range []string{"read", "reply"} {
		o := outcomeOf(t, d, rule)
		if o.Status != "error" || o.Attempts != 1 {
			t.Errorf("%s: outcome %s after %d attempts, want a final error at once: %s", rule, o.Status, o.Attempts, o.Error)
		}
		want := "GitLab answered 302 Found (redirects are not followed): Location " + other.URL + "/steal"
		if !strings.Contains(o.Error, want) {
			t.Errorf("%s: error %q lacks %q", rule, o.Error, want)
		}
		if len(o.Calls) != 1 || o.Calls[0].Status != http.StatusFound {
			t.Errorf("%s: calls %s, want one answered 302", rule, dump(o.Calls))
		}
	}
	if strings.Contains(raw, "bot-token") {
		t.Error("the delivery log shows the bot's token")
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("GitLab received %d requests, want 2: %s", n, dump(f.requests()))
	}
	reqs, tokens := other.seen()
	t.Logf("other host: %d requests, %d with PRIVATE-TOKEN", len(reqs), len(tokens))
	if len(reqs) != 0 {
		t.Fatalf("the other host received %v (PRIVATE-TOKEN %v)", reqs, tokens)
	}
}
