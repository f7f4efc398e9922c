package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
)

// call sends method base+path with the Authorization header auth (none
// when empty) and returns the status and body.
func call(t testing.TB, method, url, auth string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return resp.StatusCode, b
}

// adminRules: every note runs "notes"; "/boom" also runs "boom" (fails);
// "/later" runs "later" (retries in an hour); pushes run "pushes".
var adminRules = map[string]string{
	"rules/r.toml": `
[[rule]]
name = "notes"
on = ["note"]
plugin = "record"

[[rule]]
name = "boom"
on = ["note"]
when = 'note contains "/boom"'
plugin = "boom"

[[rule]]
name = "later"
on = ["note"]
when = 'note contains "/later"'
plugin = "later"

[[rule]]
name = "pushes"
on = ["push"]
plugin = "record"
`,
	"plugins/record.lua": recordPlugin,
	"plugins/boom.lua":   "function handle(event, params)\n  log.warn(\"about to fail\")\n  gitlab.comment(\"failing\")\n  error(\"boom\")\nend\n",
	"plugins/later.lua":  "function handle(event, params)\n  retry(\"not now\")\nend\n",
}

// adminConfig is starConfig with retries an hour apart.
var adminConfig = strings.Replace(starConfig, "[queue]\n", "[queue]\nretry_base = \"1h\"\nretry_max = \"2h\"\n", 1)

// postEvent posts body as event and returns the delivery id.
func (g *testGateway) postEvent(t *testing.T, event string, body []byte) string {
	t.Helper()
	r := g.post(t, body, map[string]string{"X-Gitlab-Event": event, "X-Gitlab-Token": "tok-a"})
	if r.Status != 202 || r.Body["status"] != "queued" {
		t.Fatalf("post %s: %d %v", event, r.Status, r.Body)
	}
	return r.Body["id"].(string)
}

// noteIn is the note fixture with its text and project path replaced.
func noteIn(t *testing.T, project, note string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(withNote(t, note), &m); err != nil {
		t.Fatal(err)
	}
	m["project"].(map[string]any)["path_with_namespace"] = project
	b, _ := json.Marshal(m)
	return b
}

func TestAdminAuth(t *testing.T) {
	g := startGateway(t, adminConfig, adminRules)
	id := g.postEvent(t, "Note Hook", withNote(t, "hi"))
	g.waitFinal(t, id)

	endpoints := []struct{ method, path string }{
		{"GET", "/deliveries"},
		{"GET", "/deliveries/" + id},
		{"POST", "/deliveries/" + id + "/replay"},
		{"POST", "/reload"},
		{"GET", "/rules"},
		{"GET", "/backup"},
	}
	auths := []struct {
		name, header string
		want         int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"token prefix", "Bearer admin-to", 401},
		{"token without Bearer", "admin-tok", 401},
		{"other scheme", "Basic YWRtaW4tdG9rOg==", 401},
	}
	for _, e := range endpoints {
		for _, a := range auths {
			t.Run(e.method+" "+e.path+" "+a.name, func(t *testing.T) {
				code, body := call(t, e.method, g.URL+"/api/v1"+e.path, a.header)
				if code != a.want {
					t.Fatalf("status %d, want %d (%s)", code, a.want, body)
				}
				if !strings.Contains(string(body), `"error"`) || strings.Contains(string(body), "admin-tok") {
					t.Fatalf("body %s: want an error that does not echo the token", body)
				}
			})
		}
	}
	// The right token opens every read endpoint.
	for _, path := range []string{"/deliveries", "/deliveries/" + id, "/rules", "/backup"} {
		if code, body := call(t, "GET", g.URL+"/api/v1"+path, "Bearer admin-tok"); code != 200 {
			t.Fatalf("GET %s with the token: %d %s", path, code, body)
		}
	}

	// Without [admin] token the API does not exist at all.
	off := startGateway(t, strings.Replace(starConfig, "[admin]\ntoken = \"admin-tok\"\n", "", 1), nil)
	for _, e := range endpoints {
		if code, _ := call(t, e.method, off.URL+"/api/v1"+e.path, "Bearer admin-tok"); code != 404 {
			t.Fatalf("API off: %s %s = %d, want 404", e.method, e.path, code)
		}
	}
}

// listPage is GET /api/v1/deliveries.
type listPage struct {
	Deliveries []queue.Delivery `json:"deliveries"`
	Next       string           `json:"next"`
}

func (g *testGateway) list(t *testing.T, query string) listPage {
	t.Helper()
	var p listPage
	if code := g.admin(t, "GET", "/deliveries"+query, "admin-tok", &p); code != 200 {
		t.Fatalf("GET /deliveries%s: %d", query, code)
	}
	return p
}

func (p listPage) ids() []string {
	out := []string{}
	for _, d := range p.Deliveries {
		out = append(out, d.ID)
	}
	return out
}

func TestAdminListFiltersAndPages(t *testing.T) {
	g := startGateway(t, adminConfig, adminRules)
	// Oldest first; ids are time-ordered, the list is newest first.
	failed := g.postEvent(t, "Note Hook", noteIn(t, "gitlab-org/gitlab-test", "/boom"))
	g.waitFinal(t, failed)
	noteA := g.postEvent(t, "Note Hook", noteIn(t, "gitlab-org/gitlab-test", "hello"))
	g.waitFinal(t, noteA)
	noteB := g.postEvent(t, "Note Hook", noteIn(t, "other/repo", "hello"))
	g.waitFinal(t, noteB)
	push := g.postEvent(t, "Push Hook", fixture(t, "push.json"))
	g.waitFinal(t, push)

	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{push, noteB, noteA, failed}},
		{"?status=failed", []string{failed}},
		{"?status=done", []string{push, noteB, noteA}},
		{"?status=dead", []string{}},
		{"?kind=push", []string{push}},
		{"?kind=note", []string{noteB, noteA, failed}},
		{"?project=other/repo", []string{noteB}},
		{"?project=mike/diaspora", []string{push}},
		{"?rule=boom", []string{failed}},
		{"?rule=notes", []string{noteB, noteA, failed}},
		{"?kind=note&status=done&project=gitlab-org/gitlab-test", []string{noteA}},
		{"?before=" + noteA, []string{failed}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			p := g.list(t, tc.query)
			if got := strings.Join(p.ids(), ","); got != strings.Join(tc.want, ",") {
				t.Fatalf("ids %s, want %s", got, strings.Join(tc.want, ","))
			}
			if p.Next != "" {
				t.Fatalf("next = %q without a full page", p.Next)
			}
		})
	}

	// Paging: two at a time, following next, covers all four once.
	var seen []string
	query := "?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("paging does not end: %v", seen)
		}
		p := g.list(t, query)
		seen = append(seen, p.ids()...)
		if p.Next == "" {
			break
		}
		if p.Next != p.Deliveries[len(p.Deliveries)-1].ID {
			t.Fatalf("next %q is not the page's last id", p.Next)
		}
		query = "?limit=2&before=" + p.Next
	}
	if got := strings.Join(seen, ","); got != strings.Join([]string{push, noteB, noteA, failed}, ",") {
		t.Fatalf("paged through %s", got)
	}
	// A listed delivery carries its envelope and outcomes.
	d := g.list(t, "?status=failed").Deliveries[0]
	if d.Envelope.Kind != "note" || len(d.Outcomes) != 2 {
		t.Fatalf("listed delivery: kind %q, %d outcomes", d.Envelope.Kind, len(d.Outcomes))
	}
}

func TestAdminShowsADelivery(t *testing.T) {
	g := startGateway(t, adminConfig, adminRules)
	r := g.post(t, withNote(t, "/boom"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a",
		"X-Gitlab-Event-UUID": "evt-show", "Idempotency-Key": "key-show"})
	id := r.Body["id"].(string)
	g.waitFinal(t, id)

	var d queue.Delivery
	if code := g.admin(t, "GET", "/deliveries/"+id, "admin-tok", &d); code != 200 {
		t.Fatalf("show: %d", code)
	}
	if d.ID != id || d.Key != "key-show" || d.Status != queue.StatusFailed || d.Attempts != 1 ||
		d.Headers["X-Gitlab-Event-UUID"] != "evt-show" || d.Envelope.Note != "/boom" || d.Envelope.Project.Path != "gitlab-org/gitlab-test" {
		t.Fatalf("delivery = %+v", d)
	}
	if _, ok := d.Headers["X-Gitlab-Token"]; ok {
		t.Fatal("the webhook token is shown")
	}
	if len(d.Outcomes) != 2 {
		t.Fatalf("outcomes = %+v", d.Outcomes)
	}
	ok, boom := d.Outcomes[0], d.Outcomes[1]
	if ok.Rule != "notes" || ok.Status != "ok" || len(ok.Logs) != 1 || ok.Logs[0].Message != "seen" || len(ok.Result) == 0 {
		t.Fatalf("notes outcome = %+v", ok)
	}
	if boom.Rule != "boom" || boom.Status != "error" || !strings.Contains(boom.Error, "boom") || boom.Attempts != 1 ||
		len(boom.Logs) != 1 || boom.Logs[0].Level != "warn" ||
		len(boom.Calls) != 1 || !boom.Calls[0].DryRun || boom.Calls[0].Method != "POST" || !strings.HasSuffix(boom.Calls[0].Path, "/notes") {
		t.Fatalf("boom outcome = %+v", boom)
	}

	if code, body := call(t, "GET", g.URL+"/api/v1/deliveries/no-such-id", "Bearer admin-tok"); code != 404 || !strings.Contains(string(body), "no such delivery") {
		t.Fatalf("unknown id: %d %s", code, body)
	}
}

func TestAdminReplay(t *testing.T) {
	g := startGateway(t, adminConfig, adminRules)
	id := g.postEvent(t, "Note Hook", withNote(t, "/boom"))
	first := g.waitFinal(t, id)
	started := func(d queue.Delivery, rule string) time.Time {
		t.Helper()
		for _, o := range d.Outcomes {
			if o.Rule == rule {
				return o.Started
			}
		}
		t.Fatalf("no outcome for %s in %+v", rule, d.Outcomes)
		return time.Time{}
	}
	replay := func(id, query string) (int, map[string]any) {
		var ans map[string]any
		code := g.admin(t, "POST", "/deliveries/"+id+"/replay"+query, "admin-tok", &ans)
		return code, ans
	}
	// waitReplayed waits until the delivery finished one more run.
	waitReplayed := func(before queue.Delivery) queue.Delivery {
		t.Helper()
		var d queue.Delivery
		waitFor(t, 10*time.Second, func() bool {
			d = queue.Delivery{}
			g.admin(t, "GET", "/deliveries/"+before.ID, "admin-tok", &d)
			return d.Status.Final() && d.Finished > before.Finished
		})
		return d
	}

	// One rule: only boom runs again; notes keeps its first outcome.
	if code, ans := replay(id, "?rule=boom"); code != 202 || ans["status"] != "queued" || ans["id"] != id {
		t.Fatalf("replay one rule: %d %v", code, ans)
	}
	second := waitReplayed(first)
	if second.Attempts != 2 || second.Status != queue.StatusFailed {
		t.Fatalf("after one-rule replay: %s, %d attempts", second.Status, second.Attempts)
	}
	if !started(second, "notes").Equal(started(first, "notes")) {
		t.Fatal("one-rule replay re-ran the rule that had succeeded")
	}
	if !started(second, "boom").After(started(first, "boom")) {
		t.Fatal("one-rule replay did not re-run boom")
	}

	// All rules: both run again.
	if code, _ := replay(id, ""); code != 202 {
		t.Fatalf("replay all: %d", code)
	}
	third := waitReplayed(second)
	if !started(third, "notes").After(started(second, "notes")) || !started(third, "boom").After(started(second, "boom")) {
		t.Fatalf("replay of all rules did not re-run both: %+v", third.Outcomes)
	}

	// Not final yet (waiting an hour for its retry): 409.
	waiting := g.postEvent(t, "Note Hook", withNote(t, "/later"))
	waitFor(t, 10*time.Second, func() bool {
		var d queue.Delivery
		g.admin(t, "GET", "/deliveries/"+waiting, "admin-tok", &d)
		return d.Finished == 1
	})
	if code, ans := replay(waiting, ""); code != 409 || !strings.Contains(fmt.Sprint(ans["error"]), "still queued") {
		t.Fatalf("replay of a queued delivery: %d %v, want 409", code, ans)
	}
	// Unknown: 404.
	if code, _ := replay("no-such-id", ""); code != 404 {
		t.Fatalf("replay of an unknown delivery: %d, want 404", code)
	}
}

func TestAdminRulesAndReload(t *testing.T) {
	g := startGateway(t, reloadConfig("watch = false"), map[string]string{
		"rules/r.toml":       noteRule("one", "/one"),
		"plugins/record.lua": recordPlugin,
	})
	v := g.rules(t)
	if v.names() != "one" || len(v.Plugins) != 1 || v.Plugins[0] != "record" || v.LastReloadErrors != nil {
		t.Fatalf("rules = %+v", v)
	}
	r := v.Rules[0]
	if r.Plugin != "record" || r.Line != 1 || !strings.HasSuffix(r.File, filepath.Join("rules", "r.toml")) || r.When != `note contains "/one"` {
		t.Fatalf("rule = %+v", r)
	}

	replaceFile(t, filepath.Join(g.Dir, "rules", "r.toml"), noteRule("two", "/two"))
	var ans map[string]any
	if code := g.admin(t, "POST", "/reload", "admin-tok", &ans); code != 200 || ans["status"] != "reloaded" {
		t.Fatalf("reload: %d %v", code, ans)
	}
	if v := g.rules(t); v.names() != "two" {
		t.Fatalf("after reload: %q", v.names())
	}
	replaceFile(t, filepath.Join(g.Dir, "rules", "r.toml"), brokenWhen)
	if code := g.admin(t, "POST", "/reload", "admin-tok", &ans); code != 422 || ans["status"] != "failed" {
		t.Fatalf("broken reload: %d %v", code, ans)
	}
	if v := g.rules(t); v.names() != "two" || len(v.LastReloadErrors) != 1 {
		t.Fatalf("after broken reload: %q %q", v.names(), v.LastReloadErrors)
	}
}

func TestAdminBackupIsAUsableStore(t *testing.T) {
	g := startGateway(t, adminConfig, adminRules)
	var ids []string
	for i := range 5 {
		id := g.postEvent(t, "Note Hook", withNote(t, fmt.Sprintf("note %d", i)))
		g.waitFinal(t, id)
		ids = append(ids, id)
	}
	req, _ := http.NewRequest("GET", g.URL+"/api/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer admin-tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("backup: %d %v", resp.StatusCode, err)
	}
	if resp.ContentLength != int64(len(body)) || len(body) < 4096 {
		t.Fatalf("backup: Content-Length %d, got %d bytes", resp.ContentLength, len(body))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "hookgate-") {
		t.Fatalf("Content-Disposition = %q", cd)
	}

	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := local.Open(path, local.Options{Policy: queue.Policy{SweepInterval: -1}})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer s.Close()
	for _, id := range ids {
		d, err := s.Get(t.Context(), id)
		if err != nil || d.Status != queue.StatusDone {
			t.Fatalf("backup: %s: %v %+v", id, err, d)
		}
	}
}

func TestAdminOnItsOwnListener(t *testing.T) {
	addr := freeAddr(t)
	g := startGateway(t, strings.Replace(adminConfig, "[admin]\n", fmt.Sprintf("[admin]\nlisten = %q\n", addr), 1), adminRules)
	adminURL := "http://" + addr
	id := g.postEvent(t, "Note Hook", withNote(t, "hi"))
	waitFor(t, 10*time.Second, func() bool {
		code, body := call(t, "GET", adminURL+"/api/v1/deliveries/"+id, "Bearer admin-tok")
		return code == 200 && strings.Contains(string(body), `"status":"done"`)
	})
	cases := []struct {
		name, method, url, auth string
		want                    int
	}{
		{"admin API on the admin address", "GET", adminURL + "/api/v1/deliveries", "Bearer admin-tok", 200},
		{"its auth", "GET", adminURL + "/api/v1/deliveries", "Bearer nope", 401},
		{"rules there", "GET", adminURL + "/api/v1/rules", "Bearer admin-tok", 200},
		{"metrics there too", "GET", adminURL + "/metrics", "", 200},
		{"no webhooks there", "POST", adminURL + "/hooks/gitlab", "", 404},
		{"no admin API on the receiver", "GET", g.URL + "/api/v1/deliveries", "Bearer admin-tok", 404},
		{"no replay on the receiver", "POST", g.URL + "/api/v1/deliveries/" + id + "/replay", "Bearer admin-tok", 404},
		{"metrics on the receiver", "GET", g.URL + "/metrics", "", 200},
		{"health on the receiver", "GET", g.URL + "/healthz", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := call(t, tc.method, tc.url, tc.auth); code != tc.want {
				t.Fatalf("%s %s: %d, want %d (%s)", tc.method, tc.url, code, tc.want, body)
			}
		})
	}
}
