package envelope

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hookgate/hookgate/gateway/envelope/command"
)

// SyntaxError is returned by Normalize when the body is not a JSON object:
// empty, not JSON (as encoding/json defines it), truncated, a JSON value
// other than an object, or nested deeper than MaxDepth. The receiver answers
// it with 400.
//
// Its message never quotes the body (the body may be anything an
// unauthenticated client sent).
type SyntaxError struct {
	// Reason says what is wrong, e.g. "body is not valid JSON".
	Reason string
	// Offset is the 0-based offset in the body of the byte where the
	// problem was found, or -1 when there is none (an empty body).
	Offset int64
}

func (e *SyntaxError) Error() string {
	if e.Offset < 0 {
		return "normalize: " + e.Reason
	}
	return "normalize: " + e.Reason + " (at byte " + strconv.FormatInt(e.Offset, 10) + ")"
}

// bigBody is the body size above which Normalize parses with a parser of its
// own rather than a pooled one, so the pool does not keep huge buffers.
const bigBody = 1 << 20

// Normalize builds the envelope of one delivery from its X-Gitlab-Event
// header, its raw JSON body and the X-Gitlab-Instance header (may be "").
//
// The body must be a JSON object; anything else gives a *SyntaxError
// (wrapped errors are never returned: errors.As finds it directly). Any
// JSON object is accepted: fields of unexpected types (a project id sent as
// "5", a title sent as a number) are converted or left empty, never an
// error, and payloads of unknown kinds still get Kind, Event and Payload.
//
// Normalize keeps no reference to its arguments: Payload is a copy of body
// and every string is copied, so callers may reuse their buffers (fiber
// does). Fields that do not apply are empty, and every list is non-nil.
// ID is left empty for the caller to assign. Safe for concurrent use.
//
// See the package documentation for where each field comes from.
func Normalize(eventHeader string, body []byte, instance string) (*Envelope, error) {
	return normalize(eventHeader, body, instance, true)
}

// NormalizeShared is Normalize with a Payload that is body itself rather
// than a copy, for a caller done with the Payload before body changes: the
// receiver hands the envelope to a queue that encodes it before Enqueue
// returns, and a copy of every body cost it 1.1 us. Every other field
// is a copy, as with Normalize.
func NormalizeShared(eventHeader string, body []byte, instance string) (*Envelope, error) {
	return normalize(eventHeader, body, instance, false)
}

func normalize(eventHeader string, body []byte, instance string, copyBody bool) (*Envelope, error) {
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, &SyntaxError{Reason: "body is empty", Offset: -1}
	}
	// One pass checks the body as strictly as encoding/json (the payload is
	// stored and re-encoded later) and builds the tree fill reads.
	p := getParser(len(body))
	defer putParser(p, len(body))
	if off, reason := p.parse(body); reason != "" {
		return nil, &SyntaxError{Reason: reason, Offset: int64(off)}
	}
	switch body[start] {
	case '{':
	case '[':
		return nil, &SyntaxError{Reason: "body is a JSON array, not an object", Offset: int64(start)}
	default:
		return nil, &SyntaxError{Reason: "body is a JSON value but not an object", Offset: int64(start)}
	}
	e := &Envelope{
		Event:        internEvent(eventHeader),
		Labels:       []string{},
		Commands:     []command.Command{},
		Command:      command.Command{Args: []string{}},
		MergeRequest: MergeRequest{Labels: []string{}},
		Issue:        Issue{Labels: []string{}},
		Payload:      json.RawMessage(body),
	}
	if copyBody {
		e.Payload = bytes.Clone(body)
	}
	fill(e, p.root(), instance)
	return e, nil
}

// internEvent returns the X-Gitlab-Event value as a string that shares no
// memory with the caller's (fiber reuses header memory): a constant for the
// values GitLab sends, a copy otherwise.
func internEvent(h string) string {
	switch h {
	case "Push Hook":
		return "Push Hook"
	case "Tag Push Hook":
		return "Tag Push Hook"
	case "Issue Hook":
		return "Issue Hook"
	case "Confidential Issue Hook":
		return "Confidential Issue Hook"
	case "Note Hook":
		return "Note Hook"
	case "Confidential Note Hook":
		return "Confidential Note Hook"
	case "Merge Request Hook":
		return "Merge Request Hook"
	case "Wiki Page Hook":
		return "Wiki Page Hook"
	case "Pipeline Hook":
		return "Pipeline Hook"
	case "Job Hook":
		return "Job Hook"
	case "Deployment Hook":
		return "Deployment Hook"
	case "Release Hook":
		return "Release Hook"
	case "Emoji Hook":
		return "Emoji Hook"
	case "System Hook":
		return "System Hook"
	}
	return strings.Clone(h)
}

// kindFromEvent is the kind for a payload that names none (no object_kind
// nor event_name), taken from the X-Gitlab-Event header.
func kindFromEvent(event string) string {
	switch event {
	case "Push Hook":
		return "push"
	case "Tag Push Hook":
		return "tag_push"
	case "Issue Hook", "Confidential Issue Hook":
		return "issue"
	case "Note Hook", "Confidential Note Hook":
		return "note"
	case "Merge Request Hook":
		return "merge_request"
	case "Wiki Page Hook":
		return "wiki_page"
	case "Pipeline Hook":
		return "pipeline"
	case "Job Hook", "Build Hook":
		return "build"
	case "Deployment Hook":
		return "deployment"
	case "Release Hook":
		return "release"
	case "Emoji Hook":
		return "emoji"
	case "Feature Flag Hook":
		return "feature_flag"
	case "Milestone Hook":
		return "milestone"
	case "Vulnerability Hook":
		return "vulnerability"
	case "Resource Access Token Hook":
		return "access_token"
	}
	return ""
}
