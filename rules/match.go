package rules

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr/vm"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/internal/projectglob"
)

// Set is a loaded, compiled and immutable set of rules, indexed by kind. It
// is safe for concurrent use; reloading builds a new Set.
type Set struct {
	files   []string
	rules   []*Rule            // every rule, file order, disabled ones too
	byKind  map[string][]*Rule // kind -> enabled rules for it (with on = [kind] or no on), file order
	anyKind []*Rule            // enabled rules without on, file order
}

func newSet(files []string, rules []*Rule) *Set {
	s := &Set{files: files, rules: rules, byKind: map[string][]*Rule{}}
	kinds := map[string]bool{}
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		if len(r.On) == 0 {
			s.anyKind = append(s.anyKind, r)
		}
		for _, k := range r.On {
			kinds[k] = true
		}
	}
	for k := range kinds {
		var list []*Rule
		for _, r := range rules {
			if r.Enabled && (len(r.On) == 0 || contains(r.On, k)) {
				list = append(list, r)
			}
		}
		s.byKind[k] = list
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Rules returns every loaded rule in evaluation order (files sorted, then
// position in the file), including disabled ones. Do not modify them.
func (s *Set) Rules() []*Rule { return s.rules }

// Wants reports whether any enabled rule can act on events of this kind
// (a rule for the kind, or one without `on`). The receiver ignores events
// no rule wants instead of storing them.
func (s *Set) Wants(kind string) bool {
	return len(s.anyKind) > 0 || len(s.byKind[kind]) > 0
}

// Files returns the rule files loaded, sorted.
func (s *Set) Files() []string { return s.files }

// Plugins returns the distinct plugin names used by enabled rules, in
// first-use order.
func (s *Set) Plugins() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range s.rules {
		if r.Enabled && !seen[r.Plugin] {
			seen[r.Plugin] = true
			out = append(out, r.Plugin)
		}
	}
	return out
}

// AccessChecker tells the access level a user has in the event's project.
type AccessChecker interface {
	// AccessLevel returns the user's effective access level (10 guest ..
	// 50 owner) in env's project on env's instance, 0 when the user is
	// not a member. An error means the level is unknown.
	AccessLevel(ctx context.Context, env *envelope.Envelope, userID int64) (int, error)
}

// Deps are what matching needs from outside the rule set.
type Deps struct {
	// Access checks require_access; rules that set it fail (EvalError)
	// when Access is nil. Wrap it with NewAccessCache to avoid asking
	// GitLab for every event.
	Access AccessChecker
	// BotUsername returns the bot's username on an instance ("" for none).
	// Events by that user do not match rules without allow_bots.
	BotUsername func(instance string) string
}

// Match is a rule that matched: its plugin runs with Params.
type Match struct {
	Rule   *Rule
	Params map[string]any // the rule's params; shared, do not modify
}

// Skip is a rule whose condition matched but that was not run, and why.
type Skip struct {
	Rule   string
	Reason string
}

// EvalError is a rule that could not be decided for this event: its
// condition failed at run time or the access check failed. Other rules are
// not affected.
type EvalError struct {
	Rule string
	Err  error
}

// Result is the outcome of matching one event. Matches are in evaluation
// order.
type Result struct {
	Matches []Match
	Skipped []Skip
	Errors  []EvalError
}

// runner is what evaluating conditions needs besides the event: a VM (not
// safe for concurrent use) and the meter of the evaluation in progress,
// with the metered functions bound to it. Pooled, so that the functions
// are built once per runner rather than once per event.
type runner struct {
	vm    vm.VM
	meter meter
	fns   metered
}

var runnerPool = sync.Pool{New: func() any {
	r := &runner{vm: vm.VM{MemoryBudget: memoryBudget}}
	r.fns = newMetered(&r.meter)
	return r
}}

// Match evaluates the rules that apply to env's kind, in file order, and
// returns the ones whose plugins should run. For each rule, in order: the
// projects filter (a rule for other projects is simply not a candidate),
// the condition, then the bot/system and edited-note filters, then
// require_access (last: it may cost an API call). A rule with stop = true
// that matches ends the evaluation. ctx bounds the access checks.
func (s *Set) Match(ctx context.Context, env *envelope.Envelope, deps Deps) Result {
	var res Result
	if s == nil || env == nil {
		return res
	}
	candidates, ok := s.byKind[env.Kind]
	if !ok {
		candidates = s.anyKind
	}
	if len(candidates) == 0 {
		return res
	}
	ev := newEvalEnv(env)
	run := runnerPool.Get().(*runner)
	defer runnerPool.Put(run)
	ev.metered = run.fns

	bot := ""
	if deps.BotUsername != nil {
		bot = deps.BotUsername(env.Instance)
	}
	byBot := bot != "" && strings.EqualFold(env.User.Username, bot)
	edited := env.Kind == "note" && env.Action == "update"
	level, levelKnown := 0, false

	for _, r := range candidates {
		if !r.appliesTo(env.Project.Path) {
			continue
		}
		if r.cond != nil {
			ok, err := r.cond.run(run, ev)
			if err != nil {
				res.Errors = append(res.Errors, EvalError{Rule: r.Name, Err: fmt.Errorf("when: %w", err)})
				continue
			}
			if !ok {
				continue
			}
		}
		if !r.AllowBots && byBot {
			res.Skipped = append(res.Skipped, Skip{Rule: r.Name, Reason: fmt.Sprintf("event by the bot user %s (allow_bots is false)", bot)})
			continue
		}
		if !r.AllowBots && env.System {
			res.Skipped = append(res.Skipped, Skip{Rule: r.Name, Reason: "system note (allow_bots is false)"})
			continue
		}
		if !r.OnEdit && edited {
			res.Skipped = append(res.Skipped, Skip{Rule: r.Name, Reason: "edited note (on_edit is false)"})
			continue
		}
		if r.RequireAccess > 0 {
			if env.User.ID == 0 {
				res.Skipped = append(res.Skipped, Skip{Rule: r.Name, Reason: "access denied: the event has no user, rule needs " + levelText(r.RequireAccess)})
				continue
			}
			if deps.Access == nil {
				res.Errors = append(res.Errors, EvalError{Rule: r.Name, Err: fmt.Errorf("require_access: no access checker configured")})
				continue
			}
			if !levelKnown {
				l, err := deps.Access.AccessLevel(ctx, env, env.User.ID)
				if err != nil {
					res.Errors = append(res.Errors, EvalError{Rule: r.Name, Err: fmt.Errorf("require_access: %w", err)})
					continue
				}
				level, levelKnown = l, true
			}
			if level < r.RequireAccess {
				res.Skipped = append(res.Skipped, Skip{Rule: r.Name, Reason: fmt.Sprintf("access denied: user %s has %s, rule needs %s",
					env.User.Username, levelText(level), levelText(r.RequireAccess))})
				continue
			}
		}
		res.Matches = append(res.Matches, Match{Rule: r, Params: r.Params})
		if r.Stop {
			break
		}
	}
	return res
}

// levelText is "developer (30)", or "no access (0)".
func levelText(level int) string {
	return fmt.Sprintf("%s (%d)", AccessName(level), level)
}

// appliesTo reports whether the rule's projects globs admit project path p.
func (r *Rule) appliesTo(p string) bool {
	if len(r.Projects) == 0 {
		return true
	}
	for _, g := range r.Projects {
		if projectglob.Match(g, p) {
			return true
		}
	}
	return false
}
