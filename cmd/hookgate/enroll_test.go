package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookgate/hookgate/gateway/enroll"
	"github.com/hookgate/hookgate/gateway/enroll/enrolltest"
)

var tokenLine = regexp.MustCompile(`(?m)^secret:\s+(\S+) \(id ([0-9a-f]+)\)$`)

// enrolled runs an enroll or rotate command and returns the secret it shows.
func enrolled(t *testing.T, dir string, args ...string) (token, id, stdout string) {
	t.Helper()
	r := hookgate(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("hookgate %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	m := tokenLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no secret line in:\n%s", r.stdout)
	}
	return m[1], m[2], r.stdout
}

func TestEnrollAndSecretCommands(t *testing.T) {
	fake := enrolltest.New(t)
	fake.AddProject(42, "group/project")
	fake.AddHook(42, "https://ci.example.com/a", "x")
	fake.AddHook(42, "https://ci.example.com/b", "y")
	dir := writeTree(t, t.TempDir(), map[string]string{"hookgate.toml": `
[server]
public_url = "https://hooks.example.com/"

[[gitlab]]
url = "` + fake.URL + `"
token = "` + enrolltest.Token + `"

[[secret]]
project = "*"
token = "star-token"
`})
	file := filepath.Join(dir, "data", "enrolled-secrets.json")

	tok1, id1, out := enrolled(t, dir, "enroll", "group/project", "--config", "hookgate.toml", "--events", "note,merge_request")
	if !strings.Contains(out, "webhook:  103 created: https://hooks.example.com/hooks/gitlab") || !strings.Contains(out, "events:   merge_requests, note") {
		t.Errorf("enroll output:\n%s", out)
	}
	hooks := fake.Hooks(42)
	if len(hooks) != 3 || hooks[2].Token != tok1 || !hooks[2].NoteEvents || !hooks[2].MergeRequestsEvents || hooks[2].PushEvents || !hooks[2].EnableSSLVerification {
		t.Fatalf("hooks = %+v", hooks)
	}

	// Enrolling again updates the same hook; the first secret keeps its grace.
	tok2, id2, out := enrolled(t, dir, "enroll", "--config", "hookgate.toml", "group/project")
	if !strings.Contains(out, "webhook:  103 updated") || !strings.Contains(out, "Secret "+id1+" stays valid until") {
		t.Errorf("second enroll output:\n%s", out)
	}
	if hooks := fake.Hooks(42); len(hooks) != 3 || hooks[2].Token != tok2 || !hooks[2].IssuesEvents {
		t.Fatalf("hooks after second enroll = %+v", hooks)
	}

	tok3, id3, out := enrolled(t, dir, "secret", "rotate", "group/project", "--config", "hookgate.toml", "--grace", "1h")
	if !strings.Contains(out, "Secret "+id2+" stays valid until") || fake.Hooks(42)[2].Token != tok3 {
		t.Errorf("rotate output:\n%s", out)
	}

	// Neither the file nor a listing shows a secret (or its hash).
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(file)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v", st.Mode().Perm())
	}
	f, err := enroll.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	hidden := []string{tok1, tok2, tok3}
	for _, s := range f.Find("group/project").Secrets {
		hidden = append(hidden, base64.StdEncoding.EncodeToString(s.Hash))
	}
	for _, tok := range hidden[:3] {
		if strings.Contains(string(raw), tok) {
			t.Fatal("the secrets file holds a plain secret")
		}
	}
	r := hookgate(t, dir, "secret", "list", "--config", "hookgate.toml")
	rj := hookgate(t, dir, "secret", "list", "--json", "--config", "hookgate.toml", "GROUP/project")
	if r.code != 0 || rj.code != 0 {
		t.Fatalf("secret list: %d %s / %d %s", r.code, r.stderr, rj.code, rj.stderr)
	}
	for _, out := range []string{r.stdout, rj.stdout} {
		for _, h := range hidden {
			if strings.Contains(out, h) {
				t.Fatalf("secret list shows a secret or hash:\n%s", out)
			}
		}
	}
	// id1 lives out enroll's 5m grace, id2 rotate's hour; id3 has no end.
	for _, want := range []string{"PROJECT", "group/project", id1, id2, id3 + "  ", "never", fake.URL} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("secret list lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "never"); n != 1 {
		t.Errorf("%d secrets without an end, want 1:\n%s", n, r.stdout)
	}
	var infos []enroll.ProjectInfo
	if err := json.Unmarshal([]byte(rj.stdout), &infos); err != nil || len(infos) != 1 || len(infos[0].Secrets) != 3 || infos[0].HookID != 103 {
		t.Fatalf("secret list --json = %s (%v)", rj.stdout, err)
	}

	// Remove forgets the project.
	if r := hookgate(t, dir, "secret", "remove", "--config", "hookgate.toml", "group/project"); r.code != 0 {
		t.Fatalf("secret remove: %d %s", r.code, r.stderr)
	}
	if r := hookgate(t, dir, "secret", "list", "--config", "hookgate.toml"); r.code != 0 || !strings.Contains(r.stdout, "no enrolled projects") {
		t.Errorf("list after remove: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestEnrollErrors(t *testing.T) {
	fake := enrolltest.New(t)
	fake.AddProject(1, "g/p")
	var elsewhere atomic.Int32 // requests that reached the host a redirect points to
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	moved := httptest.NewServer(http.RedirectHandler(other.URL+"/api/v4/projects/1", http.StatusFound))
	t.Cleanup(moved.Close)
	dir := writeTree(t, t.TempDir(), map[string]string{
		"nopublic.toml": "[[gitlab]]\nurl = \"" + fake.URL + "\"\ntoken = \"t\"\n",
		"moved.toml":    "[server]\npublic_url = \"https://h.example.com\"\n[[gitlab]]\nurl = \"" + moved.URL + "\"\ntoken = \"" + enrolltest.Token + "\"\n",
		"two.toml": "[server]\npublic_url = \"https://h.example.com\"\n" +
			"[[gitlab]]\nurl = \"https://a.example.com\"\ntoken = \"t\"\n[[gitlab]]\nurl = \"https://b.example.com\"\ntoken = \"t\"\n",
		"ok.toml": "[server]\npublic_url = \"https://h.example.com\"\n[[gitlab]]\nurl = \"" + fake.URL + "\"\ntoken = \"" + enrolltest.Token + "\"\n",
	})
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"enroll", "--config", "ok.toml"}, 2, "usage: hookgate enroll"},
		{[]string{"enroll", "--config", "ok.toml", "--events", "note,bogus", "g/p"}, 2, "unknown event bogus"},
		{[]string{"enroll", "--config", "nopublic.toml", "g/p"}, 1, "public_url"},
		{[]string{"enroll", "--config", "two.toml", "g/p"}, 1, "choose one with --gitlab"},
		{[]string{"enroll", "--config", "two.toml", "--gitlab", "https://c.example.com", "g/p"}, 1, "no [[gitlab]] block has url https://c.example.com"},
		{[]string{"enroll", "g/p"}, 1, "public_url"},
		{[]string{"enroll", "--config", "ok.toml", "no/such"}, 1, "404"},
		{[]string{"enroll", "--config", "moved.toml", "g/p"}, 1, "GitLab answered 302 Found (redirects are not followed): Location " + other.URL + "/api/v4/projects/1"},
		{[]string{"secret", "rotate", "--config", "ok.toml", "g/p"}, 1, "not enrolled"},
		{[]string{"secret", "list", "--config", "ok.toml", "g/p"}, 1, "not enrolled"},
		{[]string{"secret", "remove", "--config", "ok.toml", "g/p"}, 1, "not enrolled"},
		{[]string{"secret"}, 2, "usage:"},
		{[]string{"secret", "show"}, 2, `unknown command "show"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := hookgate(t, dir, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("a redirect was followed: the other host received %d requests", n)
	}
}
