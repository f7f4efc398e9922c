package gateway

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Answers of POST /hooks/gitlab, the "answer" label of
// hookgate_deliveries_received_total.
const (
	AnswerQueued              = "queued"
	AnswerDuplicate           = "duplicate"
	AnswerIgnored             = "ignored"
	AnswerUnauthorized        = "unauthorized"
	AnswerBadRequest          = "bad_request"
	AnswerTooLarge            = "too_large"
	AnswerUnavailable         = "unavailable"
	AnswerUnsupportedEncoding = "unsupported_encoding"
)

// Reasons of hookgate_dead_letters_total.
const (
	DeadRetriesExhausted = "retries_exhausted" // a rule's transient failures outlasted max_attempts
	DeadQuarantined      = "quarantined"       // the delivery's runs kept killing the process
)

// Backlogger is implemented by queue backends that can say cheaply how much
// work waits; the metrics ask on every scrape.
type Backlogger interface {
	Backlog(ctx context.Context) (queue.Backlog, error)
}

// Metrics are hookgate's Prometheus metrics, in a registry of their own (so
// several gateways can live in one process, as in tests) that also holds
// the Go runtime and process collectors. A nil *Metrics records nothing:
// every method may be called on nil.
type Metrics struct {
	reg *prometheus.Registry

	received      *prometheus.CounterVec
	dedupeHits    prometheus.Counter
	ruleMatches   *prometheus.CounterVec
	pluginRuns    *prometheus.CounterVec
	pluginSeconds *prometheus.HistogramVec
	gitlabCalls   *prometheus.CounterVec
	gitlabSeconds *prometheus.HistogramVec
	retries       prometheus.Counter
	deadLetters   *prometheus.CounterVec
	identity      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	reloadOK      prometheus.Gauge
	reloadAt      prometheus.Gauge
	fair          fairMetrics

	token *bearer // GET /metrics needs it when not nil (requireToken)
}

// NewMetrics builds the metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help,
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, labels)
		m.reg.MustRegister(h)
		return h
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		m.reg.MustRegister(g)
		return g
	}
	m.received = counter("hookgate_deliveries_received_total",
		"Webhook deliveries received, by event kind and answer (queued, duplicate, ignored, unauthorized, bad_request, too_large, unavailable, unsupported_encoding). The kind is empty for deliveries refused before the sender was authenticated.",
		"kind", "answer")
	m.dedupeHits = counter("hookgate_dedupe_hits_total",
		"Deliveries answered as duplicates of one stored earlier (same Idempotency-Key or webhook-id).").WithLabelValues()
	m.ruleMatches = counter("hookgate_rule_matches_total",
		"Rules whose condition matched an event and that ran or were skipped (bot or system note, edited note, access denied); a rule already final for a delivery is not counted again on its retries.",
		"rule")
	m.pluginRuns = counter("hookgate_plugin_runs_total",
		"Plugin runs by plugin and outcome (ok, error, retry, dead).", "plugin", "outcome")
	m.pluginSeconds = histogram("hookgate_plugin_run_duration_seconds",
		"Duration of plugin runs.", "plugin")
	m.gitlabCalls = counter("hookgate_gitlab_calls_total",
		"GitLab API calls by operation (e.g. \"POST merge_request_note\") and HTTP status; \"dry_run\" when recorded and not sent, \"error\" when no answer came.",
		"operation", "status")
	m.gitlabSeconds = histogram("hookgate_gitlab_call_duration_seconds",
		"Duration of GitLab API calls that were sent.", "operation")
	m.retries = counter("hookgate_retries_total",
		"Deliveries put back in the queue to retry a transient failure.").WithLabelValues()
	m.deadLetters = counter("hookgate_dead_letters_total",
		"Dead letters by reason: rule runs given up after max_attempts (retries_exhausted) and deliveries quarantined for killing the process (quarantined). Replay them.",
		"reason")
	m.identity = counter("hookgate_identity_refused_total",
		"Authenticated deliveries refused for contradicting what their secret binds, by reason: instance (X-Gitlab-Instance names no configured instance), project (the body names two projects), web_url (the project is not on the instance), project_id (not GitLab's id for the path). Counted at the receiver (answered 401) and by the workers (the delivery fails without running any rule).",
		"reason")
	m.reloads = counter("hookgate_reloads_total",
		"Reloads of rules and plugins by result (ok, failed).", "result")
	m.reloadOK = gauge("hookgate_reload_last_success",
		"1 if the last reload of rules and plugins succeeded (or none was tried yet), 0 if the gateway serves an older set because it failed.")
	m.reloadAt = gauge("hookgate_reload_last_success_timestamp_seconds",
		"When rules and plugins were last loaded successfully, as a Unix time.")

	for _, r := range []string{"ok", "failed"} {
		m.reloads.WithLabelValues(r)
	}
	for _, r := range []string{DeadRetriesExhausted, DeadQuarantined} {
		m.deadLetters.WithLabelValues(r)
	}
	m.reloadOK.Set(1)
	m.reloadAt.SetToCurrentTime()
	m.fair = newFairMetrics(m.reg)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics live; register more collectors there.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// requireToken makes GET /metrics, on every app mounted afterwards, answer
// only requests with "Authorization: Bearer <token>" ([server]
// metrics_token); others get 401. "" leaves /metrics open.
func (m *Metrics) requireToken(token string) {
	if m != nil && token != "" {
		m.token = newBearer(token)
	}
}

// mount serves GET /metrics on app, behind the token if one is required.
func (m *Metrics) mount(app *fiber.App) {
	if m == nil {
		return
	}
	h := adaptor.HTTPHandler(m.Handler())
	if m.token != nil {
		app.Get("/metrics", m.token.guard("missing or wrong metrics token"), h)
		return
	}
	app.Get("/metrics", h)
}

// WatchQueue adds gauges read from q on every scrape:
// hookgate_queue_depth{status="queued"|"running"} and
// hookgate_queue_oldest_age_seconds.
func (m *Metrics) WatchQueue(q Backlogger) {
	m.reg.MustRegister(&backlogCollector{q: q,
		depth: prometheus.NewDesc("hookgate_queue_depth",
			"Deliveries waiting for a worker (queued, retry backoff included) or being processed (running).",
			[]string{"status"}, nil),
		age: prometheus.NewDesc("hookgate_queue_oldest_age_seconds",
			"Age of the oldest delivery not yet processed to the end (queued or running); 0 when there is none.",
			nil, nil),
	})
}

// watchInflight serves the receiver's in-flight body bytes and budget.
func (m *Metrics) watchInflight(b *inflight) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookgate_inflight_body_bytes",
		Help: "Request body bytes the receiver holds now (reserved before a body is read); past hookgate_inflight_body_bytes_limit deliveries are answered 503."},
		func() float64 { return float64(b.used.Load()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookgate_inflight_body_bytes_limit",
		Help: "[server] max_inflight_bytes."},
		func() float64 { return float64(b.max) }))
}

type backlogCollector struct {
	q          Backlogger
	depth, age *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := c.q.Backlog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(b.Queued), "queued")
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(b.Running), "running")
	age := 0.0
	if !b.Oldest.IsZero() {
		age = max(time.Since(b.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// delivery counts one answer of the receiver.
func (m *Metrics) delivery(kind, answer string) {
	if m == nil {
		return
	}
	m.received.WithLabelValues(kindLabel(kind), answer).Inc()
	if answer == AnswerDuplicate {
		m.dedupeHits.Inc()
	}
}

// ruleMatched counts a rule that matched and ran or was skipped.
func (m *Metrics) ruleMatched(rule string) {
	if m != nil {
		m.ruleMatches.WithLabelValues(rule).Inc()
	}
}

// pluginRan counts one plugin run with its settled outcome.
func (m *Metrics) pluginRan(plugin, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.pluginRuns.WithLabelValues(plugin, outcome).Inc()
	m.pluginSeconds.WithLabelValues(plugin).Observe(took.Seconds())
}

// retrying counts a delivery put back for a retry.
func (m *Metrics) retrying() {
	if m != nil {
		m.retries.Inc()
	}
}

// dead counts a dead letter.
func (m *Metrics) dead(reason string) {
	if m != nil {
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

// quarantined is the queue's OnQuarantine hook.
func (m *Metrics) quarantined(string) { m.dead(DeadQuarantined) }

// identityRefused counts a delivery refused for its identity.
func (m *Metrics) identityRefused(reason string) {
	if m != nil {
		m.identity.WithLabelValues(reason).Inc()
	}
}

// reloaded counts a reload and its result.
func (m *Metrics) reloaded(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.reloads.WithLabelValues("failed").Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
	m.reloadOK.Set(1)
	m.reloadAt.SetToCurrentTime()
}

// gitlabCall is the GitLab clients' OnCall hook.
func (m *Metrics) gitlabCall(_ string, c queue.Call) {
	if m == nil {
		return
	}
	op := Operation(c.Method, c.Path)
	status := "error"
	switch {
	case c.DryRun:
		status = "dry_run"
	case c.Status != 0:
		status = strconv.Itoa(c.Status)
	}
	m.gitlabCalls.WithLabelValues(op, status).Inc()
	if !c.DryRun && c.Duration > 0 {
		m.gitlabSeconds.WithLabelValues(op).Observe(c.Duration.Seconds())
	}
}

// kindLabel keeps the kind label's values few: kinds are GitLab's
// lowercase object_kind words; anything else is counted as "other".
func kindLabel(kind string) string {
	if kind == "" || (len(kind) <= 32 && wordRE.MatchString(kind)) {
		return kind
	}
	return "other"
}

var wordRE = regexp.MustCompile(`^[a-z_]+$`)

// dropWords are path words that add nothing to an operation's name.
var dropWords = map[string]bool{"projects": true, "repository": true, "all": true, "raw": true}

// singular turns the collections of GitLab's API paths into the name of
// one of their items.
var singular = map[string]string{
	"merge_requests": "merge_request", "issues": "issue", "notes": "note",
	"snippets": "snippet", "commits": "commit", "statuses": "status",
	"comments": "comment", "members": "member", "files": "file",
	"hooks": "hook", "pipelines": "pipeline", "jobs": "job", "groups": "group",
	"users": "user", "branches": "branch", "tags": "tag", "discussions": "discussion",
	"labels": "label", "releases": "release", "deployments": "deployment",
}

// nameFollows are path words after which comes a name or sha rather than a
// number (e.g. /repository/files/:file_path/raw).
var nameFollows = map[string]bool{"projects": true, "commits": true, "statuses": true,
	"files": true, "branches": true, "tags": true, "groups": true, "users": true}

// Operation names a GitLab API call for metrics without its variable
// parts: the method and the path's words, ids and names dropped,
// collections made singular. "POST /projects/5/merge_requests/1/notes" is
// "POST merge_request_note", "POST /projects/g%2Fp/statuses/<sha>" is
// "POST status". The result is one of few values for the calls hookgate
// makes, whatever the projects.
func Operation(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	var words []string
	afterName := false
	for seg := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
		if afterName || seg == "" || !wordRE.MatchString(seg) {
			afterName = false
			continue // an id, a name, a sha: variable
		}
		afterName = nameFollows[seg]
		if dropWords[seg] {
			continue
		}
		if s, ok := singular[seg]; ok {
			seg = s
		}
		words = append(words, seg)
	}
	if len(words) == 0 {
		return method + " other"
	}
	return method + " " + strings.Join(words, "_")
}
