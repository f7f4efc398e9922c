package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/plugins"
)

// TestCalls checks, for each action, the exact request GitLab receives
// (method, path, JSON body, token and event UUID headers) and that the
// recorded call matches it without the token.
func TestCalls(t *testing.T) {
	const sha = "b83d6e391c22777fca1ed3012fce84f633d7fed0"
	tests := []struct {
		name     string
		env      *envelope.Envelope
		do       func(ctx context.Context, s *Scope) error
		reply    answer
		method   string
		path     string
		body     string
		wantNote int64 // for comments
	}{
		{
			name: "comment on MR note", env: mrNoteEnv(),
			do:     comment("Building."),
			reply:  answer{201, `{"id": 901, "body": "Building."}`, nil},
			method: "POST", path: "/api/v4/projects/5/merge_requests/7/notes",
			body: `{"body":"Building."}`, wantNote: 901,
		},
		{
			name: "comment on issue note", env: issueNoteEnv(),
			do:     comment("Thanks"),
			reply:  answer{201, `{"id": 902}`, nil},
			method: "POST", path: "/api/v4/projects/5/issues/17/notes",
			body: `{"body":"Thanks"}`, wantNote: 902,
		},
		{
			name: "comment on commit note", env: commitNoteEnv(),
			do:     comment("On it"),
			reply:  answer{201, `{"note": "On it"}`, nil},
			method: "POST", path: "/api/v4/projects/5/repository/commits/cfe32cf61b73a0d5e9f13e774abde7ff789b1660/comments",
			body: `{"note":"On it","path":null,"line":null,"line_type":null}`,
		},
		{
			name: "comment on snippet note", env: snippetNoteEnv(),
			do:     comment("ok"),
			reply:  answer{201, `{"id": 903}`, nil},
			method: "POST", path: "/api/v4/projects/5/snippets/53/notes",
			body: `{"body":"ok"}`, wantNote: 903,
		},
		{
			name: "comment on MR event", env: mrEventEnv(),
			do:     comment("hi"),
			reply:  answer{201, `{"id": 904}`, nil},
			method: "POST", path: "/api/v4/projects/5/merge_requests/1/notes",
			body: `{"body":"hi"}`, wantNote: 904,
		},
		{
			name: "comment on issue event", env: issueEventEnv(),
			do:     comment("hi"),
			reply:  answer{201, `{"id": 905}`, nil},
			method: "POST", path: "/api/v4/projects/5/issues/23/notes",
			body: `{"body":"hi"}`, wantNote: 905,
		},
		{
			name: "comment on push goes to the commit", env: pushEnv(),
			do:     comment("pushed"),
			reply:  answer{201, `{"note": "pushed"}`, nil},
			method: "POST", path: "/api/v4/projects/5/repository/commits/da1560886d4f094c3e6c9ef40349f7d38b5d27d7/comments",
			body: `{"note":"pushed","path":null,"line":null,"line_type":null}`,
		},
		{
			name: "comment by project path when no id",
			env: func() *envelope.Envelope {
				e := mrNoteEnv()
				e.Project.ID = 0
				return e
			}(),
			do:     comment("x"),
			reply:  answer{201, `{"id": 1}`, nil},
			method: "POST", path: "/api/v4/projects/gitlab-org%2Fgitlab-test/merge_requests/7/notes",
			body: `{"body":"x"}`, wantNote: 1,
		},
		{
			name: "commit status defaults to the event sha", env: mrNoteEnv(),
			do: func(ctx context.Context, s *Scope) error {
				return s.SetCommitStatus(ctx, StatusOptions{State: "pending", Name: "packit/build",
					Description: strings.Repeat("é", 300), TargetURL: "https://ci.example.com/1"})
			},
			reply:  answer{201, `{"id": 1, "status": "pending"}`, nil},
			method: "POST", path: "/api/v4/projects/5/statuses/" + sha,
			body: `{"state":"pending","name":"packit/build","description":"` + strings.Repeat("é", 255) +
				`","target_url":"https://ci.example.com/1"}`,
		},
		{
			name: "commit status with sha and ref", env: pushEnv(),
			do: func(ctx context.Context, s *Scope) error {
				return s.SetCommitStatus(ctx, StatusOptions{SHA: "abc", State: "success", Ref: "main"})
			},
			reply:  answer{201, `{"id": 2}`, nil},
			method: "POST", path: "/api/v4/projects/5/statuses/abc",
			body: `{"state":"success","ref":"main"}`,
		},
		{
			name: "add labels on MR", env: mrNoteEnv(),
			do: func(ctx context.Context, s *Scope) error {
				return s.AddLabels(ctx, []string{"needs-review", "packit"})
			},
			reply:  answer{200, `{"iid": 7, "labels": ["bug", "needs-review", "packit"]}`, nil},
			method: "PUT", path: "/api/v4/projects/5/merge_requests/7",
			body: `{"add_labels":"needs-review,packit"}`,
		},
		{
			name: "remove labels on MR event", env: mrEventEnv(),
			do: func(ctx context.Context, s *Scope) error {
				return s.RemoveLabels(ctx, []string{"bug"})
			},
			reply:  answer{200, `{"iid": 1}`, nil},
			method: "PUT", path: "/api/v4/projects/5/merge_requests/1",
			body: `{"remove_labels":"bug"}`,
		},
		{
			name: "add labels on issue", env: issueNoteEnv(),
			do: func(ctx context.Context, s *Scope) error {
				return s.AddLabels(ctx, []string{"triage"})
			},
			reply:  answer{200, `{"id": 9, "iid": 17}`, nil},
			method: "PUT", path: "/api/v4/projects/5/issues/17",
			body: `{"add_labels":"triage"}`,
		},
		{
			name: "react on MR note", env: mrNoteEnv(),
			do:     func(ctx context.Context, s *Scope) error { return s.React(ctx, ":eyes:") },
			reply:  answer{201, `{"id": 1, "name": "eyes"}`, nil},
			method: "POST", path: "/api/v4/projects/5/merge_requests/7/notes/1244/award_emoji",
			body: `{"name":"eyes"}`,
		},
		{
			name: "react on issue note", env: issueNoteEnv(),
			do:     func(ctx context.Context, s *Scope) error { return s.React(ctx, "👍") },
			reply:  answer{201, `{"id": 1}`, nil},
			method: "POST", path: "/api/v4/projects/5/issues/17/notes/1241/award_emoji",
			body: `{"name":"thumbsup"}`,
		},
		{
			name: "react on snippet note", env: snippetNoteEnv(),
			do:     func(ctx context.Context, s *Scope) error { return s.React(ctx, "eyes") },
			reply:  answer{201, `{"id": 1}`, nil},
			method: "POST", path: "/api/v4/projects/5/snippets/53/notes/1245/award_emoji",
			body: `{"name":"eyes"}`,
		},
		{
			name: "react on MR event", env: mrEventEnv(),
			do:     func(ctx context.Context, s *Scope) error { return s.React(ctx, "rocket") },
			reply:  answer{201, `{"id": 1}`, nil},
			method: "POST", path: "/api/v4/projects/5/merge_requests/1/award_emoji",
			body: `{"name":"rocket"}`,
		},
		{
			name: "react twice is harmless", env: mrNoteEnv(),
			do:     func(ctx context.Context, s *Scope) error { return s.React(ctx, "eyes") },
			reply:  answer{404, `{"message":"404 Award Emoji Name has already been taken Not Found"}`, nil},
			method: "POST", path: "/api/v4/projects/5/merge_requests/7/notes/1244/award_emoji",
			body: `{"name":"eyes"}`,
		},
		{
			name: "create pipeline on the MR source branch", env: mrNoteEnv(),
			do: func(ctx context.Context, s *Scope) error {
				p, err := s.CreatePipeline(ctx, "", map[string]string{"B": "2", "A": "1"})
				if err == nil && (p.ID != 77 || p.WebURL != "https://gl/p/77") {
					return errors.New("unexpected pipeline " + p.WebURL)
				}
				return err
			},
			reply:  answer{201, `{"id": 77, "web_url": "https://gl/p/77", "status": "created", "ref": "feature"}`, nil},
			method: "POST", path: "/api/v4/projects/5/pipeline",
			body: `{"ref":"feature","variables":[{"key":"A","value":"1"},{"key":"B","value":"2"}]}`,
		},
		{
			name: "create pipeline on a push branch", env: pushEnv(),
			do: func(ctx context.Context, s *Scope) error {
				_, err := s.CreatePipeline(ctx, "", nil)
				return err
			},
			reply:  answer{201, `{"id": 78}`, nil},
			method: "POST", path: "/api/v4/projects/5/pipeline",
			body: `{"ref":"master"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var note int64
			f := newFake(t, func(got) answer { return tt.reply })
			s := f.scope(t, tt.env, nil)
			err := tt.do(context.WithValue(t.Context(), noteOut{}, &note), s)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("GitLab got %d requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			if !jsonEqual(t, r.Body, tt.body) {
				t.Errorf("body %s, want %s", r.Body, tt.body)
			}
			if r.Token != testToken {
				t.Errorf("PRIVATE-TOKEN %q, want the bot token", r.Token)
			}
			if r.UUID != testUUID {
				t.Errorf("X-Gitlab-Event-UUID %q, want %q", r.UUID, testUUID)
			}
			if note != tt.wantNote {
				t.Errorf("note id %d, want %d", note, tt.wantNote)
			}
			calls := s.Calls()
			if len(calls) != 1 {
				t.Fatalf("recorded %d calls, want 1", len(calls))
			}
			c := calls[0]
			if c.Method != r.Method || "/api/v4"+c.Path != r.Path || c.Status != tt.reply.status || c.DryRun {
				t.Errorf("recorded %+v, want %s %s status %d", c, r.Method, r.Path, tt.reply.status)
			}
			if !jsonEqual(t, string(c.Body), r.Body) {
				t.Errorf("recorded body %s, sent %s", c.Body, r.Body)
			}
			b, _ := json.Marshal(calls)
			if strings.Contains(string(b), testToken) {
				t.Errorf("token recorded: %s", b)
			}
		})
	}
}

// noteOut carries where comment() test actions store the note id.
type noteOut struct{}

func comment(body string) func(ctx context.Context, s *Scope) error {
	return func(ctx context.Context, s *Scope) error {
		id, err := s.Comment(ctx, body)
		if p, ok := ctx.Value(noteOut{}).(*int64); ok {
			*p = id
		}
		return err
	}
}

func TestCommitStatusHarmless(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantErr   bool
		wantError string // recorded Call.Error
	}{
		{"cannot transition", 400, `{"message":"Cannot transition status via :run from :running (Reasons: ...)"}`, false,
			"ignored: 400 Bad Request: Cannot transition status via :run from :running (Reasons: ...)"},
		{"conflict", 409, `{"message":"409 Conflict"}`, false, "ignored: 409 Conflict"},
		{"other 400 is final", 400, `{"message":{"state":["is invalid"]}}`, true,
			"gitlab: POST /projects/5/statuses/abc: 400 Bad Request: state: is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(got) answer { return answer{tt.status, tt.body, nil} })
			s := f.scope(t, pushEnv(), nil)
			err := s.SetCommitStatus(t.Context(), StatusOptions{SHA: "abc", State: "running"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if _, retry := plugins.IsRetry(err); retry {
					t.Errorf("a 400 must be final, got retryable %v", err)
				}
				var ae *APIError
				if !errors.As(err, &ae) || ae.Status != tt.status {
					t.Errorf("err %v is not an APIError with status %d", err, tt.status)
				}
			}
			c := s.Calls()
			if len(c) != 1 || c[0].Status != tt.status || c[0].Error != tt.wantError {
				t.Errorf("recorded %+v, want status %d error %q", c, tt.status, tt.wantError)
			}
		})
	}
}

func TestActionArgumentErrors(t *testing.T) {
	noProject := mrNoteEnv()
	noProject.Project = envelope.Project{}
	tests := []struct {
		name string
		env  *envelope.Envelope
		do   func(ctx context.Context, s *Scope) error
		want string
	}{
		{"empty comment", mrNoteEnv(), comment("  "), "gitlab: comment: empty body"},
		{"nowhere to comment", &envelope.Envelope{Kind: "push", Project: project()}, comment("x"),
			"gitlab: the event has no merge request, issue or commit to comment on"},
		{"no project", noProject, comment("x"), "gitlab: the event has no project"},
		{"bad state", mrNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.SetCommitStatus(ctx, StatusOptions{State: "done"})
		}, `gitlab: set_commit_status: invalid state "done" (want pending, running, success, failed, canceled or skipped)`},
		{"no sha", issueNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.SetCommitStatus(ctx, StatusOptions{State: "success"})
		}, "gitlab: set_commit_status: the event has no commit; pass sha"},
		{"label with comma", mrNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.AddLabels(ctx, []string{"a,b"})
		}, `gitlab: add_labels: label "a,b" contains a comma`},
		{"labels on a push", pushEnv(), func(ctx context.Context, s *Scope) error {
			return s.AddLabels(ctx, []string{"a"})
		}, "gitlab: add_labels: the event has no merge request or issue"},
		{"labels on a commit note", commitNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.RemoveLabels(ctx, []string{"a"})
		}, "gitlab: remove_labels: the event's note is on a Commit, not a merge request or issue"},
		{"react on a commit note", commitNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.React(ctx, "eyes")
		}, "gitlab: react: the event's note is on a commit, which takes no award emoji"},
		{"bad emoji", mrNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.React(ctx, "::")
		}, `gitlab: react: "::" is not a GitLab emoji name (names like "eyes", "thumbsup", "rocket")`},
		{"misspelt emoji", mrNoteEnv(), func(ctx context.Context, s *Scope) error {
			return s.React(ctx, "rokcet")
		}, `gitlab: react: "rokcet" is not a GitLab emoji name; did you mean "rocket"?`},
		{"misspelt emoji without a project", noProject, func(ctx context.Context, s *Scope) error {
			return s.React(ctx, "rokcet")
		}, `gitlab: react: "rokcet" is not a GitLab emoji name; did you mean "rocket"?`},
		{"pipeline for a fork MR", func() *envelope.Envelope {
			e := mrNoteEnv()
			e.MergeRequest.SourceProjectID = 99
			return e
		}(), func(ctx context.Context, s *Scope) error {
			_, err := s.CreatePipeline(ctx, "", nil)
			return err
		}, "gitlab: create_pipeline: the merge request comes from a fork; pass ref"},
		{"merge request of an issue", issueNoteEnv(), func(ctx context.Context, s *Scope) error {
			_, err := s.MergeRequest(ctx)
			return err
		}, "gitlab: merge_request: the event has no merge request"},
		{"bad user id", mrNoteEnv(), func(ctx context.Context, s *Scope) error {
			_, err := s.AccessLevel(ctx, 0)
			return err
		}, "gitlab: access_level: invalid user id 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(g got) answer {
				t.Errorf("no request expected, got %s %s", g.Method, g.Path)
				return answer{500, "{}", nil}
			})
			s := f.scope(t, tt.env, nil)
			err := tt.do(t.Context(), s)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if _, retry := plugins.IsRetry(err); retry {
				t.Errorf("argument errors must be final")
			}
			if n := len(s.Calls()); n != 0 {
				t.Errorf("recorded %d calls, want 0", n)
			}
		})
	}
}

func TestNoLabelsIsNoop(t *testing.T) {
	f := failServer(t)
	s := f.scope(t, mrNoteEnv(), nil)
	if err := s.AddLabels(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if len(s.Calls()) != 0 || len(f.requests()) != 0 {
		t.Fatal("no call expected")
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"ééé", 2, "éé"},
		{"ééé", 3, "ééé"},
	}
	for _, tt := range tests {
		if got := truncateRunes(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
