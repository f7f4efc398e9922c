package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// Binding a delivery to the project GitLab knows. A verified webhook
// secret authenticates an instance and a project path; the body's project
// id is only what its sender says. Before any rule runs, Bind asks GitLab
// (once per project and projectIDTTL, then from a cache) for the id of
// that path on that instance, refuses a body that claims another, and
// sets the envelope's id to GitLab's: every call a plugin makes is
// addressed to that project.

// projectIDTTL is how long a project id looked up from GitLab is reused.
// A project keeps its id for life; only a rename or transfer that hands the
// path to another project changes the answer.
const projectIDTTL = time.Hour

// unknownProjectTTL is how long a path GitLab does not know (404: no such
// project, or the bot cannot see it) is answered from the cache, so a
// secret holder naming made-up paths costs the bot's budget one call per
// path at most every unknownProjectTTL.
const unknownProjectTTL = 10 * time.Minute

// maxProjectIDs bounds the cache per instance; past it, expired entries
// are dropped, then the cache starts over.
const maxProjectIDs = 100_000

// IdentityError is a delivery whose body contradicts the identity its
// secret binds. It is final: running the delivery again gives the same.
type IdentityError struct {
	// Reason is "instance" or "project_id" (the receiver's reasons).
	Reason string
	Msg    string
}

func (e *IdentityError) Error() string { return "identity: " + e.Msg }

type projectIDEntry struct {
	id      int64 // 0: GitLab answered 404 (unknownProjectTTL)
	err     error // the 404, for an id of 0
	expires time.Time
}

// projectIDs caches the ids GitLab gave for project paths (normalized).
type projectIDs struct {
	mu sync.Mutex
	m  map[string]projectIDEntry
	// lookups are the lookups under way, by path: a delivery for a path
	// being looked up waits for that answer instead of asking again.
	lookups map[string]*lookup
}

// lookup is one lookup under way; done is closed when id and err are set.
type lookup struct {
	done chan struct{}
	id   int64
	err  error
}

// once returns the id of path from the cache, or from one call of ask
// shared by every concurrent caller for that path (its answer cached when
// it succeeds).
func (p *projectIDs) once(ctx context.Context, path string, now func() time.Time, ask func() (int64, error)) (int64, error) {
	p.mu.Lock()
	if e, ok := p.m[path]; ok && !now().After(e.expires) {
		p.mu.Unlock()
		return e.id, e.err
	}
	if l, ok := p.lookups[path]; ok {
		p.mu.Unlock()
		select {
		case <-l.done:
			return l.id, l.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	l := &lookup{done: make(chan struct{})}
	if p.lookups == nil {
		p.lookups = map[string]*lookup{}
	}
	p.lookups[path] = l
	p.mu.Unlock()

	l.id, l.err = ask()
	var ae *APIError
	switch {
	case l.err == nil:
		p.put(path, l.id, nil, now())
	case errors.As(l.err, &ae) && ae.Status == http.StatusNotFound:
		p.put(path, 0, l.err, now())
	}
	p.mu.Lock()
	delete(p.lookups, path)
	p.mu.Unlock()
	close(l.done)
	return l.id, l.err
}

func (p *projectIDs) get(path string, now time.Time) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.m[path]
	if !ok || now.After(e.expires) || e.id == 0 {
		return 0, false
	}
	return e.id, true
}

// put caches GitLab's answer for path: an id for projectIDTTL, or (id 0)
// its 404 for unknownProjectTTL.
func (p *projectIDs) put(path string, id int64, err error, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]projectIDEntry{}
	}
	if len(p.m) >= maxProjectIDs {
		for k, e := range p.m {
			if now.After(e.expires) {
				delete(p.m, k)
			}
		}
		if len(p.m) >= maxProjectIDs {
			clear(p.m)
		}
	}
	ttl := projectIDTTL
	if id == 0 {
		ttl = unknownProjectTTL
	}
	p.m[path] = projectIDEntry{id: id, err: err, expires: now.Add(ttl)}
}

// KnownProjectID returns GitLab's id for a project path on an instance
// when a lookup within projectIDTTL gave it; it never asks GitLab.
func (cs *Clients) KnownProjectID(instance, path string) (int64, bool) {
	c := cs.match(instance)
	if c == nil {
		return 0, false
	}
	return c.ids.get(envelope.NormalizeProjectPath(path), c.now())
}

// Bind checks env's identity against GitLab before rules run for it, and
// fixes env.Project.ID to GitLab's id for env.Project.Path on env.Instance:
//   - the instance must be a configured one (or, with one configured and
//     the delivery naming none, that one); otherwise an *IdentityError;
//   - a delivery without a project path acts on no project: its id is
//     cleared, whatever the body said;
//   - the id is looked up (GET /projects/:path, cached for projectIDTTL);
//     a body with another id gets an *IdentityError, a project the bot
//     cannot see (404) an *APIError, GitLab unavailable a retryable error.
//
// In dry run nothing is sent, so nothing is looked up: the body's id is
// kept, and calls are only recorded.
func (cs *Clients) Bind(ctx context.Context, env *envelope.Envelope, eventUUID string) error {
	c := cs.resolve(env.Instance)
	if c == nil {
		return &IdentityError{Reason: "instance", Msg: fmt.Sprintf("the delivery's instance %q is not a configured GitLab instance", env.Instance)}
	}
	if env.Project.Path == "" {
		env.Project.ID = 0
		return nil
	}
	if c.dryRun || c.api == nil {
		return nil
	}
	path := envelope.NormalizeProjectPath(env.Project.Path)
	id, err := c.ids.once(ctx, path, c.now, func() (int64, error) { return c.lookupProjectID(ctx, env, eventUUID) })
	if err != nil {
		return err
	}
	if env.Project.ID != 0 && env.Project.ID != id {
		return &IdentityError{Reason: "project_id", Msg: fmt.Sprintf("project id %d in the body is not GitLab's id for %s on %s (%d)", env.Project.ID, env.Project.Path, c.base, id)}
	}
	env.Project.ID = id
	return nil
}

// lookupProjectID asks GitLab for the id of env's project path, as one
// rate-limited call of a scope addressed by path.
func (c *Client) lookupProjectID(ctx context.Context, env *envelope.Envelope, eventUUID string) (int64, error) {
	byPath := *env
	byPath.Project.ID = 0
	s := c.Scope(&byPath, eventUUID)
	api := c.api
	var p *gl.Project
	_, err := s.call(ctx, request{method: http.MethodGet, path: s.projectPath()}, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		p, resp, err = api.Projects.GetProject(s.pid, nil, o...)
		return resp, err
	})
	switch {
	case err != nil:
		return 0, err
	case p == nil || p.ID <= 0:
		return 0, fmt.Errorf("gitlab: GET %s: answer without a project id", s.projectPath())
	case envelope.NormalizeProjectPath(p.PathWithNamespace) != envelope.NormalizeProjectPath(env.Project.Path):
		// GitLab answered for another path (a project moved away, and the
		// old path redirects): the delivery's path is not this project's.
		return 0, &IdentityError{Reason: "project_id", Msg: fmt.Sprintf("GitLab knows %s as %s now", env.Project.Path, p.PathWithNamespace)}
	}
	return p.ID, nil
}
