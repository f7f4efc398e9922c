package gateway_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// retryQueue makes retries quick: 10ms, 20ms, 40ms, 50ms (with jitter).
const retryQueue = `retry_base = "10ms"
retry_max = "50ms"
max_attempts = 5`

const replyPlugin = `
function handle(event, params)
  return { note = gitlab.comment("Build queued for " .. event.sha) }
end
`

const reactPlugin = `
function handle(event, params)
  gitlab.react("eyes")
  return { reacted = true }
end
`

var replyRules = map[string]string{
	"rules/r.toml":      "[[rule]]\nname = \"reply\"\non = [\"note\"]\nplugin = \"reply\"\n",
	"plugins/reply.lua": replyPlugin,
}

// sequence answers the n-th request with answers[n-1], and the last one
// from then on.
func sequence(answers ...apiAnswer) func(int) apiAnswer {
	return func(n int) apiAnswer { return answers[min(n, len(answers))-1] }
}

var (
	created  = apiAnswer{Status: 201, Body: `{"id":9001,"body":"ok"}`}
	failed   = apiAnswer{Status: 500, Body: `{"message":"500 Internal Server Error"}`}
	notFound = apiAnswer{Status: 404, Body: `{"message":"404 Project Not Found"}`}
)

func TestRetryTransientThenSuccess(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("POST", mrNotes, sequence(failed, failed, created))
	g := startGateway(t, gitlabConfig(f.URL, retryQueue, ""), replyRules)
	d, _ := g.deliver(t, withNote(t, "hello"), "evt-r1")

	if d.Status != queue.StatusDone || d.Attempts != 3 {
		t.Fatalf("delivery %s after %d attempts (%s), want done after 3", d.Status, d.Attempts, d.Error)
	}
	o := outcomeOf(t, d, "reply")
	if o.Status != "ok" || o.Attempts != 3 || string(o.Result) != `{"note":9001}` {
		t.Fatalf("outcome = %+v, want ok after 3 attempts with the note id", o)
	}
	if n := f.count("POST", mrNotes); n != 3 {
		t.Fatalf("note POSTs = %d, want 3 (two 500s, one 201): exactly one note created", n)
	}
	if len(o.Calls) != 1 || o.Calls[0].Status != 201 {
		t.Fatalf("last attempt's calls = %+v", o.Calls)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("POST", mrNotes, sequence(apiAnswer{Status: 429, Body: `{"message":"Too Many Requests"}`,
		Header: map[string]string{"Retry-After": "1"}}, created))
	g := startGateway(t, gitlabConfig(f.URL, retryQueue, ""), replyRules)
	d, _ := g.deliver(t, withNote(t, "hello"), "evt-r2")

	if d.Status != queue.StatusDone || d.Attempts != 2 {
		t.Fatalf("delivery %s after %d attempts (%s), want done after 2", d.Status, d.Attempts, d.Error)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %s", dump(reqs))
	}
	// The backoff alone would be 10ms; Retry-After asks for a second.
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 990*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("second attempt came %s after the 429, want about 1s", gap)
	}
}

func TestRetryNotFoundIsFinal(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("POST", mrNotes, always(notFound.Status, notFound.Body))
	g := startGateway(t, gitlabConfig(f.URL, retryQueue, ""), replyRules)
	d, _ := g.deliver(t, withNote(t, "hello"), "evt-r3")

	if d.Status != queue.StatusFailed || d.Attempts != 1 {
		t.Fatalf("delivery %s after %d attempts, want failed after 1", d.Status, d.Attempts)
	}
	o := outcomeOf(t, d, "reply")
	if o.Status != "error" || !strings.Contains(o.Error, "404 Not Found: Project Not Found") {
		t.Fatalf("outcome = %+v", o)
	}
	if n := f.count("POST", mrNotes); n != 1 {
		t.Fatalf("note POSTs = %d, want 1", n)
	}
}

func TestRetryExhaustedThenReplayed(t *testing.T) {
	f := newFakeGitLab(t)
	var healed atomic.Bool
	var sinceHealed atomic.Int32
	f.route("POST", mrNotes, func(int) apiAnswer {
		// Down until healed; then one more 500 before it works: the
		// replayed delivery gets retries of its own.
		if !healed.Load() || sinceHealed.Add(1) == 1 {
			return failed
		}
		return created
	})
	g := startGateway(t, gitlabConfig(f.URL, retryQueue, ""), replyRules)
	d, _ := g.deliver(t, withNote(t, "hello"), "evt-r4")

	if d.Status != queue.StatusDead || d.Attempts != 5 {
		t.Fatalf("delivery %s after %d attempts, want dead after 5", d.Status, d.Attempts)
	}
	o := outcomeOf(t, d, "reply")
	if o.Status != "dead" || o.Attempts != 5 || !strings.Contains(o.Error, "gave up after 5 attempts") || !strings.Contains(o.Error, "500") {
		t.Fatalf("outcome = %+v", o)
	}
	if n := f.count("POST", mrNotes); n != 5 {
		t.Fatalf("note POSTs = %d, want 5", n)
	}

	healed.Store(true)
	var ans map[string]any
	if code := g.admin(t, "POST", "/deliveries/"+d.ID+"/replay", "admin-tok", &ans); code != 202 || ans["status"] != "queued" {
		t.Fatalf("replay: %d %v", code, ans)
	}
	d = g.waitFinal(t, d.ID)
	if d.Status != queue.StatusDone {
		t.Fatalf("replayed delivery %s (%s), want done", d.Status, d.Error)
	}
	if o := outcomeOf(t, d, "reply"); o.Status != "ok" || o.Attempts != 2 {
		t.Fatalf("replayed outcome = %+v, want ok on its second attempt", o)
	}
	if n := f.count("POST", mrNotes); n != 7 {
		t.Fatalf("note POSTs = %d, want 7", n)
	}
}

func TestRetryDoesNotRerunSucceededRules(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("POST", noteAward, always(201, `{"id":31,"name":"eyes"}`))
	f.route("POST", mrNotes, sequence(failed, failed, created))
	g := startGateway(t, gitlabConfig(f.URL, retryQueue, ""), map[string]string{
		"rules/r.toml": `
[[rule]]
name = "react"
on = ["note"]
plugin = "react"

[[rule]]
name = "reply"
on = ["note"]
plugin = "reply"
`,
		"plugins/react.lua": reactPlugin,
		"plugins/reply.lua": replyPlugin,
	})
	d, _ := g.deliver(t, withNote(t, "hello"), "evt-r5")

	if d.Status != queue.StatusDone || d.Attempts != 3 {
		t.Fatalf("delivery %s after %d attempts (%s), want done after 3", d.Status, d.Attempts, d.Error)
	}
	if o := outcomeOf(t, d, "react"); o.Status != "ok" || o.Attempts != 1 {
		t.Fatalf("react outcome = %+v, want ok after 1 attempt", o)
	}
	if o := outcomeOf(t, d, "reply"); o.Status != "ok" || o.Attempts != 3 {
		t.Fatalf("reply outcome = %+v, want ok after 3 attempts", o)
	}
	if n := f.count("POST", noteAward); n != 1 {
		t.Fatalf("award_emoji POSTs = %d, want 1: the react rule ran again on a retry", n)
	}
	if n := f.count("POST", mrNotes); n != 3 {
		t.Fatalf("note POSTs = %d, want 3", n)
	}
}

func TestRetryTransientAccessCheck(t *testing.T) {
	f := packitGitLab(t, 30)
	f.route("GET", "/api/v4/projects/5/members/all/1", sequence(
		apiAnswer{Status: 502, Body: `{"message":"502 Bad Gateway"}`},
		apiAnswer{Status: 200, Body: `{"id":1,"username":"root","access_level":30}`}))
	g := startGateway(t, gitlabConfig(f.URL, retryQueue, ""), exampleFiles(t, "packit"))
	d, _ := g.deliver(t, noteEvent(t, "/packit build", 1, "root"), "evt-r6")

	if d.Status != queue.StatusDone || d.Attempts != 2 {
		t.Fatalf("delivery %s after %d attempts (%s), want done after 2: a 502 on the access check is transient", d.Status, d.Attempts, d.Error)
	}
	if o := outcomeOf(t, d, "packit-build"); o.Status != "ok" || o.Attempts != 2 {
		t.Fatalf("packit-build outcome = %+v, want ok on the second attempt", o)
	}
	if n := f.count("POST", mrNotes); n != 1 {
		t.Fatalf("note POSTs = %d, want 1", n)
	}
}
