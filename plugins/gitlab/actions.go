package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// maxDescription is GitLab's limit on a commit status description.
const maxDescription = 255

// Comment replies where the event happened (see commentTarget): a note on
// the merge request, issue or snippet, or a comment on the commit. It
// returns the new note's id; 0 for commit comments (GitLab gives them none)
// and in dry run. Note creation also counts against NotesPerMinute.
func (s *Scope) Comment(ctx context.Context, body string) (int64, error) {
	if s.pid == nil {
		return 0, errNoProject
	}
	if strings.TrimSpace(body) == "" {
		return 0, errors.New("gitlab: comment: empty body")
	}
	t, err := s.commentTarget()
	if err != nil {
		return 0, err
	}
	r, create := s.noteable(t).comment(body)
	var note *gl.Note
	_, err = s.call(ctx, r, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		note, resp, err = create(o...)
		return resp, err
	})
	if err != nil {
		return 0, err
	}
	if note == nil {
		return 0, nil
	}
	return note.ID, nil
}

// StatusOptions describes a commit status.
type StatusOptions struct {
	// SHA is the commit; default the event's sha.
	SHA string
	// State is pending, running, success, failed, canceled or skipped.
	State string
	// Name tells statuses apart (GitLab's default is "default").
	Name string
	// Description is shortened to 255 characters.
	Description string
	// TargetURL is where the status links to.
	TargetURL string
	// Ref is the branch or tag the status is for (optional).
	Ref string
}

// statusStates are the states GitLab accepts for an external status.
var statusStates = map[string]bool{
	"pending": true, "running": true, "success": true,
	"failed": true, "canceled": true, "skipped": true,
}

// ValidStatusState reports whether GitLab accepts state for a commit status.
func ValidStatusState(state string) bool { return statusStates[state] }

// SetCommitStatus sets a commit status on the event's project. GitLab's
// 400 "Cannot transition status" and 409 (the same status set twice, or a
// race) are harmless: recorded with "ignored: ..." and nil is returned.
func (s *Scope) SetCommitStatus(ctx context.Context, o StatusOptions) error {
	if s.pid == nil {
		return errNoProject
	}
	if !statusStates[o.State] {
		return fmt.Errorf("gitlab: set_commit_status: invalid state %q (want pending, running, success, failed, canceled or skipped)", o.State)
	}
	sha := o.SHA
	if sha == "" {
		sha = s.env.SHA
	}
	if sha == "" {
		return errors.New("gitlab: set_commit_status: the event has no commit; pass sha")
	}
	opt := &gl.SetCommitStatusOptions{
		State:       gl.BuildStateValue(o.State),
		Name:        optString(o.Name),
		Description: optString(truncateRunes(o.Description, maxDescription)),
		TargetURL:   optString(o.TargetURL),
		Ref:         optString(o.Ref),
	}
	api := s.c.api
	r := request{
		method:   http.MethodPost,
		path:     s.projectPath() + "/statuses/" + gl.PathEscape(sha),
		body:     opt,
		harmless: harmlessStatus,
	}
	_, err := s.call(ctx, r, func(ro ...gl.RequestOptionFunc) (*gl.Response, error) {
		_, resp, err := api.Commits.SetCommitStatus(s.pid, sha, opt, ro...)
		return resp, err
	})
	return err
}

// harmlessStatus: setting a status it already has, or racing another
// update, is not worth a failure or a retry storm.
func harmlessStatus(status int, msg string) bool {
	return status == http.StatusConflict ||
		(status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "cannot transition status"))
}

// AddLabels adds labels to the event's merge request or issue (see
// itemTarget) with one PUT (add_labels). No labels is a no-op.
func (s *Scope) AddLabels(ctx context.Context, labels []string) error {
	return s.labels(ctx, "add_labels", labels)
}

// RemoveLabels removes labels from the event's merge request or issue with
// one PUT (remove_labels). No labels is a no-op.
func (s *Scope) RemoveLabels(ctx context.Context, labels []string) error {
	return s.labels(ctx, "remove_labels", labels)
}

func (s *Scope) labels(ctx context.Context, op string, labels []string) error {
	if s.pid == nil {
		return errNoProject
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("gitlab: %s: %w", op, err)
		}
	}
	if len(labels) == 0 {
		return nil
	}
	t, err := s.itemTarget(op)
	if err != nil {
		return err
	}
	r, send := s.noteable(t).relabel(op, labels)
	_, err = s.call(ctx, r, send)
	return err
}

// checkLabel refuses labels GitLab would misread: empty ones and ones with
// a comma (the API takes a comma-separated list).
func checkLabel(l string) error {
	switch {
	case strings.TrimSpace(l) == "":
		return errors.New("empty label")
	case strings.Contains(l, ","):
		return fmt.Errorf("label %q contains a comma", l)
	}
	return nil
}

// React awards an emoji (GitLab's name, e.g. "eyes", or as EmojiName
// reads it: ":eyes:", "👀") on the event's note when the event is a note
// on a merge request, issue or snippet, else on the event's merge request
// or issue. A name GitLab does not know is refused before any call.
// Awarding an emoji the bot already awarded is harmless (GitLab answers
// 404 "has already been taken").
func (s *Scope) React(ctx context.Context, emoji string) error {
	name, err := EmojiName(emoji)
	if err != nil {
		return fmt.Errorf("gitlab: react: %w", err)
	}
	if s.pid == nil {
		return errNoProject
	}
	var t target
	var noteID int64 // the event's note when reacting to it, else 0
	if s.env.Kind == "note" && s.env.NoteID > 0 {
		noteID = s.env.NoteID
		t, err = s.noteTarget()
		if err == nil && t.kind == onCommit {
			err = errors.New("gitlab: react: the event's note is on a commit, which takes no award emoji")
		}
	} else {
		t, err = s.itemTarget("react")
	}
	if err != nil {
		return err
	}
	r, send := s.noteable(t).award(noteID, name)
	_, err = s.call(ctx, r, send)
	return err
}

// harmlessAward: GitLab refuses an emoji the user already awarded, with a
// 404 (older versions) or 4xx saying "has already been taken".
func harmlessAward(status int, msg string) bool {
	return status >= 400 && status < 500 && strings.Contains(strings.ToLower(msg), "already been taken")
}

// projectPath is "/projects/<id or escaped path>".
func (s *Scope) projectPath() string { return "/projects/" + s.pidPath }

// itemPath is the API path of a merge request, issue or snippet.
func (s *Scope) itemPath(t target) string {
	return s.projectPath() + "/" + t.kind + "/" + strconv.FormatInt(t.id, 10)
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// truncateRunes shortens s to at most n characters, on a rune boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
