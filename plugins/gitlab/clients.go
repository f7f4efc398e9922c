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
	"net/url"
	"strings"
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

// For returns the client for the event's instance: the configured instance
// whose URL matches env.Instance, else the one whose scheme and host match
// the project URL, else the only configured instance. With no instances, or
// no match among several, it returns a dry-run client for env.Instance that
// records calls and sends nothing.
func (cs *Clients) For(env *envelope.Envelope) *Client {
	if c := cs.match(env.Instance); c != nil {
		return c
	}
	if c := cs.matchProjectURL(env.Project.URL); c != nil {
		return c
	}
	if len(cs.clients) == 1 {
		return cs.clients[0]
	}
	if len(cs.clients) > 1 {
		cs.logger.Warn("gitlab: no configured instance matches the event; calls are recorded, not sent",
			"instance", env.Instance, "project", env.Project.Path)
	}
	return &Client{
		base:    normalizeURL(env.Instance),
		dryRun:  true,
		logger:  cs.logger,
		observe: cs.observe,
		now:     time.Now,
	}
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

// matchProjectURL finds the configured instance serving a project web URL:
// same scheme and host, and the instance's path (if any) a prefix of the
// project's path. The longest matching instance path wins.
func (cs *Clients) matchProjectURL(projectURL string) *Client {
	if projectURL == "" {
		return nil
	}
	pu, err := url.Parse(projectURL)
	if err != nil || pu.Host == "" {
		return nil
	}
	var best *Client
	bestLen := -1
	for _, c := range cs.clients {
		iu, err := url.Parse(c.base)
		if err != nil {
			continue
		}
		if !strings.EqualFold(iu.Scheme, pu.Scheme) || !strings.EqualFold(iu.Host, pu.Host) {
			continue
		}
		if p := iu.Path; p != "" && pu.Path != p && !strings.HasPrefix(pu.Path, p+"/") {
			continue
		}
		if len(iu.Path) > bestLen {
			best, bestLen = c, len(iu.Path)
		}
	}
	return best
}

// normalizeURL lowercases scheme and host and drops a trailing slash and an
// "/api/v4" suffix, so "https://GitLab.example.com/" matches
// "https://gitlab.example.com".
func normalizeURL(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return strings.TrimRight(s, "/")
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v4")
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + p
}
