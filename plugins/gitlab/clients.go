// Package gitlab owns the sandboxed GitLab API binding that Lua plugins use:
// one API client per configured GitLab instance (gitlab.com/gitlab-org/api/client-go),
// a Scope that ties every call to the event's own project and records it for
// the delivery log, client-side rate limits, the classification of failures
// into retryable and final errors, dry run, and the "gitlab" Lua module.
//
// Nothing here takes a project argument: a plugin can only act on the
// project of the event it runs for.
package gitlab

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Defaults applied to zero Instance fields.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultRatePerMinute  = 600
	DefaultNotesPerMinute = 60
)

// Instance configures one GitLab instance (a [[gitlab]] block).
type Instance struct {
	// URL is the instance base URL, e.g. "https://gitlab.example.com"; the
	// API is URL + "/api/v4". It is also what events are matched against
	// (X-Gitlab-Instance, project URLs).
	URL string
	// Token is the bot's API token, sent as PRIVATE-TOKEN. It never appears
	// in recorded calls, logs or errors.
	Token string
	// BotUsername is the bot's user name (notes by it never trigger rules).
	BotUsername string
	// DryRun records calls and sends nothing.
	DryRun bool
	// Timeout bounds each API call. Default DefaultTimeout.
	Timeout time.Duration
	// RatePerMinute limits all API calls to this instance. Default
	// DefaultRatePerMinute.
	RatePerMinute int
	// NotesPerMinute limits note and commit-comment creation. Default
	// DefaultNotesPerMinute (GitLab.com's limit).
	NotesPerMinute int
	// HTTPClient is used for the API calls; nil means a fresh client. It is
	// copied, never modified.
	HTTPClient *http.Client
}

// Clients holds one Client per configured instance and picks the one an
// event belongs to. It is safe for concurrent use.
type Clients struct {
	clients []*Client
	logger  *slog.Logger
	observe func(instance string, call queue.Call)
}

// New builds a Client for each instance. With no instances every event gets
// a dry-run client (see For). The logger receives debug lines for calls and
// notes about harmless failures; nil discards them.
func New(instances []Instance, logger *slog.Logger) (*Clients, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cs := &Clients{logger: logger}
	seen := map[string]bool{}
	for i, inst := range instances {
		c, err := newClient(inst, logger)
		if err != nil {
			return nil, fmt.Errorf("gitlab: instance %d (%s): %w", i+1, inst.URL, err)
		}
		if seen[c.base] {
			return nil, fmt.Errorf("gitlab: instance %s configured twice", c.base)
		}
		seen[c.base] = true
		cs.clients = append(cs.clients, c)
	}
	return cs, nil
}

// OnCall registers f to be told about every call any client records (real
// or dry run), e.g. to count calls in metrics. Call it before the clients
// are used; f must be safe for concurrent use and quick.
func (cs *Clients) OnCall(f func(instance string, call queue.Call)) {
	cs.observe = f
	for _, c := range cs.clients {
		c.observe = f
	}
}

// For returns the client for the event's instance: the configured
// instance env.Instance names (see envelope.NormalizeInstance), or the only
// configured instance when env.Instance is empty. The receiver sets
// env.Instance to the instance the delivery was authenticated for, so
// nothing in the body chooses it. With no instance configured, or an
// instance that is not configured (Bind refuses those before any rule
// runs), it returns a dry-run client for env.Instance that records calls
// and sends nothing.
func (cs *Clients) For(env *envelope.Envelope) *Client {
	if c := cs.resolve(env.Instance); c != nil {
		return c
	}
	return &Client{
		base:    normalizeURL(env.Instance),
		dryRun:  true,
		logger:  cs.logger,
		observe: cs.observe,
		now:     time.Now,
	}
}

// resolve returns the configured client for an instance: the one it names,
// the only one for "", a dry-run client when none is configured, nil for
// an instance that is not configured.
func (cs *Clients) resolve(instance string) *Client {
	if c := cs.match(instance); c != nil {
		return c
	}
	switch {
	case len(cs.clients) == 0:
		return &Client{base: normalizeURL(instance), dryRun: true, logger: cs.logger, observe: cs.observe, now: time.Now}
	case instance == "" && len(cs.clients) == 1:
		return cs.clients[0]
	}
	return nil
}

// BotUsername returns the bot user name configured for the instance with
// that base URL, else the only instance's, else "".
func (cs *Clients) BotUsername(instance string) string {
	if c := cs.match(instance); c != nil {
		return c.botUsername
	}
	if len(cs.clients) == 1 {
		return cs.clients[0].botUsername
	}
	return ""
}

// AccessLevel returns the user's effective access level in the event's
// project (0 if not a member). It uses the Scope in ctx when that scope is
// bound to env, so the call is recorded there; otherwise a scope of its own.
// In dry run it returns DryRunAccessLevel.
func (cs *Clients) AccessLevel(ctx context.Context, env *envelope.Envelope, userID int64) (int, error) {
	if s, ok := ScopeFrom(ctx); ok && s.env == env {
		return s.AccessLevel(ctx, userID)
	}
	return cs.For(env).Scope(env, "").AccessLevel(ctx, userID)
}

// match finds the configured instance whose base URL equals instance.
func (cs *Clients) match(instance string) *Client {
	if instance == "" {
		return nil
	}
	n := normalizeURL(instance)
	for _, c := range cs.clients {
		if c.base == n {
			return c
		}
	}
	return nil
}

// normalizeURL is envelope.NormalizeInstance: the one spelling of an
// instance URL every comparison uses.
func normalizeURL(s string) string { return envelope.NormalizeInstance(s) }
