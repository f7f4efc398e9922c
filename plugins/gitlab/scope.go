package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Scope is what one plugin run may do on GitLab: every method acts on the
// event's own project and on its merge request, issue, note or commit, and
// is recorded (see Calls). A Scope is safe for concurrent use; it is meant
// to live for one run.
type Scope struct {
	c       *Client
	env     *envelope.Envelope
	uuid    string
	pid     any    // int64 project id or string path, as client-go takes it
	pidPath string // the same, escaped for API paths

	mu        sync.Mutex
	calls     []queue.Call
	made      int // calls started, sent or not (see MaxCallsPerRun)
	bodyBytes int // bytes of bodies kept in calls
}

// Limits of what one scope (one plugin run) does and records. Calls are
// kept in the delivery log with every attempt, and in dry run nothing
// rate-limits them, so a script calling in a loop would otherwise write
// without bound.
const (
	// MaxCallsPerRun caps the API calls of one run; later calls fail
	// (final) before anything is sent or recorded. A run acts on one
	// event's project: a real plugin makes a handful.
	MaxCallsPerRun = 1000
	// MaxCallBodyBytes caps the request body a call record keeps, and
	// MaxCallBodiesBytes the bodies of one run together. A longer body
	// is kept as a JSON string holding its start and the mark
	// "…(truncated: N bytes)", N being its full size; past the run's
	// total, only the mark.
	MaxCallBodyBytes   = 16 << 10
	MaxCallBodiesBytes = 256 << 10
)

type scopeKey struct{}

// WithScope returns a context carrying s; the Lua module finds it there.
func WithScope(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// ScopeFrom returns the Scope in ctx, if any. A nil ctx has none.
func ScopeFrom(ctx context.Context) (*Scope, bool) {
	if ctx == nil {
		return nil, false
	}
	s, ok := ctx.Value(scopeKey{}).(*Scope)
	return s, ok && s != nil
}

// Calls returns a copy of the calls recorded so far, in order: method, API
// path below /api/v4 (query included), JSON body, status (0 in dry run),
// duration, error text. Never the token.
func (s *Scope) Calls() []queue.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]queue.Call(nil), s.calls...)
}

// DryRun reports whether the scope's calls are recorded and not sent.
func (s *Scope) DryRun() bool { return s.c.dryRun || s.c.api == nil }

// Envelope returns the event the scope is bound to.
func (s *Scope) Envelope() *envelope.Envelope { return s.env }

func (s *Scope) record(c queue.Call) {
	s.mu.Lock()
	room := max(min(MaxCallBodyBytes, MaxCallBodiesBytes-s.bodyBytes), 0)
	c.Body = capBody(c.Body, room)
	s.bodyBytes += len(c.Body)
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.c.observe != nil {
		s.c.observe(s.c.base, c)
	}
}

// start counts a call against MaxCallsPerRun.
func (s *Scope) start(method, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.made >= MaxCallsPerRun {
		return fmt.Errorf("gitlab: %s %s: more than %d API calls in one run", method, path, MaxCallsPerRun)
	}
	s.made++
	return nil
}

// capBody returns body if it has at most room bytes, else a JSON string
// holding as much of its text as fits in room and the mark
// "…(truncated: N bytes)".
func capBody(body json.RawMessage, room int) json.RawMessage {
	if len(body) <= room {
		return body
	}
	mark := fmt.Sprintf("…(truncated: %d bytes)", len(body))
	cut := max(room-len(mark)-2, 0)
	// Escaping may lengthen the text: halve the cut until it fits.
	for {
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		b, _ := json.Marshal(string(body[:cut]) + mark)
		if len(b) <= room || cut == 0 {
			return b
		}
		cut /= 2
	}
}

// errNoProject is returned by every call of a scope whose event names no
// project.
var errNoProject = errors.New("gitlab: the event has no project")

// Kinds of things a call can target.
const (
	onMR      = "merge_requests"
	onIssue   = "issues"
	onSnippet = "snippets"
	onCommit  = "commit"
)

// target is the thing on the event's project a call acts on.
type target struct {
	kind string // onMR, onIssue, onSnippet, onCommit
	id   int64  // MR or issue iid, snippet id
	sha  string // for onCommit
}

// noteTarget returns what a note event's note is on, from noteable_type.
func (s *Scope) noteTarget() (target, error) {
	env := s.env
	switch env.NoteableType {
	case "MergeRequest":
		if env.MergeRequest.IID > 0 {
			return target{kind: onMR, id: env.MergeRequest.IID}, nil
		}
	case "Issue":
		if env.Issue.IID > 0 {
			return target{kind: onIssue, id: env.Issue.IID}, nil
		}
	case "Snippet":
		if id := snippetID(env.Payload); id > 0 {
			return target{kind: onSnippet, id: id}, nil
		}
	case "Commit":
		if env.SHA != "" {
			return target{kind: onCommit, sha: env.SHA}, nil
		}
	}
	return target{}, errors.New("gitlab: the note's " + orUnknown(env.NoteableType) + " is missing from the event")
}

// commentTarget is where comment() replies: a note event's merge request,
// issue, snippet or commit; a merge request event's MR; an issue event's
// issue; else the event's commit (push, tag push, pipeline, build); else
// its MR or issue.
func (s *Scope) commentTarget() (target, error) {
	env := s.env
	switch {
	case env.Kind == "note":
		return s.noteTarget()
	case env.Kind == "merge_request" && env.MergeRequest.IID > 0:
		return target{kind: onMR, id: env.MergeRequest.IID}, nil
	case env.Kind == "issue" && env.Issue.IID > 0:
		return target{kind: onIssue, id: env.Issue.IID}, nil
	case env.SHA != "":
		return target{kind: onCommit, sha: env.SHA}, nil
	case env.MergeRequest.IID > 0:
		return target{kind: onMR, id: env.MergeRequest.IID}, nil
	case env.Issue.IID > 0:
		return target{kind: onIssue, id: env.Issue.IID}, nil
	}
	return target{}, errors.New("gitlab: the event has no merge request, issue or commit to comment on")
}

// itemTarget is the merge request or issue that labels and reactions apply
// to: what a note is on (an MR or issue only), else the event's MR, else
// its issue.
func (s *Scope) itemTarget(what string) (target, error) {
	env := s.env
	if env.Kind == "note" {
		t, err := s.noteTarget()
		if err != nil {
			return t, err
		}
		if t.kind != onMR && t.kind != onIssue {
			return target{}, errors.New("gitlab: " + what + ": the event's note is on a " + env.NoteableType + ", not a merge request or issue")
		}
		return t, nil
	}
	switch {
	case env.MergeRequest.IID > 0:
		return target{kind: onMR, id: env.MergeRequest.IID}, nil
	case env.Issue.IID > 0:
		return target{kind: onIssue, id: env.Issue.IID}, nil
	}
	return target{}, errors.New("gitlab: " + what + ": the event has no merge request or issue")
}

// snippetID reads the snippet of a note on a snippet from the raw payload
// (the envelope does not lift it).
func snippetID(payload json.RawMessage) int64 {
	if len(payload) == 0 {
		return 0
	}
	var p struct {
		Snippet struct {
			ID int64 `json:"id"`
		} `json:"snippet"`
		Attrs struct {
			NoteableID int64 `json:"noteable_id"`
		} `json:"object_attributes"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return 0
	}
	if p.Snippet.ID > 0 {
		return p.Snippet.ID
	}
	return p.Attrs.NoteableID
}

func orUnknown(s string) string {
	if s == "" {
		return "target"
	}
	return s
}
