package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// Salt sizes NewEnrolled accepts. The salt is an HMAC key of at most one
// SHA-256 block, so verification never hashes the key itself.
const (
	MinSaltSize = 16
	MaxSaltSize = sha256.BlockSize
)

// EnrolledSecret is one webhook token recorded for a project by
// `hookgate enroll`, reduced to what comparison needs.
type EnrolledSecret struct {
	// Hash is TokenHash(salt, token); the token itself is never stored.
	Hash [sha256.Size]byte
	// NotAfter is when the secret stops being accepted; zero means never.
	NotAfter time.Time
}

// EnrolledProject is the enrolled secrets of one project.
type EnrolledProject struct {
	// Instance is the base URL of the GitLab instance the project is on
	// ("https://gitlab.example.com"), compared with the delivery's
	// instance as envelope.NormalizeInstance spells both. Empty matches
	// any instance (files written before it was recorded).
	Instance string
	// Project is the path_with_namespace (compared as
	// envelope.NormalizeProjectPath spells it).
	Project string
	// ProjectID is GitLab's id of the project, recorded at enrolment; 0
	// when unknown. A delivery it authenticates must carry this id.
	ProjectID int64
	Secrets   []EnrolledSecret
	// FallbackUntil: before this instant a delivery the enrolled secrets
	// refuse is still checked against the [[secret]] blocks (the hook's
	// previous secret, while GitLab switches to the enrolled one). Zero
	// means never.
	FallbackUntil time.Time
}

// TokenHash is the digest stored for an enrolled token:
// HMAC-SHA256(salt, SHA-256(token)). The per-file random salt keeps equal
// tokens in two files apart and makes precomputed tables useless; the
// inner SHA-256 gives the HMAC a fixed-size message, so Verify computes it
// without allocating.
func TokenHash(salt []byte, token string) [sha256.Size]byte {
	inner := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, salt)
	m.Write(inner[:])
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Enrolled is a parsed set of enrolled projects, ready for Verify. It is
// immutable and safe for concurrent use.
type Enrolled struct {
	ipad, opad [sha256.BlockSize]byte // the salt XOR the HMAC pads
	// projects holds, by lower-case path, the project's entries: one per
	// instance it was enrolled on.
	projects map[string][]*enrolledProject
}

type enrolledProject struct {
	instance      string // normalized (envelope.NormalizeInstance); "" matches any
	projectID     int64
	secrets       []enrolledSecret
	fallbackUntil int64 // unix nanoseconds; 0: none
}

// instanceKey normalizes a GitLab instance URL for comparison; "" stays "".
func instanceKey(u string) string {
	if u == "" {
		return ""
	}
	return envelope.NormalizeInstance(u)
}

// lookup finds the entry of project path p (normalized) for a delivery
// from instance (normalized; "" only when no [[gitlab]] instance is
// configured, as the receiver refuses an unknown or missing instance
// otherwise): the entry of that instance, else one recorded without an
// instance. For "", a path enrolled on one instance only is that entry; a
// path enrolled on several is checked against all of them (any one's
// secret accepts, as nothing tells them apart). ok is false when the path
// is not enrolled for this delivery's instance.
func (e *Enrolled) lookup(p, instance string) (eps []*enrolledProject, ok bool) {
	all := e.projects[p]
	if len(all) == 0 {
		return nil, false
	}
	if instance == "" {
		return all, true
	}
	k := instance
	var unscoped *enrolledProject
	for _, ep := range all {
		switch ep.instance {
		case k:
			return []*enrolledProject{ep}, true
		case "":
			unscoped = ep
		}
	}
	if unscoped != nil {
		return []*enrolledProject{unscoped}, true
	}
	return nil, false
}

type enrolledSecret struct {
	sum      [sha256.Size]byte
	notAfter int64 // unix nanoseconds; 0: none
}

// NewEnrolled parses projects for verification under salt (the file's
// HMAC key, MinSaltSize to MaxSaltSize bytes). A project listed twice or
// an empty project is an error. A project without secrets is closed: it
// refuses every delivery (outside its fallback period).
func NewEnrolled(salt []byte, projects []EnrolledProject) (*Enrolled, error) {
	if len(salt) < MinSaltSize || len(salt) > MaxSaltSize {
		return nil, fmt.Errorf("enrolled secrets: salt must be %d to %d bytes, not %d", MinSaltSize, MaxSaltSize, len(salt))
	}
	e := &Enrolled{projects: make(map[string][]*enrolledProject, len(projects))}
	for i := range e.ipad {
		var k byte
		if i < len(salt) {
			k = salt[i]
		}
		e.ipad[i], e.opad[i] = k^0x36, k^0x5c
	}
	for _, p := range projects {
		key, inst := envelope.NormalizeProjectPath(p.Project), instanceKey(p.Instance)
		if key == "" {
			return nil, fmt.Errorf("enrolled secrets: empty project")
		}
		for _, ep := range e.projects[key] {
			if ep.instance == inst {
				return nil, fmt.Errorf("enrolled secrets: project %q listed twice for instance %q", p.Project, p.Instance)
			}
		}
		ep := &enrolledProject{instance: inst, projectID: p.ProjectID, fallbackUntil: nanos(p.FallbackUntil)}
		for _, s := range p.Secrets {
			ep.secrets = append(ep.secrets, enrolledSecret{sum: s.Hash, notAfter: nanos(s.NotAfter)})
		}
		e.projects[key] = append(e.projects[key], ep)
	}
	return e, nil
}

// Len is the number of enrolled projects (a path enrolled on two
// instances counts twice).
func (e *Enrolled) Len() int {
	n := 0
	for _, eps := range e.projects {
		n += len(eps)
	}
	return n
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// hash is TokenHash computed from SHA-256(token), on the stack.
func (e *Enrolled) hash(digest *[sha256.Size]byte) [sha256.Size]byte {
	var buf [sha256.BlockSize + sha256.Size]byte
	copy(buf[:], e.ipad[:])
	copy(buf[sha256.BlockSize:], digest[:])
	inner := sha256.Sum256(buf[:])
	copy(buf[:], e.opad[:])
	copy(buf[sha256.BlockSize:], inner[:])
	return sha256.Sum256(buf[:])
}

// WithEnrolled returns a Verifier that checks the projects in e against
// their enrolled secrets first, and otherwise behaves as v. v is not
// changed; nil e gives v's behaviour.
//
// For an enrolled project only its enrolled secrets that have not expired
// apply: the [[secret]] blocks (exact, glob or "*") do not, except before
// the project's FallbackUntil.
func (v *Verifier) WithEnrolled(e *Enrolled) *Verifier {
	c := *v
	c.enrolled = e
	return &c
}

// errEnrolledExpired: every enrolled secret of the project is past NotAfter.
var errEnrolledExpired = fmt.Errorf("%w: every enrolled secret of this project has expired", ErrBadToken)

// checkEnrolled reports whether the delivery's token is one of ep's live
// secrets.
func (r *request) checkEnrolled(e *Enrolled, ep *enrolledProject) error {
	if r.h.Token == "" {
		return ErrBadToken
	}
	sum := e.hash(r.digest())
	now := r.now.UnixNano()
	live := false
	for i := range ep.secrets {
		s := &ep.secrets[i]
		if s.notAfter != 0 && now >= s.notAfter {
			continue
		}
		live = true
		if subtle.ConstantTimeCompare(sum[:], s.sum[:]) == 1 {
			return nil
		}
	}
	if !live {
		return errEnrolledExpired
	}
	return ErrBadToken
}

// fallback reports whether the [[secret]] blocks still apply at now.
func (ep *enrolledProject) fallback(now time.Time) bool {
	return ep.fallbackUntil != 0 && now.UnixNano() < ep.fallbackUntil
}
