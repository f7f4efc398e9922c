package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/fair"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/rules"
)

// Fairness is what keeps one project's or one user's flood from starving
// the others (see package fair). The zero value changes nothing.
type Fairness struct {
	// Commands refuses commands beyond the per-user and per-project
	// limits; nil means no limits.
	Commands *fair.CommandLimits
	// Admission puts back the deliveries of projects whose calls wait for
	// GitLab budget; nil runs every delivery when claimed.
	Admission *fair.Admission
}

// NewFairness builds the gateway's Fairness from [fairness] and the plugin
// timeout: a backlogged project's run may expect to wait up to half the
// plugin timeout for budget (the wait counts against it), and a delivery
// is put back at most 8 times (a NATS consumer allows at least 10 more
// deliveries than the runs and crashes it counts).
func NewFairness(f config.Fairness, pluginTimeout time.Duration) Fairness {
	return Fairness{
		Commands:  fair.NewCommandLimits(f.CommandsPerUser, f.CommandsPerProject, time.Duration(f.CommandWindow)),
		Admission: &fair.Admission{MaxWait: pluginTimeout / 2, MaxDeferrals: 8},
	}
}

// limitCommands refuses a command beyond the command limits: every rule it
// would run is skipped with the refusal as its reason, and no API call is
// made. A command is a note holding a slash command (env.Commands) for
// which at least one rule would run (found by matching with every access
// check granted, so matching costs no call; notes by the bot match no
// rule). It is counted on its first claim only: not again on a retry,
// after a deferral or on a replay.
func (p *Pipeline) limitCommands(ctx context.Context, b *Bundle, d *queue.Delivery, now time.Time) (queue.Report, bool) {
	env := &d.Envelope
	if p.Fairness.Commands == nil || env.Kind != "note" || len(env.Commands) == 0 || d.Attempts > 1 {
		return queue.Report{}, false
	}
	res := b.Rules.Match(ctx, env, rules.Deps{Access: grantAll{}, BotUsername: p.GitLab.BotUsername})
	if len(res.Matches) == 0 {
		return queue.Report{}, false
	}
	instance := p.GitLab.For(env).Instance()
	// A user is counted within the project: the user in a body is what
	// that project's secret holder says, so a count across projects would
	// let one project's secret spend another project's users' budget.
	project := projectWho(instance, env)
	user := fair.Who{Key: project.Key + " user " + strconv.FormatInt(env.User.ID, 10), Name: env.User.Username}
	if env.User.ID == 0 {
		user.Key = project.Key + " username " + strings.ToLower(env.User.Username)
	}
	refusal, ok := p.Fairness.Commands.Allow(user, project, now)
	if ok {
		return queue.Report{}, false
	}
	reason := refusal.Reason()
	p.Metrics.commandRefused(refusal.Limit)
	level := slog.LevelDebug
	if refusal.First {
		level = slog.LevelWarn
	}
	p.Logger.Log(ctx, level, "command refused", "delivery", d.ID, "reason", reason,
		"user", env.User.Username, "project", env.Project.Path, "limit", refusal.Limit)

	var out []queue.Outcome
	for _, s := range res.Skipped {
		p.Metrics.ruleMatched(s.Rule)
		out = append(out, queue.Outcome{Rule: s.Rule, Status: OutcomeSkipped, Error: s.Reason, Started: now})
	}
	for _, m := range res.Matches {
		p.Metrics.ruleMatched(m.Rule.Name)
		out = append(out, queue.Outcome{Rule: m.Rule.Name, Plugin: m.Rule.Plugin, Status: OutcomeSkipped, Error: reason, Started: now})
	}
	r := queue.Report{Status: queue.StatusDone, Outcomes: out}
	for _, e := range res.Errors {
		r.Outcomes = append(r.Outcomes, queue.Outcome{Rule: e.Rule, Status: OutcomeError, Error: e.Err.Error(), Started: now, Attempts: 1})
		r.Status, r.Error = queue.StatusFailed, "a rule failed"
	}
	return r, true
}

// admit asks Admission whether d runs now. If so it returns the function
// that ends the run; if not, the report that puts d back, its outcomes as
// they were, until a turn the project's rate limiter promises it.
func (p *Pipeline) admit(d *queue.Delivery, now time.Time) (func(), queue.Report, bool) {
	a := p.Fairness.Admission
	if a == nil {
		return func() {}, queue.Report{}, true
	}
	env := &d.Envelope
	c := p.GitLab.For(env)
	key := projectWho(c.Instance(), env).Key
	pressure := c.Pressure(env)
	if a.Admit(key, pressure, d.Attempts) {
		return func() { a.Done(key) }, queue.Report{}, true
	}
	after := c.Defer(env)
	reason := fmt.Sprintf("deferred: this project's GitLab API calls wait for budget (%d waiting, %d runs under way); its turn is in %s",
		pressure.Waiting, a.InFlight(key), after.Round(time.Millisecond))
	p.Metrics.deferred()
	p.Logger.Debug("delivery deferred", "delivery", d.ID, "project", env.Project.Path, "reason", reason)
	return nil, queue.Report{Status: queue.StatusQueued, RetryAt: now.Add(after), Error: reason, Outcomes: d.Outcomes}, false
}

// projectWho is the event's project for the fairness counts, once bound
// (gitlab.Clients.Bind): GitLab's id for its path (its path when there is
// none, as in dry run without an id) on its instance.
func projectWho(instance string, env *envelope.Envelope) fair.Who {
	name := env.Project.Path
	if env.Project.ID > 0 {
		if name == "" {
			name = strconv.FormatInt(env.Project.ID, 10)
		}
		return fair.Who{Key: instance + " project " + strconv.FormatInt(env.Project.ID, 10), Name: name}
	}
	return fair.Who{Key: instance + " path " + strings.ToLower(env.Project.Path), Name: name}
}

// grantAll is an access checker that grants every level without asking
// GitLab: limitCommands matches with it to learn, for free, which rules a
// note would run.
type grantAll struct{}

func (grantAll) AccessLevel(context.Context, *envelope.Envelope, int64) (int, error) { return 50, nil }
