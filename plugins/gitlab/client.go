package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/internal/gitlabhttp"
	"github.com/hookgate/hookgate/plugins"
)

// accessCacheTTL is how long an access level is reused without asking GitLab.
const accessCacheTTL = 60 * time.Second

// Client talks to one GitLab instance. Plugins never use it directly: they
// get a Scope bound to their event. It is safe for concurrent use.
type Client struct {
	base        string // normalized instance URL
	botUsername string
	dryRun      bool
	timeout     time.Duration
	api         *gl.Client // nil in dry run without an instance
	transport   *captureTransport
	limit       *fairLimiter // all calls
	notes       *fairLimiter // note and commit-comment creation
	logger      *slog.Logger
	observe     func(instance string, call queue.Call)
	now         func() time.Time

	mu     sync.Mutex
	access map[accessKey]accessEntry

	ids projectIDs // GitLab's ids of project paths (Bind)
}

type accessKey struct {
	project string
	user    int64
}

type accessEntry struct {
	level   int
	expires time.Time
}

// newClient builds the client-go client for one instance: its base URL, a
// copy of the HTTP client that follows no redirect (the token would go
// along) and whose transport keeps error bodies readable and caps response
// sizes, client-go's own retries and rate limiter disabled
// (hookgate's queue retries with backoff; our limiters run before each
// call).
func newClient(inst Instance, logger *slog.Logger) (*Client, error) {
	if inst.URL == "" {
		return nil, errors.New("url is empty")
	}
	c := &Client{
		base:        normalizeURL(inst.URL),
		botUsername: inst.BotUsername,
		dryRun:      inst.DryRun,
		timeout:     inst.Timeout,
		logger:      logger,
		now:         time.Now,
		access:      map[accessKey]accessEntry{},
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	perMin := inst.RatePerMinute
	if perMin <= 0 {
		perMin = DefaultRatePerMinute
	}
	notesPerMin := inst.NotesPerMinute
	if notesPerMin <= 0 {
		notesPerMin = DefaultNotesPerMinute
	}
	c.limit = newFairLimiter(perMin, nil)
	c.notes = newFairLimiter(notesPerMin, nil)

	hc := gitlabhttp.Client(inst.HTTPClient) // a copy that follows no redirect
	if hc.Timeout == 0 {
		hc.Timeout = c.timeout
	}
	c.transport = &captureTransport{base: hc.Transport, limit: MaxResponseBytes}
	hc.Transport = c.transport

	api, err := gl.NewClient(inst.Token,
		gl.WithBaseURL(c.base),
		gl.WithHTTPClient(hc),
		gl.WithoutRetries(),
		gl.WithCustomRetryMax(0),
		gl.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)),
		gl.WithURLWarningLogger(logger),
		gl.WithUserAgent("hookgate"),
	)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	c.api = api
	return c, nil
}

// Instance returns the normalized base URL of the client's instance.
func (c *Client) Instance() string { return c.base }

// DryRun reports whether the client records calls without sending them.
func (c *Client) DryRun() bool { return c.dryRun }

// Scope returns a scope bound to the event's project (env.Project.ID, else
// its path) and to its merge request, issue, note and commit. eventUUID is
// sent as X-Gitlab-Event-UUID on every call when not empty. env must not be
// changed while the scope is in use.
func (c *Client) Scope(env *envelope.Envelope, eventUUID string) *Scope {
	s := &Scope{c: c, env: env, uuid: eventUUID}
	switch {
	case env.Project.ID > 0:
		s.pid = env.Project.ID
		s.pidPath = strconv.FormatInt(env.Project.ID, 10)
	case env.Project.Path != "":
		s.pid = env.Project.Path
		s.pidPath = gl.PathEscape(env.Project.Path)
	}
	return s
}

// cachedAccess returns a cached access level that has not expired.
func (c *Client) cachedAccess(project string, user int64) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.access[accessKey{project, user}]
	if !ok || !c.now().Before(e.expires) {
		return 0, false
	}
	return e.level, true
}

// storeAccess caches an access level for accessCacheTTL, dropping expired
// entries when the cache has grown.
func (c *Client) storeAccess(project string, user int64, level int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.access) >= 1024 {
		for k, e := range c.access {
			if !now.Before(e.expires) {
				delete(c.access, k)
			}
		}
	}
	c.access[accessKey{project, user}] = accessEntry{level: level, expires: now.Add(accessCacheTTL)}
}

// request describes one API call for the executor.
type request struct {
	method string
	path   string // API path below /api/v4 as sent, query included
	body   any    // request body, marshalled for the record; nil for none
	note   bool   // counts against the notes limit
	// ok404 makes 404 an answer, not a failure (not a member, no file).
	ok404 bool
	// harmless, when set, says a failed answer is not a failure (e.g. 409
	// on a commit status); the call returns nil.
	harmless func(status int, message string) bool
}

// result is what the executor tells the caller.
type result struct {
	dry    bool
	status int
}

// sendFunc performs the client-go call with the request options to apply.
type sendFunc func(opts ...gl.RequestOptionFunc) (*gl.Response, error)

// call runs one API call: in dry run it only records it; otherwise it waits
// for the rate limiters, sends it with a timeout and the event UUID header,
// records it and classifies a failure (see classify).
func (s *Scope) call(ctx context.Context, r request, send sendFunc) (result, error) {
	if err := s.start(r.method, r.path); err != nil {
		return result{}, err
	}
	rec := queue.Call{Method: r.method, Path: r.path}
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return result{}, fmt.Errorf("gitlab: %s %s: encoding body: %w", r.method, r.path, err)
		}
		rec.Body = b
	}
	c := s.c
	if c.dryRun || c.api == nil {
		rec.DryRun = true
		s.record(rec)
		return result{dry: true}, nil
	}

	if after, err := c.wait(ctx, s.pidPath, r.note); err != nil {
		// Not sent: worth another run once a slot is free.
		err = plugins.Retry(fmt.Sprintf("gitlab: %s %s: %v", r.method, r.path, err), after)
		rec.Error = err.Error()
		s.record(rec)
		return result{}, err
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	capt := &capture{}
	ctx = context.WithValue(ctx, captureKey{}, capt)
	opts := make([]gl.RequestOptionFunc, 1, 2)
	opts[0] = gl.WithContext(ctx)
	if s.uuid != "" {
		opts = append(opts, gl.WithHeader("X-Gitlab-Event-UUID", s.uuid))
	}
	start := time.Now()
	resp, err := safeSend(send, opts)
	rec.Duration = time.Since(start)

	var redirect *gitlabhttp.RedirectError
	if errors.As(err, &redirect) {
		// Final: the instance's URL is wrong, or something between us and
		// GitLab sends us elsewhere; retrying would not change that.
		rec.Status = redirect.Status
		err = fmt.Errorf("gitlab: %s %s: %w", r.method, r.path, redirect)
		rec.Error = err.Error()
		s.record(rec)
		c.logger.Warn("gitlab: redirect refused", "method", r.method, "path", r.path,
			"status", redirect.Status, "location", redirect.Location)
		return result{status: rec.Status}, err
	}

	var header http.Header
	if resp != nil && resp.Response != nil {
		rec.Status = resp.StatusCode
		header = resp.Header
	}
	res := result{status: rec.Status}
	if err != nil && r.ok404 && rec.Status == http.StatusNotFound {
		err = nil
	}
	if err != nil {
		msg := errorMessage(capt.body)
		if r.harmless != nil && rec.Status != 0 && r.harmless(rec.Status, msg) {
			rec.Error = "ignored: " + statusText(rec.Status, msg)
			s.record(rec)
			c.logger.Info("gitlab: harmless failure ignored",
				"method", r.method, "path", r.path, "status", rec.Status, "message", msg)
			return res, nil
		}
		err = classify(r.method, r.path, rec.Status, header, msg, err, time.Now())
		rec.Error = err.Error()
		s.record(rec)
		c.logger.Debug("gitlab: call failed", "method", r.method, "path", r.path,
			"status", rec.Status, "duration", rec.Duration, "error", rec.Error)
		return res, err
	}
	s.record(rec)
	c.logger.Debug("gitlab: call", "method", r.method, "path", r.path,
		"status", rec.Status, "duration", rec.Duration)
	return res, nil
}

// safeSend runs send, turning a panic inside client-go (it has panicked on
// unexpected answers, e.g. an issue without "id") into an error.
func safeSend(send sendFunc, opts []gl.RequestOptionFunc) (resp *gl.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reading answer: client panic: %v", p)
		}
	}()
	return send(opts...)
}
