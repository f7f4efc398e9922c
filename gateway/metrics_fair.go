package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate/gateway/fair"
	"github.com/hookgate/hookgate/plugins/gitlab"
)

// fairMetrics count what fairness did (fairness.go).
type fairMetrics struct {
	commandsRefused *prometheus.CounterVec
	deferrals       prometheus.Counter
}

func newFairMetrics(reg *prometheus.Registry) fairMetrics {
	f := fairMetrics{
		commandsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hookgate_commands_refused_total",
			Help: "Commands refused by the command limits, before any GitLab API call, by the limit that refused them (user: fairness.commands_per_user, project: fairness.commands_per_project)."},
			[]string{"limit"}),
		deferrals: prometheus.NewCounter(prometheus.CounterOpts{Name: "hookgate_deferrals_total",
			Help: "Deliveries put back in the queue without running, until their project's turn, because the project's GitLab API calls were waiting for budget."}),
	}
	reg.MustRegister(f.commandsRefused, f.deferrals)
	for _, l := range []string{fair.LimitUser, fair.LimitProject} {
		f.commandsRefused.WithLabelValues(l)
	}
	return f
}

// commandRefused counts a command refused by limit (fair.LimitUser,
// fair.LimitProject).
func (m *Metrics) commandRefused(limit string) {
	if m != nil {
		m.fair.commandsRefused.WithLabelValues(limit).Inc()
	}
}

// deferred counts a delivery put back until its project's turn.
func (m *Metrics) deferred() {
	if m != nil {
		m.fair.deferrals.Inc()
	}
}

// WatchGitLab adds gauges read from cs on every scrape: the calls waiting
// for a rate-limit slot and the projects they belong to, by budget ("calls":
// rate_per_minute; "notes": notes_per_minute).
func (m *Metrics) WatchGitLab(cs *gitlab.Clients) {
	m.reg.MustRegister(&budgetCollector{cs: cs,
		calls: prometheus.NewDesc("hookgate_gitlab_budget_waiting_calls",
			"GitLab API calls waiting for a slot of the client-side rate limits, by budget (calls: rate_per_minute, notes: notes_per_minute).",
			[]string{"budget"}, nil),
		projects: prometheus.NewDesc("hookgate_gitlab_budget_waiting_projects",
			"Projects with GitLab API calls waiting for a slot, by budget; the slots go to them in turn.",
			[]string{"budget"}, nil),
	})
}

type budgetCollector struct {
	cs              *gitlab.Clients
	calls, projects *prometheus.Desc
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.calls
	ch <- c.projects
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.cs.Waiting()
	ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, float64(w.Calls), "calls")
	ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, float64(w.Notes), "notes")
	ch <- prometheus.MustNewConstMetric(c.projects, prometheus.GaugeValue, float64(w.CallProjects), "calls")
	ch <- prometheus.MustNewConstMetric(c.projects, prometheus.GaugeValue, float64(w.NoteProjects), "notes")
}
