// Package envelope owns the one normalized shape every GitLab delivery takes
// inside hookgate: the Envelope type and Normalize, which builds it from an
// X-Gitlab-Event header and a raw JSON body.
//
// Fields that do not apply to an event are empty ("", 0, empty list), never
// missing, so rules and plugins can read any field of any event.
//
// # Use
//
// The receiver normalizes each delivery before anything else:
//
//	env, err := envelope.Normalize(c.Get("X-Gitlab-Event"), c.Request().Body(), c.Get("X-Gitlab-Instance"))
//	var se *envelope.SyntaxError
//	if errors.As(err, &se) {
//		// answer 400: the body is not a JSON object
//	}
//	env.ID = newDeliveryID()
//	// env keeps no reference to the request's buffers: queue it as is.
//
// # Where the fields come from
//
// Kind is object_kind, else event_name (system hooks), else derived from the
// X-Gitlab-Event header. Action is object_attributes.action, else the
// top-level action (releases, milestones). System is object_attributes.system.
//
// Project: project.id / path_with_namespace / web_url, falling back to the
// top-level project_id, the merge request's target project, the top-level
// path_with_namespace or project_path_with_namespace of system hooks,
// object_attributes.project_id, repository.homepage (jobs have no project
// object) and the part of object_attributes.url before "/-/"
// (vulnerabilities). When only the path is known (system hooks) and the
// instance is, the URL is instance + "/" + path.
//
// Instance: the X-Gitlab-Instance header without a trailing "/", else the
// project URL without its path (which keeps a relative URL root such as
// https://example.com/gitlab), else its scheme and host.
//
// User: user.id / username / name, else user_id / user_username / user_name
// (push and system hooks); for notes whose user has no id,
// object_attributes.author_id; for user_* and key_* system hooks, the
// top-level username (and name for user_*).
//
// Ref, Branch, Tag, SHA: push and tag_push take ref ("refs/heads/x" gives
// Branch x, "refs/tags/v1" Tag v1) and checkout_sha, else after (so a
// deleted branch has the zero SHA). Pipelines take object_attributes.ref and
// .sha, jobs ref and sha; their short ref is the Tag when the tag flag is
// set, else the Branch. Merge requests (events, notes on them, emoji on
// them) take the source branch as Ref and Branch and last_commit.id as SHA.
// Notes on commits take commit.id; releases take tag and commit.id;
// deployments take ref (neither branch nor tag: the payload does not say)
// and the SHA at the end of commit_url; repository_update takes its only
// change's ref and after.
//
// Note, NoteableType, NoteID, Commands and Command are set for note events
// only (object_attributes.note, .noteable_type, .id; command.Parse of the
// note). MergeRequest comes from object_attributes for merge_request events
// and from the top-level merge_request otherwise (notes, pipelines, emoji);
// Issue likewise for issue and work_item events and the top-level issue.
// Their labels are the titles of the top-level labels for their own events,
// else of the object's labels. Labels is the MR's labels when there is an
// MR, else the issue's.
//
// Types are read leniently: a number sent as a string ("5") or a string sent
// as a number still gives its value, and a value of any other unexpected
// type gives the empty value. Only a body that is not a JSON object fails.
package envelope

import (
	"encoding/json"

	"github.com/hookgate/hookgate/gateway/envelope/command"
)

// Envelope is a normalized GitLab event. It is the only definition of the
// envelope in hookgate: the receiver builds it, the queue stores it, rules
// evaluate against it and plugins receive it as a Lua table.
//
// The JSON names are the field names of the contract (DESIGN.md) and are also
// what rules and plugins see.
type Envelope struct {
	// ID is the delivery id assigned by hookgate.
	ID string `json:"id" expr:"id"`
	// Kind is the payload's object_kind (event_name for system hooks that
	// have no object_kind): push, tag_push, issue, note, merge_request, ...
	Kind string `json:"kind" expr:"kind"`
	// Event is the X-Gitlab-Event header, e.g. "Note Hook".
	Event string `json:"event" expr:"event"`
	// Action is object_attributes.action where present.
	Action string `json:"action" expr:"action"`
	// Instance is the GitLab instance base URL (X-Gitlab-Instance, else
	// derived from the project URL).
	Instance string `json:"instance" expr:"instance"`

	Project Project `json:"project" expr:"project"`
	User    User    `json:"user" expr:"user"`

	Ref    string `json:"ref" expr:"ref"`
	Branch string `json:"branch" expr:"branch"`
	Tag    string `json:"tag" expr:"tag"`
	SHA    string `json:"sha" expr:"sha"`

	Note         string `json:"note" expr:"note"`
	NoteableType string `json:"noteable_type" expr:"noteable_type"`
	// NoteID is the id of the note for note events (0 otherwise); used to
	// react on the note itself.
	NoteID int64 `json:"note_id" expr:"note_id"`
	// System is true for notes and events GitLab writes itself.
	System bool `json:"system" expr:"system"`

	MergeRequest MergeRequest `json:"merge_request" expr:"merge_request"`
	Issue        Issue        `json:"issue" expr:"issue"`

	// Labels are the label titles of the MR or issue.
	Labels []string `json:"labels" expr:"labels"`

	// Commands are the slash commands in a note; Command is the first one.
	Commands []command.Command `json:"commands" expr:"commands"`
	Command  command.Command   `json:"command" expr:"command"`

	// Payload is the whole raw JSON body, kept as received.
	Payload json.RawMessage `json:"payload" expr:"-"`
}

// Project identifies the project an event is about.
type Project struct {
	ID   int64  `json:"id" expr:"id"`
	Path string `json:"path" expr:"path"` // path_with_namespace
	URL  string `json:"url" expr:"url"`   // web_url
}

// User is who caused the event.
type User struct {
	ID       int64  `json:"id" expr:"id"`
	Username string `json:"username" expr:"username"`
	Name     string `json:"name" expr:"name"`
}

// MergeRequest is the merge request of MR events and notes on MRs.
type MergeRequest struct {
	IID          int64    `json:"iid" expr:"iid"`
	Title        string   `json:"title" expr:"title"`
	State        string   `json:"state" expr:"state"`
	SourceBranch string   `json:"source_branch" expr:"source_branch"`
	TargetBranch string   `json:"target_branch" expr:"target_branch"`
	Labels       []string `json:"labels" expr:"labels"`
	Draft        bool     `json:"draft" expr:"draft"`
	// SourceProjectID differs from Project.ID for merge requests from forks.
	SourceProjectID int64 `json:"source_project_id" expr:"source_project_id"`
}

// Issue is the issue of issue events and notes on issues.
type Issue struct {
	IID    int64    `json:"iid" expr:"iid"`
	Title  string   `json:"title" expr:"title"`
	State  string   `json:"state" expr:"state"`
	Labels []string `json:"labels" expr:"labels"`
}
