package gateway

import (
	"errors"
	"fmt"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/envelope"
)

// The identity a delivery is authenticated for, and the checks that the
// body agrees with it. A verified secret binds an instance (resolved here
// from X-Gitlab-Instance among the configured ones, never guessed) and a
// project path (the one the secret was chosen by). The body's other claims
// about its project are refused when they contradict that binding: the
// project's web_url must be on the instance, and its id must be the one
// GitLab gives for the path when that is known (recorded at enrolment, or
// looked up by the workers before: see gitlab.Clients.Bind, which checks
// every delivery before any rule runs).

// Reasons of hookgate_identity_refused_total: why an authenticated body was
// refused for contradicting what its secret binds.
const (
	IdentityInstance  = "instance"   // X-Gitlab-Instance names no configured instance, or none is sent among several
	IdentityProject   = "project"    // the envelope's project path is not the one the secret was chosen by
	IdentityWebURL    = "web_url"    // the project's web_url is not on the instance
	IdentityProjectID = "project_id" // the project id is not GitLab's id for the path
)

// ProjectIDs tells the receiver GitLab's id of a project when it is
// already known, without asking GitLab (the request must stay fast).
type ProjectIDs interface {
	KnownProjectID(instance, path string) (int64, bool)
}

// instances are the configured GitLab instances, normalized.
type instances []string

func newInstances(urls []string) instances {
	out := make(instances, 0, len(urls))
	for _, u := range urls {
		out = append(out, envelope.NormalizeInstance(u))
	}
	return out
}

// errUnknownInstance and errNoInstance are refusals of resolve.
var (
	errUnknownInstance = errors.New("X-Gitlab-Instance names no configured GitLab instance")
	errNoInstance      = errors.New("no X-Gitlab-Instance header, and several GitLab instances are configured")
)

// resolve returns the instance a delivery comes from, given its
// X-Gitlab-Instance header: the configured instance the header names
// (spelled as envelope.NormalizeInstance spells both), or the only one
// when the header is absent. With no instance configured (dry run, nothing
// is ever sent) the header is taken as it is, normalized.
func (in instances) resolve(header string) (string, error) {
	if len(in) == 0 {
		if header == "" {
			return "", nil
		}
		return envelope.NormalizeInstance(header), nil
	}
	if header == "" {
		if len(in) == 1 {
			return in[0], nil
		}
		return "", errNoInstance
	}
	n := envelope.NormalizeInstance(header)
	for _, u := range in {
		if u == n {
			return u, nil
		}
	}
	return "", errUnknownInstance
}

// identityError is an authenticated body that contradicts its binding.
type identityError struct {
	reason string // one of the Identity* constants
	msg    string
}

func (e *identityError) Error() string { return e.msg }

// checkIdentity compares the envelope with what authenticated it: the
// instance inst, the located project loc (nil when the secret did not
// depend on the project), and the verifier's result.
func (r *receiver) checkIdentity(env *envelope.Envelope, inst string, loc *envelope.Location, res auth.Result) error {
	path := envelope.NormalizeProjectPath(env.Project.Path)
	if loc != nil && path != envelope.NormalizeProjectPath(loc.Path) {
		return &identityError{IdentityProject, "the body names its project in two ways that disagree"}
	}
	if len(r.instances) > 0 && env.Project.URL != "" && envelope.URLHost(env.Project.URL) != envelope.InstanceHost(inst) {
		return &identityError{IdentityWebURL, fmt.Sprintf("project web_url is not on the instance %s", inst)}
	}
	if env.Project.ID == 0 || path == "" {
		return nil
	}
	want := res.ProjectID
	if want == 0 && r.Projects != nil {
		want, _ = r.Projects.KnownProjectID(inst, path)
	}
	if want != 0 && env.Project.ID != want {
		return &identityError{IdentityProjectID, fmt.Sprintf("project id %d is not GitLab's id for %s (%d)", env.Project.ID, env.Project.Path, want)}
	}
	return nil
}
