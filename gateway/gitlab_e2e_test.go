package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// apiRequest is one request the fake GitLab received.
type apiRequest struct {
	Method    string
	Path      string // URL path, /api/v4 included
	Body      any    // decoded JSON body; nil when there was none
	Token     string // PRIVATE-TOKEN
	EventUUID string // X-Gitlab-Event-UUID
	At        time.Time
}

// apiAnswer is what the fake GitLab answers to one request.
type apiAnswer struct {
	Status int
	Body   string
	Header map[string]string
}

// fakeGitLab stands in for GitLab's REST API: it answers only the routes a
// test registers, records every request, and fails the test on any other.
type fakeGitLab struct {
	t   *testing.T
	URL string

	mu     sync.Mutex
	routes map[string]func(n int) apiAnswer // "METHOD /api/v4/..." -> answer to the n-th call (from 1)
	counts map[string]int
	reqs   []apiRequest
}

func newFakeGitLab(t *testing.T) *fakeGitLab {
	t.Helper()
	f := &fakeGitLab{t: t, routes: map[string]func(int) apiAnswer{}, counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	// The workers look up the id of each delivery's project path once
	// (gitlab.Clients.Bind): the fixtures' project is 5.
	f.route("GET", fixtureProjectLookup, always(200, `{"id":5,"path_with_namespace":"gitlab-org/gitlab-test"}`))
	return f
}

// fixtureProjectLookup is the lookup of the fixtures' project by its path
// (GET /projects/gitlab-org%2Fgitlab-test, as the server sees it decoded).
const fixtureProjectLookup = "/api/v4/projects/gitlab-org/gitlab-test"

// route serves method path with answer, called with the 1-based number of
// the request to that route.
func (f *fakeGitLab) route(method, path string, answer func(n int) apiAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = answer
}

// always is an answer that never changes.
func always(status int, body string) func(int) apiAnswer {
	return func(int) apiAnswer { return apiAnswer{Status: status, Body: body} }
}

func (f *fakeGitLab) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req := apiRequest{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("PRIVATE-TOKEN"),
		EventUUID: r.Header.Get("X-Gitlab-Event-UUID"), At: time.Now()}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req.Body); err != nil {
			f.t.Errorf("fake GitLab: %s %s: body is not JSON: %q", r.Method, r.URL.Path, raw)
		}
	}
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	answer, ok := f.routes[key]
	f.counts[key]++
	n := f.counts[key]
	f.mu.Unlock()
	if !ok {
		f.t.Errorf("fake GitLab: unexpected request %s", key)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"404 Not Found"}`)
		return
	}
	a := answer(n)
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.Status)
	io.WriteString(w, a.Body)
}

// requests returns a copy of the requests received so far, in order,
// without the workers' lookups of the fixtures' project (at most one per
// gateway: they are cached), which fails the test.
func (f *fakeGitLab) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apiRequest
	lookups := 0
	for _, r := range f.reqs {
		if r.Method == "GET" && r.Path == fixtureProjectLookup {
			lookups++
			continue
		}
		out = append(out, r)
	}
	if lookups > 1 {
		f.t.Errorf("fake GitLab: the project was looked up %d times; the id is cached", lookups)
	}
	return out
}

// all returns a copy of every request received so far, lookups included.
func (f *fakeGitLab) all() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.reqs...)
}

// count is how many requests reached method path.
func (f *fakeGitLab) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[method+" "+path]
}

// gitlabConfig is a gateway configuration with one [[gitlab]] block
// pointing at url; queueExtra goes into [queue], tail at the end.
func gitlabConfig(url, queueExtra, tail string) string {
	return fmt.Sprintf(`
[queue]
path = "data/hookgate.db"
%s

[[secret]]
project = "*"
token = "tok-a"

[admin]
token = "admin-tok"

[[gitlab]]
url = %q
token = "bot-token"
bot_username = "hookgate-bot"
%s
`, queueExtra, url, tail)
}

// exampleFiles reads an example's rules and plugins into a startGateway
// files map.
func exampleFiles(t *testing.T, name string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, f := range []string{"rules/" + name + ".toml", "plugins/" + name + ".lua"} {
		b, err := os.ReadFile("../examples/" + name + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	return files
}

// noteEvent is the MR note fixture with its text, author id and username
// replaced.
func noteEvent(t *testing.T, note string, userID int, username string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	attrs := m["object_attributes"].(map[string]any)
	attrs["note"] = note
	attrs["author_id"] = userID
	m["user"].(map[string]any)["username"] = username
	b, _ := json.Marshal(m)
	return b
}

// deliver posts a Note Hook with the event UUID and returns the delivery
// once it is final, with its raw JSON as the admin API served it.
func (g *testGateway) deliver(t *testing.T, body []byte, eventUUID string) (queue.Delivery, string) {
	t.Helper()
	r := g.post(t, body, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "X-Gitlab-Event-UUID": eventUUID})
	if r.Status != 202 || r.Body["status"] != "queued" {
		t.Fatalf("post: %d %v", r.Status, r.Body)
	}
	id := r.Body["id"].(string)
	g.waitFinal(t, id)
	var raw json.RawMessage
	if code := g.admin(t, "GET", "/deliveries/"+id, "admin-tok", &raw); code != 200 {
		t.Fatalf("get delivery: %d", code)
	}
	var d queue.Delivery
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d, string(raw)
}

const (
	mrNotes   = "/api/v4/projects/5/merge_requests/1/notes"
	noteAward = "/api/v4/projects/5/merge_requests/1/notes/1244/award_emoji"
	headSHA   = "562e173be03b8ff2efb05345d12df18815438a4b"
	statuses  = "/api/v4/projects/5/statuses/" + headSHA
)

// packitGitLab serves what the packit example calls, with user 1 at the
// given access level.
func packitGitLab(t *testing.T, level int) *fakeGitLab {
	f := newFakeGitLab(t)
	f.route("GET", "/api/v4/projects/5/members/all/1", always(200, fmt.Sprintf(`{"id":1,"username":"root","access_level":%d}`, level)))
	f.route("POST", noteAward, always(201, `{"id":31,"name":"eyes"}`))
	f.route("POST", statuses, func(n int) apiAnswer {
		return apiAnswer{Status: 201, Body: fmt.Sprintf(`{"id":%d,"sha":"%s","status":"pending"}`, 40+n, headSHA)}
	})
	f.route("POST", mrNotes, always(201, `{"id":9001,"body":"ok","noteable_type":"MergeRequest"}`))
	return f
}

func TestPackitEndToEnd(t *testing.T) {
	f := packitGitLab(t, 30)
	g := startGateway(t, gitlabConfig(f.URL, "", ""), exampleFiles(t, "packit"))
	d, raw := g.deliver(t, noteEvent(t, "Thanks!\n/packit build\n", 1, "root"), "evt-uuid-1")

	type call struct {
		Method, Path string
		Body         any
	}
	status := func(chroot string) call {
		return call{"POST", statuses, map[string]any{
			"state": "pending", "name": "packit/build/" + chroot, "description": "Packit build requested by @root"}}
	}
	want := []call{
		{"GET", "/api/v4/projects/5/members/all/1", nil},
		{"POST", noteAward, map[string]any{"name": "eyes"}},
		status("fedora-rawhide-x86_64"),
		status("fedora-41-x86_64"),
		{"POST", mrNotes, map[string]any{"body": "Packit build queued for 562e173b in 2 chroot(s), requested by @root."}},
	}
	// First the project's id for its path (once; then cached), then the
	// rule's access check and the plugin's calls.
	want = append([]call{{"GET", fixtureProjectLookup, nil}}, want...)
	var got []call
	for _, r := range f.all() {
		got = append(got, call{r.Method, r.Path, r.Body})
		if r.Token != "bot-token" {
			t.Errorf("%s %s: PRIVATE-TOKEN = %q, want bot-token", r.Method, r.Path, r.Token)
		}
		if r.EventUUID != "evt-uuid-1" {
			t.Errorf("%s %s: X-Gitlab-Event-UUID = %q, want evt-uuid-1", r.Method, r.Path, r.EventUUID)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GitLab received:\n%s\nwant:\n%s", dump(got), dump(want))
	}

	if d.Status != queue.StatusDone || d.Attempts != 1 {
		t.Fatalf("delivery status %s after %d attempts, want done after 1 (error %q)", d.Status, d.Attempts, d.Error)
	}
	o := outcomeOf(t, d, "packit-build")
	if o.Status != "ok" || o.Attempts != 1 {
		t.Fatalf("packit-build outcome = %+v", o)
	}
	// The outcome lists the plugin's calls (the access check belongs to the
	// rule, not the plugin) with GitLab's answers.
	if len(o.Calls) != len(want)-2 {
		t.Fatalf("outcome calls = %s, want the %d writes", dump(o.Calls), len(want)-2)
	}
	for i, c := range o.Calls {
		w := want[i+2]
		var body any
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("call %d body: %v", i, err)
		}
		if c.Method != w.Method || "/api/v4"+c.Path != w.Path || !reflect.DeepEqual(body, w.Body) ||
			c.Status != 201 || c.DryRun || c.Error != "" || c.Duration <= 0 {
			t.Errorf("outcome call %d = %+v, want %s %s %v answered 201", i, c, w.Method, w.Path, w.Body)
		}
	}
	if !strings.Contains(string(o.Result), `"job":"build"`) || !strings.Contains(string(o.Result), headSHA) {
		t.Errorf("result = %s", o.Result)
	}
	if strings.Contains(raw, "bot-token") {
		t.Fatalf("the delivery log contains the token: %s", raw)
	}
}

func TestPackitRefusesReporter(t *testing.T) {
	f := packitGitLab(t, 20)
	g := startGateway(t, gitlabConfig(f.URL, "", ""), exampleFiles(t, "packit"))
	d, _ := g.deliver(t, noteEvent(t, "/packit build", 1, "root"), "evt-uuid-2")

	if d.Status != queue.StatusDone {
		t.Fatalf("delivery status = %s (%s), want done: nothing to run", d.Status, d.Error)
	}
	o := outcomeOf(t, d, "packit-build")
	if o.Status != "skipped" || !strings.Contains(o.Error, "access denied") || !strings.Contains(o.Error, "reporter (20)") {
		t.Fatalf("outcome = %+v, want skipped with an access-denied reason", o)
	}
	if len(o.Calls) != 0 {
		t.Fatalf("skipped rule recorded calls: %+v", o.Calls)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].EventUUID != "evt-uuid-2" {
		t.Fatalf("GitLab received %s, want only the access check", dump(reqs))
	}
}

func TestBotNotesTriggerNothing(t *testing.T) {
	f := packitGitLab(t, 50)
	g := startGateway(t, gitlabConfig(f.URL, "", ""), exampleFiles(t, "packit"))
	d, _ := g.deliver(t, noteEvent(t, "/packit build\n/packit help", 1, "hookgate-bot"), "evt-uuid-3")

	if d.Status != queue.StatusDone {
		t.Fatalf("delivery status = %s (%s)", d.Status, d.Error)
	}
	for _, o := range d.Outcomes {
		if o.Status != "skipped" || !strings.Contains(o.Error, "bot user") || len(o.Calls) != 0 {
			t.Fatalf("outcome = %+v, want skipped for the bot user", o)
		}
	}
	if len(d.Outcomes) != 2 {
		t.Fatalf("outcomes = %+v, want packit-build and packit-help skipped", d.Outcomes)
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Fatalf("a bot note caused API calls besides the project's lookup: %s", dump(reqs))
	}
}

// outcomeOf returns the delivery's outcome for rule.
func outcomeOf(t *testing.T, d queue.Delivery, rule string) queue.Outcome {
	t.Helper()
	for _, o := range d.Outcomes {
		if o.Rule == rule {
			return o
		}
	}
	t.Fatalf("no outcome for %s in %s", rule, dump(d.Outcomes))
	return queue.Outcome{}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
