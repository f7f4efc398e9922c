package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
)

// Issue 18, break 8: one project's flood must not starve the others. With
// GitLab's default budget (60 notes a minute), 200 /packit build comments
// in one project, then one in another: the quiet project's reply must
// reach GitLab within 10 s while the flood drains. Before the fix it came
// after 50 s, on its 5th attempt, or never (dead-lettered after 5 attempts
// like most of the flood), because the queue hands deliveries out in
// arrival order and a run that cannot get a note in time is retried into
// the same lottery.

const (
	noisyID, quietID     = 5, 6
	noisyPath, quietPath = "noisy/app", "quiet/app"
	// quietBound is the goal: the quiet project is answered within 10 s.
	quietBound = 10 * time.Second
	// gitlabLatency is how long the fake GitLab takes to answer a write.
	// A real instance takes tens to hundreds of milliseconds; a fake that
	// answers at once lets a starved run reach the limiter before its
	// deadline by luck, and the starvation hides.
	gitlabLatency = 50 * time.Millisecond
)

// floodGitLab serves what the packit example calls, for both projects,
// with every user a developer, and checks each note's body.
func floodGitLab(t *testing.T) *fakeGitLab {
	t.Helper()
	f := newFakeGitLab(t)
	slow := func(body string) func(int) apiAnswer {
		return func(int) apiAnswer {
			time.Sleep(gitlabLatency)
			return apiAnswer{Status: 201, Body: body}
		}
	}
	for pid, path := range map[int]string{noisyID: noisyPath, quietID: quietPath} {
		base := fmt.Sprintf("/api/v4/projects/%d", pid)
		// The workers check each project's id once (then it is cached).
		f.route("GET", "/api/v4/projects/"+path, always(200, fmt.Sprintf(`{"id":%d,"path_with_namespace":%q}`, pid, path)))
		for uid := 1; uid <= 25; uid++ {
			f.route("GET", fmt.Sprintf("%s/members/all/%d", base, uid), always(200, fmt.Sprintf(`{"id":%d,"access_level":30}`, uid)))
		}
		f.route("POST", base+"/merge_requests/1/notes/1244/award_emoji", slow(`{"id":31,"name":"eyes"}`))
		f.route("POST", base+"/statuses/"+headSHA, slow(`{"id":41,"status":"pending"}`))
		f.route("POST", base+"/merge_requests/1/notes", slow(`{"id":9001,"body":"ok"}`))
	}
	return f
}

// notesTo counts the notes that reached the project's merge request.
func notesTo(f *fakeGitLab, pid int) int {
	return f.count("POST", fmt.Sprintf("/api/v4/projects/%d/merge_requests/1/notes", pid))
}

// commandIn is the MR note fixture moved to project pid at path, with the
// note written by user uid.
func commandIn(t *testing.T, pid int, path, note string, uid int, username string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(noteEvent(t, note, uid, username), &m); err != nil {
		t.Fatal(err)
	}
	m["project_id"] = pid
	m["object_attributes"].(map[string]any)["project_id"] = pid
	p := m["project"].(map[string]any)
	p["id"] = pid
	p["path_with_namespace"] = path
	p["web_url"] = "http://example.com/" + path
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendAll posts the bodies as Note Hook deliveries from 8 senders and
// fails the test (from the test's goroutine) unless each was queued.
func (g *testGateway) sendAll(t *testing.T, bodies [][]byte, keyPrefix string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(bodies))
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := g.sendNote(bodies[i], fmt.Sprintf("%s-%d", keyPrefix, i)); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// sendNote posts one Note Hook delivery; safe to call from any goroutine.
func (g *testGateway) sendNote(body []byte, key string) error {
	req, _ := http.NewRequest("POST", g.URL+"/hooks/gitlab", bytes.NewReader(onInstance(body, g.instance)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "tok-a")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", key, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		return fmt.Errorf("post %s: status %d", key, resp.StatusCode)
	}
	return nil
}

// quietReply sends the quiet project's command and returns how long its
// note took to reach GitLab, failing the test past quietBound.
func quietReply(t *testing.T, g *testGateway, f *fakeGitLab) time.Duration {
	t.Helper()
	start := time.Now()
	if err := g.sendNote(commandIn(t, quietID, quietPath, "/packit build", 25, "quiet"), "quiet-1"); err != nil {
		t.Fatal(err)
	}
	for notesTo(f, quietID) == 0 {
		if time.Since(start) > quietBound {
			t.Fatalf("the quiet project's command was not answered within %s (noisy project: %d notes so far)",
				quietBound, notesTo(f, noisyID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("quiet project answered after %s; noisy project: %d notes so far", took.Round(time.Millisecond), notesTo(f, noisyID))
	for _, r := range f.requests() {
		if r.Method == "POST" && r.Path == fmt.Sprintf("/api/v4/projects/%d/merge_requests/1/notes", quietID) {
			want := map[string]any{"body": "Packit build queued for 562e173b in 2 chroot(s), requested by @quiet."}
			if fmt.Sprint(r.Body) != fmt.Sprint(want) {
				t.Errorf("quiet note body = %v, want %v", r.Body, want)
			}
		}
	}
	return took
}

// fairConfig is the default configuration (budgets, workers, timeouts)
// pointing at f, with queueExtra in [queue] and extra appended.
func fairConfig(f *fakeGitLab, queueExtra, extra string) string {
	return gitlabConfig(f.URL, queueExtra, "") + "\n[server]\nshutdown_grace = \"2s\"\n" + extra
}

// With every default, limits included: the command limits refuse most of
// the flood at once, visibly (outcome, metric), without a call to GitLab,
// and the quiet project is answered within the bound.
func TestFairFloodDefaults(t *testing.T) {
	f := floodGitLab(t)
	g := startGateway(t, fairConfig(f, "", ""), exampleFiles(t, "packit"))

	// 200 commands: user 1 sends 20, then users 2 to 19 send 10 each.
	var flood [][]byte
	for i := range 200 {
		uid := 1
		if i >= 20 {
			uid = 2 + (i-20)/10
		}
		flood = append(flood, commandIn(t, noisyID, noisyPath, "/packit build", uid, fmt.Sprint("user", uid)))
	}
	g.sendAll(t, flood, "noisy")
	quietReply(t, g, f)

	// Every noisy delivery is final: 30 ran (the project limit), 170 were
	// refused with a reason, and the refused ones cost no API call.
	var list listPage
	waitFor(t, 30*time.Second, func() bool {
		list = g.list(t, "?project="+noisyPath+"&limit=1000")
		for _, d := range list.Deliveries {
			if !d.Status.Final() {
				return false
			}
		}
		return len(list.Deliveries) == 200
	})
	ran, refused, byUser, byProject := 0, 0, 0, 0
	for _, d := range list.Deliveries {
		o := outcomeOf(t, d, "packit-build")
		switch {
		case o.Status == "ok":
			ran++
		case o.Status == "skipped" && strings.HasPrefix(o.Error, "rate limited: "):
			refused++
			if len(o.Calls) != 0 || d.Status != queue.StatusDone {
				t.Errorf("refused delivery %s: status %s, calls %v", d.ID, d.Status, o.Calls)
			}
			switch o.Error {
			case "rate limited: user user1 sent more than 10 commands in 1m":
				byUser++
			case "rate limited: project noisy/app received more than 30 commands in 1m":
				byProject++
			default:
				t.Errorf("refusal reason %q", o.Error)
			}
		default:
			t.Errorf("delivery %s: outcome %+v", d.ID, o)
		}
	}
	if ran != 30 || refused != 170 || byUser == 0 || byProject == 0 {
		t.Fatalf("noisy project: %d ran, %d refused (%d by the user limit, %d by the project limit); want 30 and 170, by both limits",
			ran, refused, byUser, byProject)
	}
	if n := notesTo(f, noisyID); n != 30 {
		t.Errorf("noisy project got %d notes, want 30", n)
	}
	// The refused commands cost no API call: the noisy project's writes
	// are those of the 30 runs (a reaction, two statuses, a note each),
	// and its access checks (cached per user) are at most one per run.
	writes, checks := 0, 0
	for _, r := range f.requests() {
		if strings.HasPrefix(r.Path, fmt.Sprintf("/api/v4/projects/%d/", noisyID)) {
			if r.Method == "GET" {
				checks++
			} else {
				writes++
			}
		}
	}
	if writes != 4*30 || checks == 0 || checks > 30 {
		t.Errorf("the noisy project cost %d writes and %d access checks; want 120 writes and 1 to 30 checks", writes, checks)
	}
	m := scrapeMetrics(t, g.URL)
	if u, p := m.get("hookgate_commands_refused_total", "limit", "user"), m.get("hookgate_commands_refused_total", "limit", "project"); u != float64(byUser) || p != float64(byProject) {
		t.Errorf("hookgate_commands_refused_total: user %v, project %v; want %d and %d", u, p, byUser, byProject)
	}
}

// With the command limits off, the flood reaches the budget: the quiet
// project still gets its turn within the bound while the noisy project's
// deliveries wait for theirs in the queue (deferred, not dead-lettered),
// and the noisy project keeps getting notes at its share of the budget.
// The same on both queue backends.
func TestFairFloodBudget(t *testing.T) {
	t.Run("local", func(t *testing.T) { fairFloodBudget(t, "") })
	t.Run("nats", func(t *testing.T) {
		srv := natstest.Start(t)
		fairFloodBudget(t, fmt.Sprintf("backend = \"nats\"\nurl = [%q]\nstream = \"FAIR\"\nsubject = \"fair.deliveries\"\n", srv.URL))
	})
}

func fairFloodBudget(t *testing.T, queueExtra string) {
	f := floodGitLab(t)
	g := startGateway(t, fairConfig(f, queueExtra, "\n[fairness]\ncommands_per_user = -1\ncommands_per_project = -1\n"), exampleFiles(t, "packit"))

	var flood [][]byte
	for range 200 {
		flood = append(flood, commandIn(t, noisyID, noisyPath, "/packit build", 1, "root"))
	}
	g.sendAll(t, flood, "noisy")
	quietReply(t, g, f)
	atQuiet := notesTo(f, noisyID)
	if atQuiet >= 200 {
		t.Fatalf("the noisy project got all its %d notes before the quiet project's: no flood left to drain", atQuiet)
	}

	// The flood drains at the noisy project's share of the budget, and
	// waits in the queue meanwhile, visibly.
	waitFor(t, 30*time.Second, func() bool { return notesTo(f, noisyID) >= atQuiet+3 })
	m := scrapeMetrics(t, g.URL)
	if n := m.get("hookgate_deferrals_total"); n == 0 {
		t.Error("hookgate_deferrals_total = 0: the flood's deliveries were not put back until their turn")
	}
	if n := m.get("hookgate_dead_letters_total"); n != 0 {
		t.Errorf("%v dead letters: the flood is given up instead of drained", n)
	}
	deferred := 0
	for _, d := range g.list(t, "?project="+noisyPath+"&status=queued&limit=1000").Deliveries {
		if strings.HasPrefix(d.Error, "deferred: ") {
			deferred++
		}
	}
	if deferred == 0 {
		t.Error("no queued noisy delivery says it was deferred")
	}
	t.Logf("noisy project: %d notes when the quiet one was answered, %d now; %d deliveries deferred in the queue; %v deferrals, %v retries",
		atQuiet, notesTo(f, noisyID), deferred, m.get("hookgate_deferrals_total"), m.get("hookgate_retries_total"))
}
