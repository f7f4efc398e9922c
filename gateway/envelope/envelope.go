// Package envelope owns the one normalized shape every GitLab delivery takes
// inside hookgate: the Envelope type and Normalize, which builds it from an
// X-Gitlab-Event header and a raw JSON body.
//
// Fields that do not apply to an event are empty ("", 0, empty list), never
// missing, so rules and plugins can read any field of any event.
package envelope

import (
	"encoding/json"

	"github.com/hookgate/hookgate/rules/command"
)

// Envelope is a normalized GitLab event. It is the only definition of the
// envelope in hookgate: the receiver builds it, the queue stores it, rules
// evaluate against it and plugins receive it as a Lua table.
//
// The JSON names are the field names of the contract (DESIGN.md) and are also
// what rules and plugins see.
type Envelope struct {
	// ID is the delivery id assigned by hookgate.
	ID string `json:"id"`
	// Kind is the payload's object_kind (event_name for system hooks that
	// have no object_kind): push, tag_push, issue, note, merge_request, ...
	Kind string `json:"kind"`
	// Event is the X-Gitlab-Event header, e.g. "Note Hook".
	Event string `json:"event"`
	// Action is object_attributes.action where present.
	Action string `json:"action"`
	// Instance is the GitLab instance base URL (X-Gitlab-Instance, else
	// derived from the project URL).
	Instance string `json:"instance"`

	Project Project `json:"project"`
	User    User    `json:"user"`

	Ref    string `json:"ref"`
	Branch string `json:"branch"`
	Tag    string `json:"tag"`
	SHA    string `json:"sha"`

	Note         string `json:"note"`
	NoteableType string `json:"noteable_type"`
	// NoteID is the id of the note for note events (0 otherwise); used to
	// react on the note itself.
	NoteID int64 `json:"note_id"`
	// System is true for notes and events GitLab writes itself.
	System bool `json:"system"`

	MergeRequest MergeRequest `json:"merge_request"`
	Issue        Issue        `json:"issue"`

	// Labels are the label titles of the MR or issue.
	Labels []string `json:"labels"`

	// Commands are the slash commands in a note; Command is the first one.
	Commands []command.Command `json:"commands"`
	Command  command.Command   `json:"command"`

	// Payload is the whole raw JSON body, kept as received.
	Payload json.RawMessage `json:"payload"`
}

// Project identifies the project an event is about.
type Project struct {
	ID   int64  `json:"id"`
	Path string `json:"path"` // path_with_namespace
	URL  string `json:"url"`  // web_url
}

// User is who caused the event.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// MergeRequest is the merge request of MR events and notes on MRs.
type MergeRequest struct {
	IID          int64    `json:"iid"`
	Title        string   `json:"title"`
	State        string   `json:"state"`
	SourceBranch string   `json:"source_branch"`
	TargetBranch string   `json:"target_branch"`
	Labels       []string `json:"labels"`
	Draft        bool     `json:"draft"`
	// SourceProjectID differs from Project.ID for merge requests from forks.
	SourceProjectID int64 `json:"source_project_id"`
}

// Issue is the issue of issue events and notes on issues.
type Issue struct {
	IID    int64    `json:"iid"`
	Title  string   `json:"title"`
	State  string   `json:"state"`
	Labels []string `json:"labels"`
}
