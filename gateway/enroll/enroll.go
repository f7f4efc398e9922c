// Package enroll owns per-project webhook secrets: creating or updating a
// project's webhook through the GitLab API with a fresh secret
// (`hookgate enroll`), rotating that secret with a grace period (`hookgate
// secret rotate`), and the file that records them for the gateway.
//
// The file holds, per project, only HMAC-SHA256(salt, SHA-256(token)) of
// each token under a per-file random salt (see auth.TokenHash); the plain
// token is returned once to the caller, who shows it to the admin, and is
// sent to GitLab. The gateway reads the file, reloads it when it changes,
// and accepts for an enrolled project only that project's live secrets.
//
// Order of operations, so that no delivery is refused while GitLab
// switches: the new secret is recorded (valid at once, next to the old
// ones) before the hook is changed; the old secrets get their end
// (now + grace) only after GitLab has the new one; a failed API call
// removes the new secret again.
//
// GitLab's webhook signing keys ("whsec_...") are not set here: the API
// client has no field for them. An admin who turns signing on configures
// the key in GitLab and in a [[secret]] block.
package enroll

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/internal/gitlabhttp"
)

// Default grace periods: how long the secrets a project had stay valid
// after enroll (a re-enrolment) or rotate gives it a new one.
const (
	DefaultEnrollGrace = 5 * time.Minute
	DefaultRotateGrace = 24 * time.Hour
)

// HookPath is the receiver's path, appended to [server] public_url.
const HookPath = "/hooks/gitlab"

// ErrNotEnrolled: rotate was asked for a project that has no enrolled secret.
var ErrNotEnrolled = errors.New("project is not enrolled; run hookgate enroll first")

// Options configure an Enroller.
type Options struct {
	// GitLabURL is the instance's base URL; the API is GitLabURL + "/api/v4".
	GitLabURL string
	// Token is the bot's API token. Managing hooks needs the Maintainer
	// role on the project.
	Token string
	// PublicURL is the gateway's [server] public_url; hooks deliver to
	// PublicURL + HookPath.
	PublicURL string
	// SecretsFile is the enrolled-secrets file.
	SecretsFile string
	// HTTPClient, if set, is copied to make the API calls (never
	// modified); the copy follows no redirect and reports one as an error
	// (see internal/gitlabhttp). Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Enroller enrols projects on one GitLab instance.
type Enroller struct {
	api      *gl.Client
	instance string
	hookURL  string
	file     string
	now      func() time.Time
}

// New checks o and builds the API client.
func New(o Options) (*Enroller, error) {
	switch {
	case o.GitLabURL == "":
		return nil, errors.New("enroll: no GitLab instance URL")
	case o.Token == "":
		return nil, fmt.Errorf("enroll: GitLab instance %s has no API token", o.GitLabURL)
	case o.PublicURL == "":
		return nil, errors.New("enroll: [server] public_url is not set: GitLab needs to know where to deliver")
	case o.SecretsFile == "":
		return nil, errors.New("enroll: no secrets file")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// A copy that follows no redirect: the token would go along.
	hc := gitlabhttp.Client(o.HTTPClient)
	if o.HTTPClient == nil {
		hc.Timeout = 30 * time.Second
	}
	instance := strings.TrimRight(o.GitLabURL, "/")
	api, err := gl.NewClient(o.Token,
		gl.WithBaseURL(instance+"/api/v4"),
		gl.WithHTTPClient(hc),
		gl.WithoutRetries(),
		gl.WithUserAgent("hookgate-enroll"),
	)
	if err != nil {
		return nil, fmt.Errorf("enroll: api client: %w", err)
	}
	return &Enroller{
		api:      api,
		instance: instance,
		hookURL:  strings.TrimRight(o.PublicURL, "/") + HookPath,
		file:     o.SecretsFile,
		now:      o.Now,
	}, nil
}

// HookURL is where the enrolled hooks deliver.
func (e *Enroller) HookURL() string { return e.hookURL }

// Result is what Enroll or Rotate did.
type Result struct {
	Project   string // path_with_namespace, as GitLab spells it
	ProjectID int64
	HookID    int64
	HookURL   string
	// Created: a hook was created; otherwise an existing one was updated.
	Created bool
	// Duplicates are further hooks of the project delivering to HookURL,
	// left untouched (they keep their own secret and will be refused).
	Duplicates []int64
	// Events are the hook's switched-on events.
	Events []string
	// Token is the new secret. Show it once; it is stored nowhere.
	Token    string
	SecretID string
	// Previous are the project's other secrets still accepted, each until
	// its NotAfter.
	Previous []SecretInfo
	// FallbackUntil, when set, is when the [[secret]] blocks stop being
	// accepted for the project.
	FallbackUntil *time.Time
}

// Enroll creates, or updates when one already delivers to the gateway's
// hook URL (all pages of the project's hooks are searched), the webhook of
// project (a path or numeric id) with events (canonical names, see
// ParseEvents), SSL verification on and a fresh secret, and records the
// secret for the project. Secrets the project already had stay valid for
// grace. On a first enrolment of a project whose hook existed, the
// [[secret]] blocks keep accepting its deliveries for grace too (its hook
// used one of them until now).
func (e *Enroller) Enroll(ctx context.Context, project string, events []string, grace time.Duration) (*Result, error) {
	if len(events) == 0 {
		events = slices.Clone(DefaultEvents)
	}
	p, err := e.project(ctx, project)
	if err != nil {
		return nil, err
	}
	hooks, err := e.hooksTo(ctx, p.ID, e.hookURL)
	if err != nil {
		return nil, err
	}
	return e.install(ctx, p, hooks, grace, func(token string) (*gl.ProjectHook, bool, error) {
		if len(hooks) == 0 {
			h, err := e.createHook(ctx, p.ID, token, events)
			return h, true, err
		}
		h, err := e.editHook(ctx, p.ID, hooks[0].ID, token, events)
		return h, false, err
	})
}

// Rotate gives an enrolled project a new secret: it is recorded, then set
// on the project's hook to the gateway (its events unchanged), and the
// project's earlier secrets stay valid for grace.
func (e *Enroller) Rotate(ctx context.Context, project string, grace time.Duration) (*Result, error) {
	p, err := e.project(ctx, project)
	if err != nil {
		return nil, err
	}
	f, err := Read(e.file)
	if err != nil {
		return nil, err
	}
	if e.enrolledAs(f, p) == nil {
		return nil, fmt.Errorf("rotate %s: %w", p.PathWithNamespace, ErrNotEnrolled)
	}
	hooks, err := e.hooksTo(ctx, p.ID, e.hookURL)
	if err != nil {
		return nil, err
	}
	if len(hooks) == 0 {
		return nil, fmt.Errorf("rotate %s: the project has no webhook to %s; run hookgate enroll to create it", p.PathWithNamespace, e.hookURL)
	}
	return e.install(ctx, p, hooks, grace, func(token string) (*gl.ProjectHook, bool, error) {
		h, err := e.editHook(ctx, p.ID, hooks[0].ID, token, nil)
		return h, false, err
	})
}

// enrolledAs finds p's entry in f: by instance and project id (so a
// renamed or moved project is still found), else by path.
func (e *Enroller) enrolledAs(f *File, p *gl.Project) *Project {
	for _, fp := range f.Projects {
		if fp.ProjectID == p.ID && strings.EqualFold(fp.Instance, e.instance) {
			return fp
		}
	}
	return f.Find(p.PathWithNamespace)
}

// install records a new secret, has apply put it on GitLab, then ends the
// project's earlier secrets after grace; if apply fails the new secret is
// removed again.
func (e *Enroller) install(ctx context.Context, p *gl.Project, hooks []*gl.ProjectHook, grace time.Duration,
	apply func(token string) (*gl.ProjectHook, bool, error)) (*Result, error) {
	if grace < 0 {
		return nil, fmt.Errorf("grace %s is negative", grace)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	now := e.now()
	added := false // the project entry was created here
	err = Update(e.file, now, func(f *File) error {
		fp := e.enrolledAs(f, p)
		if fp == nil {
			fp = &Project{EnrolledAt: now.UTC()}
			f.Projects = append(f.Projects, fp)
			added = true
			if len(hooks) > 0 && grace > 0 {
				fp.FallbackUntil = timePtr(now.Add(grace))
			}
		}
		// A renamed project takes its new path from any stale entry that
		// had it (GitLab paths are unique; deliveries are matched on them).
		f.Projects = slices.DeleteFunc(f.Projects, func(x *Project) bool {
			return x != fp && strings.EqualFold(x.Project, p.PathWithNamespace)
		})
		fp.Project, fp.ProjectID, fp.Instance = p.PathWithNamespace, p.ID, e.instance
		fp.Secrets = append(fp.Secrets, Secret{ID: id, Hash: hashOf(f.Salt, token), CreatedAt: now.UTC()})
		return nil
	})
	if err != nil {
		return nil, err
	}

	hook, created, apiErr := apply(token)
	if apiErr != nil {
		undo := Update(e.file, e.now(), func(f *File) error {
			if fp := e.enrolledAs(f, p); fp != nil {
				fp.Secrets = slices.DeleteFunc(fp.Secrets, func(s Secret) bool { return s.ID == id })
				if added && len(fp.Secrets) == 0 {
					f.Projects = slices.DeleteFunc(f.Projects, func(x *Project) bool { return x == fp })
				}
			}
			return nil
		})
		if undo != nil {
			return nil, fmt.Errorf("%w (and removing the unused new secret %s failed: %v)", apiErr, id, undo)
		}
		return nil, apiErr
	}

	res := &Result{
		Project: p.PathWithNamespace, ProjectID: p.ID, HookID: hook.ID, HookURL: e.hookURL,
		Created: created, Events: hookEventNames(hook), Token: token, SecretID: id,
	}
	for _, h := range hooks[min(1, len(hooks)):] {
		res.Duplicates = append(res.Duplicates, h.ID)
	}
	end := e.now().Add(grace)
	err = Update(e.file, e.now(), func(f *File) error {
		fp := e.enrolledAs(f, p)
		if fp == nil {
			return fmt.Errorf("%s vanished from the secrets file while enrolling", p.PathWithNamespace)
		}
		fp.HookID, fp.HookURL, fp.Events = hook.ID, e.hookURL, res.Events
		for i := range fp.Secrets {
			s := &fp.Secrets[i]
			if s.ID != id && (s.NotAfter == nil || s.NotAfter.After(end)) {
				s.NotAfter = timePtr(end)
			}
		}
		res.FallbackUntil = fp.FallbackUntil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the hook has the new secret but the secrets file could not be finished: %w", err)
	}
	infos, err := List(e.file, p.PathWithNamespace, e.now())
	if err == nil && len(infos) == 1 {
		for _, s := range infos[0].Secrets {
			if s.ID != id {
				res.Previous = append(res.Previous, s)
			}
		}
	}
	return res, nil
}

// newToken is a fresh webhook secret: 32 random bytes, base64url.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newID names a secret in listings; it says nothing about the secret.
func newID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func hashOf(salt []byte, token string) []byte {
	h := auth.TokenHash(salt, token)
	return h[:]
}

func timePtr(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}
