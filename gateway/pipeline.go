package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/plugins/gitlab"
	"github.com/hookgate/hookgate/rules"
)

// Outcome statuses stored per rule.
const (
	OutcomeOK      = "ok"
	OutcomeError   = "error"
	OutcomeRetry   = "retry"
	OutcomeSkipped = "skipped"
	OutcomeDead    = "dead"
)

// RetryPolicy shapes retries of transient plugin failures.
type RetryPolicy struct {
	// MaxAttempts is how many runs a delivery gets before a rule that keeps
	// failing transiently is dead-lettered.
	MaxAttempts int
	// Base and Max bound the exponential backoff: Base·2^(n-1), capped at
	// Max, with jitter.
	Base, Max time.Duration
}

// Backoff returns the delay before run attempt+1, at least min.
func (p RetryPolicy) Backoff(attempt int, min time.Duration) time.Duration {
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	// Equal jitter: half fixed, half random, so retries of many events
	// spread out but never come sooner than half the backoff.
	if d > 1 {
		d = d/2 + rand.N(d/2)
	}
	if d < min {
		d = min
	}
	return d
}

// Bundle is one consistent set of rules and the plugins they run. It is
// built whole and swapped in atomically on reload.
type Bundle struct {
	Rules   *rules.Set
	Plugins *plugins.Set
}

// Pipeline is the Processor that evaluates rules and runs plugins.
type Pipeline struct {
	// Bundle returns the rule set in force; events use the set current
	// when they are processed.
	Bundle func() *Bundle
	GitLab *gitlab.Clients
	Retry  RetryPolicy
	Logger *slog.Logger
	Now    func() time.Time
	// Metrics counts matches, plugin runs, retries and dead letters; nil
	// means none.
	Metrics *Metrics
	// Fairness refuses command floods and defers the deliveries of
	// projects waiting for GitLab budget (fairness.go); zero: neither.
	Fairness Fairness
}

var _ Processor = (*Pipeline)(nil)

// Process evaluates every rule against the delivery's envelope and runs the
// matching plugins. Rules that already succeeded for this delivery (on an
// earlier attempt) are not run again. First, a command beyond the command
// limits is refused (its rules skipped), and a delivery whose project's
// calls wait for GitLab budget is put back until its turn (fairness.go).
func (p *Pipeline) Process(ctx context.Context, d *queue.Delivery) queue.Report {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	b := p.Bundle()
	env := &d.Envelope
	log := p.Logger
	// The project the delivery acts on is GitLab's id for its
	// authenticated path, checked before anything runs, the fairness
	// counts included: they must key on the bound project, never on an id
	// the body chose (a secret holder could spend another project's
	// command budget or turns).
	if r, refused := p.bind(ctx, d, now); refused {
		return r
	}
	if r, refused := p.limitCommands(ctx, b, d, now()); refused {
		return r
	}
	done, deferral, ok := p.admit(d, now())
	if !ok {
		return deferral
	}
	defer done()

	prev := make(map[string]queue.Outcome, len(d.Outcomes))
	for _, o := range d.Outcomes {
		prev[o.Rule] = o
	}
	// The access checks of require_access are calls the event causes too:
	// they carry its X-Gitlab-Event-UUID, like the plugins' calls.
	matchCtx := gitlab.WithScope(ctx, p.GitLab.For(env).Scope(env, d.Headers["X-Gitlab-Event-UUID"]))
	res := b.Rules.Match(matchCtx, env, rules.Deps{Access: p.GitLab, BotUsername: p.GitLab.BotUsername})

	var out []queue.Outcome
	for _, s := range res.Skipped {
		p.Metrics.ruleMatched(s.Rule)
		out = append(out, queue.Outcome{Rule: s.Rule, Status: OutcomeSkipped, Error: s.Reason, Started: now()})
	}
	var retryAfter time.Duration
	backoffAttempt := 0 // the most attempts a retrying rule has had
	retrying, failed := false, false
	// settle counts the attempt and applies the retry policy to o.
	settle := func(o queue.Outcome, after time.Duration) queue.Outcome {
		o.Attempts = prev[o.Rule].Attempts + 1
		switch o.Status {
		case OutcomeRetry:
			// Counted per rule, not per delivery: a replay clears the
			// outcomes, so a replayed delivery gets its retries again.
			if o.Attempts >= p.Retry.MaxAttempts {
				o.Status = OutcomeDead
				o.Error = fmt.Sprintf("gave up after %d attempts: %s", o.Attempts, o.Error)
				failed = true
				p.Metrics.dead(DeadRetriesExhausted)
			} else {
				retrying = true
				backoffAttempt = max(backoffAttempt, o.Attempts)
				retryAfter = max(retryAfter, after) // the largest Retry-After asked for wins
			}
		case OutcomeError:
			failed = true
		}
		out = append(out, o)
		return o
	}
	for _, e := range res.Errors {
		o := queue.Outcome{Rule: e.Rule, Status: OutcomeError, Error: e.Err.Error(), Started: now()}
		var after time.Duration
		if re, ok := plugins.IsRetry(e.Err); ok {
			// e.g. GitLab answered 5xx to the access check: transient.
			o.Status, after = OutcomeRetry, re.After
		}
		settle(o, after)
	}
	for _, m := range res.Matches {
		if o, ok := prev[m.Rule.Name]; ok && (o.Status == OutcomeOK || o.Status == OutcomeError || o.Status == OutcomeDead) {
			out = append(out, o) // final already; keep it
			failed = failed || o.Status != OutcomeOK
			continue
		}
		p.Metrics.ruleMatched(m.Rule.Name)
		o := settle(p.runRule(ctx, b, d, m, log))
		p.Metrics.pluginRan(o.Plugin, o.Status, o.Duration)
	}

	// What the delivery log keeps of an error is bounded whatever its
	// source (plugins cut their own; rule errors and prefixes add to it).
	for i := range out {
		out[i].Error = plugins.Truncate(out[i].Error, plugins.MaxErrorBytes)
	}
	r := queue.Report{Outcomes: out}
	switch {
	case retrying:
		r.Status = queue.StatusQueued
		r.RetryAt = now().Add(p.Retry.Backoff(backoffAttempt, retryAfter))
		r.Error = "retrying transient failure"
		p.Metrics.retrying()
	case hasStatus(out, OutcomeDead):
		r.Status = queue.StatusDead
		r.Error = "retries exhausted"
	case failed:
		r.Status = queue.StatusFailed
		r.Error = "a rule failed"
	default:
		r.Status = queue.StatusDone
	}
	return r
}

// bind runs gitlab.Clients.Bind on the delivery's envelope. refused is
// true when the delivery must not run: its identity does not hold (final,
// counted in hookgate_identity_refused_total) or could not be checked
// (GitLab unavailable: retried like a transient plugin failure).
func (p *Pipeline) bind(ctx context.Context, d *queue.Delivery, now func() time.Time) (queue.Report, bool) {
	err := p.GitLab.Bind(ctx, &d.Envelope, d.Headers["X-Gitlab-Event-UUID"])
	if err == nil {
		return queue.Report{}, false
	}
	var ie *gitlab.IdentityError
	if errors.As(err, &ie) {
		p.Metrics.identityRefused(ie.Reason)
		p.Logger.Warn("delivery refused: identity", "delivery", d.ID, "project", d.Envelope.Project.Path, "err", err)
		return queue.Report{Status: queue.StatusFailed, Error: "refused: " + err.Error()}, true
	}
	if re, ok := plugins.IsRetry(err); ok && d.Attempts < p.Retry.MaxAttempts {
		p.Metrics.retrying()
		p.Logger.Warn("checking the delivery's project with GitLab failed; retrying", "delivery", d.ID, "err", err)
		return queue.Report{Status: queue.StatusQueued, RetryAt: now().Add(p.Retry.Backoff(d.Attempts, re.After)),
			Error: "checking the project with GitLab: " + err.Error()}, true
	}
	p.Logger.Error("delivery not run: its project could not be checked with GitLab", "delivery", d.ID, "err", err)
	return queue.Report{Status: queue.StatusFailed, Error: "checking the project with GitLab: " + err.Error()}, true
}

// runRule runs one matched rule's plugin. For a transient failure it also
// returns the delay the failure asked for (Retry-After), if any.
func (p *Pipeline) runRule(ctx context.Context, b *Bundle, d *queue.Delivery, m rules.Match, log *slog.Logger) (queue.Outcome, time.Duration) {
	env := &d.Envelope
	o := queue.Outcome{Rule: m.Rule.Name, Plugin: m.Rule.Plugin, Started: time.Now().UTC()}
	scope := p.GitLab.For(env).Scope(env, d.Headers["X-Gitlab-Event-UUID"])
	res := b.Plugins.Run(gitlab.WithScope(ctx, scope), m.Rule.Plugin, env, m.Params)
	o.Duration = res.Duration
	o.Logs = res.Logs
	o.Calls = scope.Calls()
	o.Result = res.Value
	switch res.Status {
	case "ok":
		o.Status = OutcomeOK
	case "retry":
		o.Status = OutcomeRetry
		o.Error = errString(res.Err)
		if res.RetryAfter > 0 {
			o.Error = fmt.Sprintf("%s (retry after %s)", o.Error, res.RetryAfter)
		}
	default:
		o.Status = OutcomeError
		o.Error = errString(res.Err)
	}
	log.Info("rule ran", "delivery", d.ID, "rule", o.Rule, "plugin", o.Plugin, "status", o.Status, "took", o.Duration.Round(time.Microsecond).String(), "error", o.Error)
	return o, res.RetryAfter
}

func hasStatus(out []queue.Outcome, status string) bool {
	for _, o := range out {
		if o.Status == status {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
