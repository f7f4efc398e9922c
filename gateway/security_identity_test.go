package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/enroll"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Regression tests for the security review's breaks 1, 2 and 5: the bot
// acts only for the project its secret authenticated, on the instance it
// was authenticated for, and a signed delivery runs once.

// teamAProject is the project a narrow secret is given for; its id is 7.
const (
	teamAPath   = "team-a/app"
	teamALookup = "/api/v4/projects/team-a/app"
	teamANotes  = "/api/v4/projects/7/merge_requests/1/notes"
	otherNotes  = "/api/v4/projects/202/merge_requests/1/notes"
)

const commentRules = `
[[rule]]
name = "reply"
on = ["note"]
plugin = "reply"
`

const replyCommentPlugin = `
function handle(event, params)
  gitlab.comment("seen " .. event.project.path)
end
`

// teamANote is a note on team-a/app's MR !1, from the instance at url,
// with the project id the sender chose.
func teamANote(t *testing.T, url string, projectID int) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	p := m["project"].(map[string]any)
	p["id"], p["path_with_namespace"], p["web_url"] = projectID, teamAPath, url+"/"+teamAPath
	m["project_id"] = projectID
	m["object_attributes"].(map[string]any)["project_id"] = projectID
	if projectID == 0 { // a body that names no id at all
		delete(p, "id")
		delete(m, "project_id")
		delete(m["object_attributes"].(map[string]any), "project_id")
	}
	b, _ := json.Marshal(m)
	return b
}

// Break 1: a secret for team-a/app only, a delivery signed with it but
// naming project id 202: today the comment went to project 202. Now the
// workers check the id with GitLab and refuse the delivery; once the id is
// known, the receiver refuses the next one at the door (401).
func TestNarrowSecretCannotSteerTheBotElsewhere(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("GET", teamALookup, always(200, `{"id":7,"path_with_namespace":"team-a/app"}`))
	f.route("POST", teamANotes, always(201, `{"id":1,"body":"ok"}`))
	f.route("POST", otherNotes, always(201, `{"id":1,"body":"ok"}`))
	cfg := fmt.Sprintf(`
[queue]
path = "data/hookgate.db"
[[secret]]
project = %q
token = "tok-team-a"
[admin]
token = "admin-tok"
[[gitlab]]
url = %q
token = "bot-token"
`, teamAPath, f.URL)
	g := startGateway(t, cfg, map[string]string{"rules/r.toml": commentRules, "plugins/reply.lua": replyCommentPlugin})
	post := func(body []byte) hookResp {
		return g.postRaw(t, body, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-team-a"})
	}

	// The id is not known yet: accepted, then refused by the workers.
	r := post(teamANote(t, f.URL, 202))
	if r.Status != 202 {
		t.Fatalf("first forged delivery: %d %v", r.Status, r.Body)
	}
	d := g.waitFinal(t, r.Body["id"].(string))
	if d.Status != queue.StatusFailed || !strings.Contains(d.Error, "project id 202") || len(d.Outcomes) != 0 {
		t.Fatalf("forged delivery: status %s, error %q, outcomes %+v; want failed without running any rule", d.Status, d.Error, d.Outcomes)
	}
	// Known now: the receiver refuses the same forgery at once.
	if r := post(teamANote(t, f.URL, 202)); r.Status != 401 || !strings.Contains(fmt.Sprint(r.Body["error"]), "project id 202") {
		t.Fatalf("second forged delivery: %d %v, want 401 naming the id", r.Status, r.Body)
	}
	// The real project still works, and is acted on by its own id.
	r = post(teamANote(t, f.URL, 7))
	if r.Status != 202 {
		t.Fatalf("genuine delivery: %d %v", r.Status, r.Body)
	}
	if d := g.waitFinal(t, r.Body["id"].(string)); d.Status != queue.StatusDone {
		t.Fatalf("genuine delivery: %s %q", d.Status, d.Error)
	}
	// A body naming no id acts on GitLab's id for the path.
	noID := teamANote(t, f.URL, 0)
	if r := post(noID); r.Status != 202 {
		t.Fatalf("delivery without an id: %d %v", r.Status, r.Body)
	} else if d := g.waitFinal(t, r.Body["id"].(string)); d.Status != queue.StatusDone {
		t.Fatalf("delivery without an id: %s %q", d.Status, d.Error)
	}

	if n := f.count("POST", otherNotes); n != 0 {
		t.Fatalf("the bot commented on project 202 %d time(s)", n)
	}
	if n := f.count("POST", teamANotes); n != 2 {
		t.Fatalf("comments on team-a/app = %d, want 2", n)
	}
	if n := f.count("GET", teamALookup); n != 1 {
		t.Fatalf("project looked up %d times, want once (cached)", n)
	}
	m := scrapeMetrics(t, g.URL)
	if got := m.get("hookgate_identity_refused_total", "reason", "project_id"); got != 2 {
		t.Fatalf("identity refusals (project_id) = %v, want 2 (one by the workers, one at the door)\n%s", got, m.series("hookgate_identity_refused_total"))
	}

	// A web_url on another host is refused at the door.
	onOther := teamANote(t, "https://evil.example", 7)
	if r := post(onOther); r.Status != 401 || !strings.Contains(fmt.Sprint(r.Body["error"]), "web_url") {
		t.Fatalf("web_url on another host: %d %v, want 401", r.Status, r.Body)
	}
}

// Break 1, enrolled: the id recorded at enrolment refuses a forged id at
// the door, before any lookup.
func TestEnrolledProjectIDRefusesForgedID(t *testing.T) {
	f := newFakeGitLab(t)
	g := startGateway(t, fmt.Sprintf(`
[queue]
path = "data/hookgate.db"
[admin]
token = "admin-tok"
[[gitlab]]
url = %q
token = "bot-token"
`, f.URL), map[string]string{"rules/r.toml": commentRules, "plugins/reply.lua": replyCommentPlugin})
	f.route("GET", teamALookup, always(200, `{"id":7,"path_with_namespace":"team-a/app"}`))
	f.route("POST", teamANotes, always(201, `{"id":1,"body":"ok"}`))
	token := enrollDirectly(t, g, f.URL, teamAPath, 7)
	h := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": token}
	// Once the gateway has loaded the enrolment, the genuine id is taken...
	waitFor(t, 10*time.Second, func() bool { return g.postRaw(t, teamANote(t, f.URL, 7), h).Status == 202 })
	// ...and a forged one refused at the door, though nothing was looked up.
	if r := g.postRaw(t, teamANote(t, f.URL, 202), h); r.Status != 401 || !strings.Contains(fmt.Sprint(r.Body["error"]), "project id 202") {
		t.Fatalf("forged id with the enrolled token: %d %v, want 401", r.Status, r.Body)
	}
	if n := f.count("POST", otherNotes); n != 0 {
		t.Fatalf("the bot commented on project 202")
	}
}

// enrollDirectly records an enrolled secret for project (id) on instance
// in the gateway's enrolled-secrets file, as `hookgate enroll` does, and
// returns the token.
func enrollDirectly(t *testing.T, g *testGateway, instance, project string, id int64) string {
	t.Helper()
	file := filepath.Join(g.Dir, "data", "enrolled-secrets.json")
	token := "enrolled-token-" + strings.ReplaceAll(project, "/", "-")
	now := time.Now()
	err := enroll.Update(file, now, func(f *enroll.File) error {
		sum := auth.TokenHash(f.Salt, token)
		f.Projects = append(f.Projects, &enroll.Project{Project: project, ProjectID: id, Instance: instance,
			EnrolledAt: now, Secrets: []enroll.Secret{{ID: "s1", Hash: sum[:], CreatedAt: now}}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Break 2: for an enrolled project, the [[secret]] tokens were refused
// without X-Gitlab-Instance but accepted with the instance's /api/v4, a
// bogus instance or a trailing "/". Every spelling now resolves to the
// configured instance or is refused.
func TestEnrolledProjectNotReopenedByInstanceHeader(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("GET", teamALookup, always(200, `{"id":7,"path_with_namespace":"team-a/app"}`))
	f.route("POST", teamANotes, always(201, `{"id":1,"body":"ok"}`))
	g := startGateway(t, fmt.Sprintf(`
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok-star"
[admin]
token = "admin-tok"
[[gitlab]]
url = %q
token = "bot-token"
`, f.URL), map[string]string{"rules/r.toml": commentRules, "plugins/reply.lua": replyCommentPlugin})
	token := enrollDirectly(t, g, f.URL, teamAPath, 7)
	body := teamANote(t, f.URL, 7)
	post := func(tok, instance string) int {
		h := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": tok}
		if instance != "" {
			h["X-Gitlab-Instance"] = instance
		}
		return g.postRaw(t, body, h).Status
	}
	waitFor(t, 10*time.Second, func() bool { return post(token, "") == 202 })
	for _, c := range []struct {
		name, token, instance string
		want                  int
	}{
		{"star token, no header", "tok-star", "", 401},
		{"star token, /api/v4", "tok-star", f.URL + "/api/v4", 401},
		{"star token, trailing slash", "tok-star", f.URL + "/", 401},
		{"star token, upper case", "tok-star", strings.ToUpper(f.URL), 401},
		{"star token, bogus instance", "tok-star", "https://bogus.invalid", 401},
		{"enrolled token, bogus instance", token, "https://bogus.invalid", 401},
		{"enrolled token, /api/v4", token, f.URL + "/api/v4/", 202},
		{"enrolled token, trailing slash", token, f.URL + "/", 202},
	} {
		if got := post(c.token, c.instance); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	m := scrapeMetrics(t, g.URL)
	if got := m.get("hookgate_identity_refused_total", "reason", "instance"); got != 2 {
		t.Errorf("identity refusals (instance) = %v, want 2 (the bogus instances)", got)
	}
}

// Break 5: a captured signed delivery resent with a fresh Idempotency-Key
// was accepted and run again. The signature covers webhook-id, and that is
// the key of a signed delivery.
func TestSignedDeliveryCannotBeReplayedUnderANewKey(t *testing.T) {
	g := startGateway(t, receiverConfig, nil)
	body := withProject(t, "signed/repo")
	now := time.Now()
	h := map[string]string{
		"X-Gitlab-Event":    "Note Hook",
		"webhook-id":        "msg_replay",
		"webhook-timestamp": fmt.Sprint(now.Unix()),
		"webhook-signature": auth.Sign(signingKey, "msg_replay", now, body),
		"Idempotency-Key":   "msg_replay",
	}
	first := g.post(t, body, h)
	if first.Status != 202 {
		t.Fatalf("signed delivery: %d %v", first.Status, first.Body)
	}
	for i, key := range []string{"fresh-key-1", "fresh-key-2", ""} {
		h["Idempotency-Key"] = key
		r := g.post(t, body, h)
		if r.Status != 200 || r.Body["status"] != "duplicate" || r.Body["id"] != first.Body["id"] {
			t.Fatalf("replay %d with Idempotency-Key %q: %d %v, want 200 duplicate of %v", i, key, r.Status, r.Body, first.Body["id"])
		}
	}
	var list struct{ Deliveries []queue.Delivery }
	if code := g.admin(t, "GET", "/deliveries?limit=10", "admin-tok", &list); code != http.StatusOK || len(list.Deliveries) != 1 {
		t.Fatalf("stored %d deliveries, want 1", len(list.Deliveries))
	}
}
