package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/fair"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/plugins/gitlab"
	"github.com/hookgate/hookgate/rules"
)

// fairPipeline is a pipeline with a "build" rule on /packit build and a
// "chat" rule on every note, both running a plugin that comments, against
// the GitLab instance inst.
func fairPipeline(t *testing.T, inst gitlab.Instance, f gateway.Fairness) *gateway.Pipeline {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"plugins/comment.lua": commentPlugin,
		"rules/r.toml": "[[rule]]\nname = \"build\"\non = [\"note\"]\nwhen = 'has_command(\"/packit\", \"build\")'\nplugin = \"comment\"\n\n" +
			"[[rule]]\nname = \"chat\"\non = [\"note\"]\nplugin = \"comment\"\n",
	})
	ps, err := plugins.Load(filepath.Join(dir, "plugins"), plugins.Options{Modules: []plugins.Module{gitlab.Module}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	rs, err := rules.Load([]string{filepath.Join(dir, "rules", "*.toml")}, rules.Options{PluginExists: ps.Has})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gl, err := gitlab.New([]gitlab.Instance{inst}, log)
	if err != nil {
		t.Fatal(err)
	}
	bundle := &gateway.Bundle{Rules: rs, Plugins: ps}
	return &gateway.Pipeline{Bundle: func() *gateway.Bundle { return bundle }, GitLab: gl, Logger: log,
		Retry: gateway.RetryPolicy{MaxAttempts: 5, Base: time.Second, Max: time.Minute}, Fairness: f}
}

// noteDelivery is a delivery of the note fixture with note by username,
// claimed attempts times.
func noteDelivery(t *testing.T, note, username string, attempts int) *queue.Delivery {
	t.Helper()
	uid := map[string]int{"root": 1, "alice": 2, "hookgate-bot": 3}[username]
	env, err := envelope.Normalize("Note Hook", noteEvent(t, note, uid, username), "")
	if err != nil {
		t.Fatal(err)
	}
	env.Instance = "" // as the receiver leaves it: the only configured instance
	return &queue.Delivery{ID: "d-" + note, Envelope: *env, Attempts: attempts}
}

// Only commands count, once each: notes without a slash command, the
// bot's notes and the later runs of a delivery (retries, deferrals,
// replays) do not; a refused command's rules are all skipped with the
// reason, and it makes no call.
func TestCommandLimitsCountCommandsOnce(t *testing.T) {
	p := fairPipeline(t, gitlab.Instance{URL: "https://gitlab.example.com", DryRun: true, BotUsername: "hookgate-bot"},
		gateway.Fairness{Commands: fair.NewCommandLimits(2, -1, time.Minute)})
	ctx := context.Background()
	ran := func(d *queue.Delivery) {
		t.Helper()
		r := p.Process(ctx, d)
		if r.Status != queue.StatusDone {
			t.Fatalf("%q: %+v", d.Envelope.Note, r)
		}
		for _, o := range r.Outcomes {
			if o.Status != gateway.OutcomeOK {
				t.Fatalf("%q: rule %s %s (%s), want it run", d.Envelope.Note, o.Rule, o.Status, o.Error)
			}
		}
	}
	ran(noteDelivery(t, "/packit build", "root", 1))
	ran(noteDelivery(t, "just chatting", "root", 1))                    // no command: not counted
	ran(noteDelivery(t, "/packit build", "root", 3))                    // a later run: not counted again
	p.Process(ctx, noteDelivery(t, "/packit build", "hookgate-bot", 1)) // the bot's: skipped, not counted
	ran(noteDelivery(t, "/packit build please", "root", 1))             // the second command

	r := p.Process(ctx, noteDelivery(t, "/packit build again", "root", 1))
	const reason = "rate limited: user root sent more than 2 commands in 1m"
	if r.Status != queue.StatusDone || len(r.Outcomes) != 2 {
		t.Fatalf("third command: %+v", r)
	}
	for _, o := range r.Outcomes {
		if o.Status != gateway.OutcomeSkipped || o.Error != reason || len(o.Calls) != 0 || o.Plugin != "comment" {
			t.Errorf("third command, rule %s: %+v; want skipped: %s", o.Rule, o, reason)
		}
	}
	ran(noteDelivery(t, "/packit build", "alice", 1)) // another user
}

// A delivery whose project's calls wait for the notes budget is put back
// until the project's turn without running, its outcomes unchanged; one
// put back too often runs anyway.
func TestDeferralWhileBacklogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "GET" && r.URL.Path == fixtureProjectLookup { // the project's id, checked once
			io.WriteString(w, `{"id": 5, "path_with_namespace": "gitlab-org/gitlab-test"}`)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"id": 1}`)
	}))
	t.Cleanup(srv.Close)
	p := fairPipeline(t, gitlab.Instance{URL: srv.URL, Token: "tok", NotesPerMinute: 1},
		gateway.NewFairness(config.Fairness{CommandsPerUser: -1, CommandsPerProject: -1}, 2*time.Second))
	ctx := context.Background()

	// The minute's one note goes to the first run; the second run's note
	// would come a minute later, after its deadline: retried.
	if r := p.Process(ctx, noteDelivery(t, "first", "root", 1)); r.Status != queue.StatusDone {
		t.Fatalf("first: %+v", r)
	}
	if r := p.Process(ctx, noteDelivery(t, "second", "root", 1)); r.Status != queue.StatusQueued || r.Error != "retrying transient failure" {
		t.Fatalf("second: %+v, want a retry", r)
	}

	// The project is now behind on its budget: the next delivery waits in
	// the queue for its turn, the one after the turn promised to the
	// retried run: about two minutes away.
	d := noteDelivery(t, "third", "root", 2)
	d.Outcomes = []queue.Outcome{{Rule: "chat", Status: gateway.OutcomeRetry, Attempts: 1}}
	start := time.Now()
	r := p.Process(ctx, d)
	if r.Status != queue.StatusQueued || !strings.HasPrefix(r.Error, "deferred: ") {
		t.Fatalf("third: %+v, want deferred", r)
	}
	if wait := r.RetryAt.Sub(start); wait < 110*time.Second || wait > 121*time.Second {
		t.Errorf("deferred for %s, want about two minutes (the project's second turn)", wait)
	}
	if !reflect.DeepEqual(r.Outcomes, d.Outcomes) {
		t.Errorf("outcomes changed by a deferral: %+v", r.Outcomes)
	}

	// Claimed more than 8 times, it runs (and is retried: no budget).
	r = p.Process(ctx, noteDelivery(t, "fourth", "root", 9))
	if r.Status != queue.StatusQueued || r.Error != "retrying transient failure" {
		t.Fatalf("fourth: %+v, want it run and retried", r)
	}
}
