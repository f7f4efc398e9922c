package gitlab

import (
	"net/http"
	"strconv"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// noteable is a resolved target with the calls an action makes on it: the
// one place that maps merge requests, issues, snippets and commits to their
// API paths and client-go calls. Actions resolve the target (commentTarget,
// itemTarget, noteTarget), take a request and its send from here and pass
// both to Scope.call. The sends use the client only when called, never in
// dry run (where it may be nil).
type noteable struct {
	s *Scope
	target
}

func (s *Scope) noteable(t target) noteable { return noteable{s: s, target: t} }

// noteFunc performs a note-creating client-go call; it returns the new
// note, nil for commit comments (GitLab gives them no id).
type noteFunc func(opts ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error)

// path is the API path of the merge request, issue or snippet, or of the
// commit.
func (n noteable) path() string {
	if n.kind == onCommit {
		return n.s.projectPath() + "/repository/commits/" + gl.PathEscape(n.sha)
	}
	return n.s.itemPath(n.target)
}

// comment is the POST that adds text to the target as a note (as a comment
// on a commit), counted against the notes limit, and its call.
func (n noteable) comment(text string) (request, noteFunc) {
	api, pid, id := n.s.c.api, n.s.pid, n.id
	r := request{method: http.MethodPost, path: n.path() + "/notes", note: true}
	switch n.kind {
	case onMR:
		opt := &gl.CreateMergeRequestNoteOptions{Body: &text}
		r.body = opt
		return r, func(o ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error) {
			return api.Notes.CreateMergeRequestNote(pid, id, opt, o...)
		}
	case onIssue:
		opt := &gl.CreateIssueNoteOptions{Body: &text}
		r.body = opt
		return r, func(o ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error) {
			return api.Notes.CreateIssueNote(pid, id, opt, o...)
		}
	case onSnippet:
		opt := &gl.CreateSnippetNoteOptions{Body: &text}
		r.body = opt
		return r, func(o ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error) {
			return api.Notes.CreateSnippetNote(pid, id, opt, o...)
		}
	default:
		opt := &gl.PostCommitCommentOptions{Note: &text}
		r.path, r.body = n.path()+"/comments", opt
		return r, func(o ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error) {
			_, resp, err := api.Commits.PostCommitComment(pid, n.sha, opt, o...)
			return nil, resp, err
		}
	}
}

// award is the POST that awards the emoji name to the target's note noteID
// (a merge request's, issue's or snippet's), or to the merge request or
// issue itself when noteID is 0, and its call. An emoji already awarded is
// harmless (see harmlessAward).
func (n noteable) award(noteID int64, name string) (request, sendFunc) {
	api, pid, id := n.s.c.api, n.s.pid, n.id
	opt := &gl.CreateAwardEmojiOptions{Name: name}
	r := request{method: http.MethodPost, path: n.path() + "/award_emoji", body: opt, harmless: harmlessAward}
	if noteID == 0 {
		return r, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
			if n.kind == onMR {
				_, resp, err = api.AwardEmoji.CreateMergeRequestAwardEmoji(pid, id, opt, o...)
			} else {
				_, resp, err = api.AwardEmoji.CreateIssueAwardEmoji(pid, id, opt, o...)
			}
			return resp, err
		}
	}
	r.path = n.path() + "/notes/" + strconv.FormatInt(noteID, 10) + "/award_emoji"
	return r, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		switch n.kind {
		case onMR:
			_, resp, err = api.AwardEmoji.CreateMergeRequestAwardEmojiOnNote(pid, id, noteID, opt, o...)
		case onIssue:
			_, resp, err = api.AwardEmoji.CreateIssuesAwardEmojiOnNote(pid, id, noteID, opt, o...)
		default:
			_, resp, err = api.AwardEmoji.CreateSnippetAwardEmojiOnNote(pid, id, noteID, opt, o...)
		}
		return resp, err
	}
}

// relabel is the PUT that adds (op "add_labels") or removes (op
// "remove_labels") labels on the target merge request or issue, and its
// call.
func (n noteable) relabel(op string, labels []string) (request, sendFunc) {
	api, pid, id := n.s.c.api, n.s.pid, n.id
	lo := gl.LabelOptions(append([]string(nil), labels...))
	add, remove := &lo, (*gl.LabelOptions)(nil)
	if op != "add_labels" {
		add, remove = nil, &lo
	}
	r := request{method: http.MethodPut, path: n.path()}
	if n.kind == onMR {
		opt := &gl.UpdateMergeRequestOptions{AddLabels: add, RemoveLabels: remove}
		r.body = opt
		return r, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
			_, resp, err := api.MergeRequests.UpdateMergeRequest(pid, id, opt, o...)
			return resp, err
		}
	}
	opt := &gl.UpdateIssueOptions{AddLabels: add, RemoveLabels: remove}
	r.body = opt
	return r, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		_, resp, err := api.Issues.UpdateIssue(pid, id, opt, o...)
		return resp, err
	}
}
