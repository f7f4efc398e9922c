// Package auth verifies who delivered a webhook: the X-Gitlab-Token secret
// and GitLab's webhook signing (Standard Webhooks: webhook-id,
// webhook-timestamp, webhook-signature), per project, from the [[secret]]
// blocks of the configuration.
//
// Which secrets apply to a project: those whose project is the exact
// path_with_namespace; if there are none, those whose glob matches
// (internal/projectglob, the dialect of [[rule]] projects too: "group/*"
// matches one level below group, "group/**" any depth below it); if none,
// the "*" secrets. Only the most specific tier that has a
// match applies: a project with its own secret is not also open to the
// group's or the catch-all's. Paths are compared case-insensitively, as
// GitLab's are. Several secrets may apply at once (rotation): any one of
// them accepts the delivery.
//
// Above these tiers sit the enrolled secrets (see WithEnrolled): tokens
// recorded per project by `hookgate enroll`, known only as salted hashes.
// A project with enrolled secrets accepts only those that have not
// expired, not the [[secret]] blocks, except during its fallback period.
//
// A secret with a token requires X-Gitlab-Token to equal it; a secret with
// a signing key requires a valid, fresh signature; a secret with both
// requires both. A secret with an instance applies only to deliveries from
// that instance.
//
// What a secret binds: the instance (the receiver resolves it from
// X-Gitlab-Instance among the configured ones and passes it in), the
// project path it was chosen by, and, with a signing key, the body and the
// webhook-id. Everything else in the body is what its sender says.
//
// Errors name what failed, never a secret or a received credential.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/internal/projectglob"
)

// Verification failures. Verify wraps them with detail; test with errors.Is.
var (
	// ErrNoSecret: no configured secret applies to the project.
	ErrNoSecret = errors.New("no webhook secret configured for this project")
	// ErrBadToken: X-Gitlab-Token is missing or wrong.
	ErrBadToken = errors.New("missing or wrong X-Gitlab-Token")
	// ErrMissingSignature: a signing key applies but a webhook-id,
	// webhook-timestamp or webhook-signature header is absent.
	ErrMissingSignature = errors.New("missing webhook signature header")
	// ErrBadSignature: the signature headers are malformed or no signature
	// matches.
	ErrBadSignature = errors.New("bad webhook signature")
	// ErrStaleTimestamp: webhook-timestamp is further than MaxSkew from now.
	ErrStaleTimestamp = errors.New("webhook-timestamp too far from now")
)

// MaxSkew is how far webhook-timestamp may be from the receiver's clock,
// either way, before a signed delivery is refused as a replay.
const MaxSkew = 5 * time.Minute

// Headers are the request headers Verify reads, copied by the receiver.
type Headers struct {
	Token            string // X-Gitlab-Token
	WebhookID        string // webhook-id
	WebhookTimestamp string // webhook-timestamp, unix seconds
	WebhookSignature string // webhook-signature, "v1,<base64>" entries separated by spaces
}

// Result says what authenticated a delivery.
type Result struct {
	// Signed is true when a signing key's signature was verified: the body
	// and the webhook-id are GitLab's, so webhook-id is the key to dedupe
	// on (Idempotency-Key is not covered by the signature).
	Signed bool
	// ProjectID is GitLab's id of the project, when the accepting secret
	// records it (an enrolled project); 0 otherwise.
	ProjectID int64
}

// entry is one [[secret]], parsed once.
type entry struct {
	hasToken bool
	tokenSum [sha256.Size]byte // SHA-256 of the token: equal-length constant-time compare
	key      []byte            // HMAC key from "whsec_..."; nil when none
	instance string            // normalized; "" applies to every instance
}

// glob is a [[secret]] whose project is a pattern (internal/projectglob).
type glob struct {
	pattern string // normalized
	e       entry
}

// Verifier checks deliveries against the configured secrets. It is
// immutable and safe for concurrent use.
type Verifier struct {
	exact map[string][]entry // lower-case path_with_namespace
	globs []glob
	star  []entry

	enrolled *Enrolled // nil: none
}

// New parses secrets once (token digests, decoded signing keys). It fails,
// naming the block by position and project, on a block with an invalid
// project pattern, without a token or signing key, or with a malformed
// signing key. No secrets gives a Verifier that refuses every delivery
// with ErrNoSecret.
func New(secrets []config.WebhookSecret) (*Verifier, error) {
	v := &Verifier{exact: map[string][]entry{}}
	var errs []error
	for i, s := range secrets {
		where := fmt.Sprintf("secret %d (project %q)", i+1, s.Project)
		if err := config.CheckProjectPattern(s.Project); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if !s.Token.IsSet() && !s.SigningKey.IsSet() {
			errs = append(errs, fmt.Errorf("%s: needs a token or a signing key", where))
			continue
		}
		e := entry{instance: envelope.NormalizeInstance(s.Instance)}
		if s.Instance == "" {
			e.instance = ""
		}
		if s.Token.IsSet() {
			e.hasToken = true
			e.tokenSum = sha256.Sum256([]byte(s.Token.Value()))
		}
		if s.SigningKey.IsSet() {
			key, err := config.DecodeSigningKey(s.SigningKey.Value())
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			e.key = key
		}
		v.add(s.Project, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	return v, nil
}

func (v *Verifier) add(project string, e entry) {
	p := project
	if p != "*" {
		p = envelope.NormalizeProjectPath(p)
	}
	switch {
	case p == "*":
		v.star = append(v.star, e)
	case !projectglob.IsGlob(p):
		v.exact[p] = append(v.exact[p], e)
	default:
		v.globs = append(v.globs, glob{pattern: projectglob.Normalize(p), e: e})
	}
}

// NeedsProject reports whether the secret that applies to a delivery
// depends on its project: false when only "*" secrets are configured and
// no project is enrolled, so the receiver can authenticate without reading
// the body.
func (v *Verifier) NeedsProject() bool {
	return len(v.exact) > 0 || len(v.globs) > 0 || v.enrolled != nil
}

// Verify checks one delivery from instance (the normalized URL of the
// configured GitLab instance it comes from, "" when none is configured)
// for projectPath (path_with_namespace; "" for deliveries without a
// project, such as system hooks, to which only "*" secrets apply).
// rawBody must be the bytes as received, before any decompression. now is
// the receiver's clock, for the timestamp check.
//
// It returns what authenticated the delivery when one applicable secret
// accepts it, else an error wrapping ErrNoSecret, ErrBadToken,
// ErrMissingSignature, ErrBadSignature or ErrStaleTimestamp. When several
// secrets apply and all refuse, the error is the one that got furthest (a
// stale timestamp over a bad signature over a missing one over a bad
// token).
func (v *Verifier) Verify(instance, projectPath string, h Headers, rawBody []byte, now time.Time) (Result, error) {
	r := request{h: h, body: rawBody, now: now, instance: instance}
	p := envelope.NormalizeProjectPath(projectPath)
	if v.enrolled != nil {
		if eps, ok := v.enrolled.lookup(p, instance); ok {
			var best error
			fallback := false
			for _, ep := range eps {
				err := r.checkEnrolled(v.enrolled, ep)
				if err == nil {
					return Result{ProjectID: ep.projectID}, nil
				}
				best = worse(best, err)
				fallback = fallback || ep.fallback(now)
			}
			if !fallback {
				return Result{}, best
			}
		}
	}
	if es, ok := v.exact[p]; ok && r.appliesAny(es) {
		return r.any(es)
	}
	matched := false
	var best error
	for i := range v.globs {
		g := &v.globs[i]
		if !projectglob.Match(g.pattern, p) || !r.applies(&g.e) {
			continue
		}
		matched = true
		res, err := r.check(&g.e)
		if err == nil {
			return res, nil
		}
		best = worse(best, err)
	}
	if matched {
		return Result{}, best
	}
	if r.appliesAny(v.star) {
		return r.any(v.star)
	}
	return Result{}, ErrNoSecret
}

// applies reports whether e may authenticate this delivery's instance.
func (r *request) applies(e *entry) bool { return e.instance == "" || e.instance == r.instance }

// appliesAny reports whether one of es applies.
func (r *request) appliesAny(es []entry) bool {
	for i := range es {
		if r.applies(&es[i]) {
			return true
		}
	}
	return false
}

// any accepts when one of es that applies accepts.
func (r *request) any(es []entry) (Result, error) {
	var best error
	for i := range es {
		if !r.applies(&es[i]) {
			continue
		}
		res, err := r.check(&es[i])
		if err == nil {
			return res, nil
		}
		best = worse(best, err)
	}
	return Result{}, best
}

// rank orders failures by how far verification got.
func rank(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrStaleTimestamp):
		return 4
	case errors.Is(err, ErrBadSignature):
		return 3
	case errors.Is(err, ErrMissingSignature):
		return 2
	}
	return 1
}

func worse(a, b error) error {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// request holds one delivery's credentials, each parsed at most once
// however many secrets apply.
type request struct {
	h        Headers
	body     []byte
	now      time.Time
	instance string

	tokenDone bool
	tokenSum  [sha256.Size]byte

	sig *signed // parsed signature headers; nil until needed
}

func (r *request) check(e *entry) (Result, error) {
	if e.hasToken && !r.tokenMatches(e) {
		return Result{}, ErrBadToken
	}
	if e.key != nil {
		if r.sig == nil {
			r.sig = parseSigned(r.h, r.now)
		}
		if err := r.sig.verify(e.key, r.body); err != nil {
			return Result{}, err
		}
		return Result{Signed: true}, nil
	}
	return Result{}, nil
}

func (r *request) tokenMatches(e *entry) bool {
	if r.h.Token == "" {
		return false
	}
	return subtle.ConstantTimeCompare(r.digest()[:], e.tokenSum[:]) == 1
}

// digest is SHA-256 of the received token, computed once.
func (r *request) digest() *[sha256.Size]byte {
	if !r.tokenDone {
		r.tokenSum = sha256.Sum256([]byte(r.h.Token))
		r.tokenDone = true
	}
	return &r.tokenSum
}
