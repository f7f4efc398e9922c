package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
)

// metrics is one parsed scrape of /metrics.
type metrics map[string]*dto.MetricFamily

// scrapeMetrics GETs url + "/metrics" and parses the text exposition.
func scrapeMetrics(t testing.TB, url string) metrics {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return fams
}

// get sums the series of name whose labels include labels ("k", "v",
// ...): counter and gauge values, histogram sample counts. A metric or
// series that is absent counts 0.
func (m metrics) get(name string, labels ...string) float64 {
	f, ok := m[name]
	if !ok {
		return 0
	}
	sum := 0.0
series:
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue series
			}
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// series lists the label sets of name, for failure messages.
func (m metrics) series(name string) string {
	var out []string
	for _, s := range m[name].GetMetric() {
		var l []string
		for _, p := range s.GetLabel() {
			l = append(l, p.GetName()+"="+p.GetValue())
		}
		out = append(out, "{"+strings.Join(l, ",")+"}")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// moved checks that each series moved by its delta between two scrapes.
type moved struct {
	name   string
	labels []string
	delta  float64
}

func expectMoves(t *testing.T, before, after metrics, want ...moved) {
	t.Helper()
	for _, w := range want {
		if d := after.get(w.name, w.labels...) - before.get(w.name, w.labels...); d != w.delta {
			t.Errorf("%s%v moved by %v, want %v; series: %s", w.name, w.labels, d, w.delta, after.series(w.name))
		}
	}
}

func TestMetricsCountReceiverAnswers(t *testing.T) {
	g := startGateway(t, starConfig+"[server]\nmax_body_bytes = \"64KiB\"\n", map[string]string{
		"rules/notes.toml":   "[[rule]]\nname = \"notes\"\non = [\"note\"]\nplugin = \"record\"\n",
		"plugins/record.lua": recordPlugin,
	})
	note := fixture(t, "note_merge_request.json")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(note)
	zw.Close()
	ok := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Idempotency-Key": "key-1"}

	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
		status  int
		kind    string
		answer  string
	}{
		{"queued", note, ok, 202, "note", "queued"},
		{"duplicate", note, ok, 200, "note", "duplicate"},
		{"unauthorized", note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "nope"}, 401, "", "unauthorized"},
		{"bad request", note, map[string]string{"X-Gitlab-Token": "tok-a"}, 400, "", "bad_request"},
		{"not JSON", []byte("{"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 400, "", "bad_request"},
		{"ignored: no rule wants pushes", fixture(t, "push.json"), map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "tok-a"}, 202, "push", "ignored"},
		{"unsupported encoding", gz.Bytes(), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Content-Encoding": "gzip"}, 415, "", "unsupported_encoding"},
		{"too large", bytes.Repeat([]byte(" "), 70*1024), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 413, "", "too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := scrapeMetrics(t, g.URL)
			if tc.answer == "too_large" {
				// The receiver answers 413 from the headers and closes; a
				// client still writing the body may see the close as a
				// reset before it reads the answer. Send the headers alone.
				if status := headersOnlyPost(t, g.URL, len(tc.body), tc.headers); status != tc.status {
					t.Fatalf("status %d, want %d", status, tc.status)
				}
			} else if r := g.post(t, tc.body, tc.headers); r.Status != tc.status {
				t.Fatalf("status %d, want %d (%v)", r.Status, tc.status, r.Body)
			}
			after := scrapeMetrics(t, g.URL)
			dedupe := 0.0
			if tc.answer == "duplicate" {
				dedupe = 1
			}
			expectMoves(t, before, after,
				moved{"hookgate_deliveries_received_total", []string{"kind", tc.kind, "answer", tc.answer}, 1},
				moved{"hookgate_deliveries_received_total", nil, 1}, // and nothing else
				moved{"hookgate_dedupe_hits_total", nil, dedupe},
			)
		})
	}
}

func TestMetricsCountUnavailableQueue(t *testing.T) {
	store, err := local.Open(filepath.Join(t.TempDir(), "q.db"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New([]config.WebhookSecret{{Project: "*", Token: config.NewSecret("tok")}})
	if err != nil {
		t.Fatal(err)
	}
	m := gateway.NewMetrics()
	m.WatchQueue(store)
	app := gateway.NewReceiver(gateway.ReceiverOptions{Queue: store, Verifier: v, MaxBodyBytes: 1 << 20, Metrics: m})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Listener(ln)
	defer app.Shutdown()
	url := "http://" + ln.Addr().String()

	before := scrapeMetrics(t, url)
	if got := before.series("hookgate_queue_depth"); got != "{status=queued} {status=running}" {
		t.Fatalf("queue depth series = %s", got)
	}
	store.Close()
	req, _ := http.NewRequest("POST", url+"/hooks/gitlab", bytes.NewReader(fixture(t, "note_merge_request.json")))
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("enqueue on a closed queue = %d, want 503", resp.StatusCode)
	}
	// The scrape still answers; only the queue gauges are missing.
	after := scrapeMetrics(t, url)
	expectMoves(t, before, after, moved{"hookgate_deliveries_received_total", []string{"kind", "note", "answer", "unavailable"}, 1})
	if _, ok := after["hookgate_queue_depth"]; ok {
		t.Fatal("queue depth reported for a closed queue")
	}
}

// Plugins for the pipeline metrics: each rule has its own trigger word.
var pipelineMetricRules = map[string]string{
	"rules/r.toml": `
[[rule]]
name = "greet"
on = ["note"]
when = 'note contains "/greet"'
plugin = "greet"

[[rule]]
name = "explode"
on = ["note"]
when = 'note contains "/boom"'
plugin = "boom"

[[rule]]
name = "later"
on = ["note"]
when = 'note contains "/later"'
plugin = "later"
`,
	"plugins/greet.lua": "function handle(event, params)\n  gitlab.comment(\"hi\")\n  return { ok = true }\nend\n",
	"plugins/boom.lua":  "function handle(event, params)\n  error(\"boom\")\nend\n",
	"plugins/later.lua": "function handle(event, params)\n  retry(\"not now\")\nend\n",
}

func TestMetricsFollowRulesPluginsAndTheQueue(t *testing.T) {
	// No [[gitlab]]: calls are recorded as dry runs. The long backoff keeps
	// a retried delivery queued for the rest of the test.
	g := startGateway(t, strings.Replace(starConfig, "[queue]\n", "[queue]\nretry_base = \"1h\"\nretry_max = \"2h\"\n", 1), pipelineMetricRules)
	post := func(note string) string {
		r := g.post(t, withNote(t, note), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
		if r.Status != 202 {
			t.Fatalf("post %q: %d %v", note, r.Status, r.Body)
		}
		return r.Body["id"].(string)
	}

	before := scrapeMetrics(t, g.URL)
	if d := g.waitFinal(t, post("/greet /boom")); d.Status != queue.StatusFailed {
		t.Fatalf("delivery %s, want failed", d.Status)
	}
	after := scrapeMetrics(t, g.URL)
	expectMoves(t, before, after,
		moved{"hookgate_rule_matches_total", []string{"rule", "greet"}, 1},
		moved{"hookgate_rule_matches_total", []string{"rule", "explode"}, 1},
		moved{"hookgate_rule_matches_total", []string{"rule", "later"}, 0},
		moved{"hookgate_plugin_runs_total", []string{"plugin", "greet", "outcome", "ok"}, 1},
		moved{"hookgate_plugin_runs_total", []string{"plugin", "boom", "outcome", "error"}, 1},
		moved{"hookgate_plugin_run_duration_seconds", []string{"plugin", "greet"}, 1},
		moved{"hookgate_plugin_run_duration_seconds", []string{"plugin", "boom"}, 1},
		moved{"hookgate_gitlab_calls_total", []string{"operation", "POST merge_request_note", "status", "dry_run"}, 1},
		moved{"hookgate_gitlab_call_duration_seconds", nil, 0}, // dry runs take no time
		moved{"hookgate_retries_total", nil, 0},
		moved{"hookgate_dead_letters_total", nil, 0},
	)
	if n := after.get("hookgate_queue_depth"); n != 0 {
		t.Fatalf("queue depth %v with nothing waiting", n)
	}
	if age := after.get("hookgate_queue_oldest_age_seconds"); age != 0 {
		t.Fatalf("oldest age %v with nothing waiting", age)
	}

	// A retried delivery waits in the queue: depth and age show it.
	before = after
	post("/later")
	var waiting metrics
	waitFor(t, 10*time.Second, func() bool {
		waiting = scrapeMetrics(t, g.URL)
		// The retry is counted when the run ends, its outcome a moment
		// later when the queue commits it: wait for both.
		return waiting.get("hookgate_retries_total") == 1 &&
			waiting.get("hookgate_queue_depth", "status", "running") == before.get("hookgate_queue_depth", "status", "running")
	})
	// A scrape gathers one family after another, so the one that met the
	// condition may have read the rule and plugin counters before the run
	// counted them: read everything again, now that the run is over.
	waiting = scrapeMetrics(t, g.URL)
	expectMoves(t, before, waiting,
		moved{"hookgate_rule_matches_total", []string{"rule", "later"}, 1},
		moved{"hookgate_plugin_runs_total", []string{"plugin", "later", "outcome", "retry"}, 1},
		moved{"hookgate_queue_depth", []string{"status", "queued"}, 1},
		moved{"hookgate_queue_depth", []string{"status", "running"}, 0},
		moved{"hookgate_dead_letters_total", nil, 0},
	)
	time.Sleep(20 * time.Millisecond) // the age is measured in wall time
	age := scrapeMetrics(t, g.URL).get("hookgate_queue_oldest_age_seconds")
	if age <= 0 || age > 60 {
		t.Fatalf("oldest age = %vs, want a little above 0", age)
	}
}

func TestMetricsCountGitLabCallsRetriesAndDeadLetters(t *testing.T) {
	f := newFakeGitLab(t)
	f.route("POST", mrNotes, sequence(created, failed)) // one success, then 500s
	g := startGateway(t, gitlabConfig(f.URL, `retry_base = "5ms"
retry_max = "10ms"
max_attempts = 3`, ""), replyRules)

	before := scrapeMetrics(t, g.URL)
	if d, _ := g.deliver(t, withNote(t, "first"), "evt-m1"); d.Status != queue.StatusDone {
		t.Fatalf("first delivery %s", d.Status)
	}
	after := scrapeMetrics(t, g.URL)
	expectMoves(t, before, after,
		moved{"hookgate_gitlab_calls_total", []string{"operation", "POST merge_request_note", "status", "201"}, 1},
		moved{"hookgate_gitlab_call_duration_seconds", []string{"operation", "POST merge_request_note"}, 1},
		moved{"hookgate_plugin_runs_total", []string{"plugin", "reply", "outcome", "ok"}, 1},
	)

	before = after
	if d, _ := g.deliver(t, withNote(t, "second"), "evt-m2"); d.Status != queue.StatusDead || d.Attempts != 3 {
		t.Fatalf("second delivery %s after %d attempts, want dead after 3", d.Status, d.Attempts)
	}
	after = scrapeMetrics(t, g.URL)
	expectMoves(t, before, after,
		moved{"hookgate_gitlab_calls_total", []string{"operation", "POST merge_request_note", "status", "500"}, 3},
		moved{"hookgate_gitlab_call_duration_seconds", []string{"operation", "POST merge_request_note"}, 3},
		moved{"hookgate_plugin_runs_total", []string{"plugin", "reply", "outcome", "retry"}, 2},
		moved{"hookgate_plugin_runs_total", []string{"plugin", "reply", "outcome", "dead"}, 1},
		moved{"hookgate_retries_total", nil, 2},
		moved{"hookgate_dead_letters_total", []string{"reason", "retries_exhausted"}, 1},
		moved{"hookgate_dead_letters_total", []string{"reason", "quarantined"}, 0},
	)
}

func TestMetricsCountQuarantine(t *testing.T) {
	// A delivery whose run "killed the process": claimed, never finished.
	qpath := filepath.Join(t.TempDir(), "q.db")
	store, err := local.Open(qpath, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Normalize("Note Hook", fixture(t, "note_merge_request.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rc, err := store.Enqueue(ctx, &queue.Delivery{Envelope: *env, Status: queue.StatusQueued, ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Claim(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	g := startGateway(t, strings.Replace(starConfig, `path = "data/hookgate.db"`,
		fmt.Sprintf("path = %q\nquarantine_after = 1", qpath), 1), nil)
	d := g.waitFinal(t, rc.ID)
	if d.Status != queue.StatusDead || !strings.Contains(d.Error, "quarantined") {
		t.Fatalf("delivery %s (%s), want quarantined", d.Status, d.Error)
	}
	// The store counts a quarantine once it is durable, which readers of
	// the store can see a moment before the hook runs: wait for the count.
	var m metrics
	waitFor(t, 5*time.Second, func() bool {
		m = scrapeMetrics(t, g.URL)
		return m.get("hookgate_dead_letters_total", "reason", "quarantined") >= 1
	})
	if n := m.get("hookgate_dead_letters_total", "reason", "quarantined"); n != 1 {
		t.Fatalf("quarantined dead letters = %v, want 1; series: %s", n, m.series("hookgate_dead_letters_total"))
	}
}

func TestMetricsCountReloads(t *testing.T) {
	g := startGateway(t, reloadConfig("watch = false"), map[string]string{
		"rules/r.toml":       noteRule("one", "/one"),
		"plugins/record.lua": recordPlugin,
	})
	ruleFile := filepath.Join(g.Dir, "rules", "r.toml")
	steps := []struct {
		name    string
		content string
		result  string
		last    float64
	}{
		{"ok", noteRule("two", "/two"), "ok", 1},
		{"broken", brokenWhen, "failed", 0},
		{"fixed", noteRule("three", "/three"), "ok", 1},
	}
	for _, s := range steps {
		before := scrapeMetrics(t, g.URL)
		replaceFile(t, ruleFile, s.content)
		err := g.Reload()
		if (err == nil) != (s.result == "ok") {
			t.Fatalf("%s: Reload() = %v", s.name, err)
		}
		after := scrapeMetrics(t, g.URL)
		expectMoves(t, before, after,
			moved{"hookgate_reloads_total", []string{"result", s.result}, 1},
			moved{"hookgate_reloads_total", nil, 1},
		)
		if got := after.get("hookgate_reload_last_success"); got != s.last {
			t.Errorf("%s: hookgate_reload_last_success = %v, want %v", s.name, got, s.last)
		}
		was, at := before.get("hookgate_reload_last_success_timestamp_seconds"), after.get("hookgate_reload_last_success_timestamp_seconds")
		if s.result == "ok" && at <= was || s.result == "failed" && at != was {
			t.Errorf("%s: last success time %v -> %v", s.name, was, at)
		}
	}
}

func TestMetricsIncludeRuntimeAndProcess(t *testing.T) {
	g := startGateway(t, starConfig, nil)
	m := scrapeMetrics(t, g.URL)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_start_time_seconds", "process_open_fds"} {
		if _, ok := m[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	// Every hookgate metric follows the naming conventions.
	for name, f := range m {
		if !strings.HasPrefix(name, "hookgate_") {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
	// Two gateways in one process have registries of their own.
	if other := gateway.NewMetrics(); other.Registry() == g.Metrics().Registry() {
		t.Fatal("metrics share a registry")
	}
}

func TestOperationNames(t *testing.T) {
	cases := []struct{ method, path, want string }{
		{"POST", "/projects/5/merge_requests/1/notes", "POST merge_request_note"},
		{"POST", "/projects/group%2Fsub%2Frepo/issues/12/notes", "POST issue_note"},
		{"POST", "/projects/5/snippets/3/notes", "POST snippet_note"},
		{"POST", "/projects/5/repository/commits/562e173be03b8ff2efb05345d12df18815438a4b/comments", "POST commit_comment"},
		{"POST", "/projects/5/statuses/abcdef", "POST status"},
		{"PUT", "/projects/5/merge_requests/1", "PUT merge_request"},
		{"POST", "/projects/5/merge_requests/1/notes/1244/award_emoji", "POST merge_request_note_award_emoji"},
		{"POST", "/projects/5/issues/2/award_emoji", "POST issue_award_emoji"},
		{"GET", "/projects/5/members/all/17", "GET member"},
		{"GET", "/projects/5/repository/files/docs%2Fa.md/raw?ref=main", "GET file"},
		{"GET", "/projects/5/merge_requests/9", "GET merge_request"},
		{"POST", "/projects/5/pipeline", "POST pipeline"},
		{"GET", "/projects/5/hooks?page=2", "GET hook"},
		{"GET", "/", "GET other"},
	}
	for _, tc := range cases {
		if got := gateway.Operation(tc.method, tc.path); got != tc.want {
			t.Errorf("Operation(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
