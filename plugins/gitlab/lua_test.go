package gitlab

import (
	"context"
	"errors"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/plugins"
)

// newLua returns a state with the module as global "gitlab" and ctx set.
func newLua(t *testing.T, ctx context.Context) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.SetGlobal(Module.Name, Module.Open(L))
	if ctx != nil {
		L.SetContext(ctx)
	}
	return L
}

// goError recovers the Go error a binding raised with plugins.Raise.
func goError(err error) error {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		if ud, ok := ae.Object.(*lua.LUserData); ok {
			if e, ok := ud.Value.(error); ok {
				return e
			}
		}
	}
	return nil
}

func TestLuaModule(t *testing.T) {
	f := newFake(t, func(g got) answer {
		switch g.Method + " " + g.Path {
		case "POST /api/v4/projects/5/merge_requests/7/notes":
			return answer{201, `{"id": 901}`, nil}
		case "POST /api/v4/projects/5/merge_requests/7/notes/1244/award_emoji":
			return answer{201, `{"id": 1}`, nil}
		case "POST /api/v4/projects/5/statuses/b83d6e391c22777fca1ed3012fce84f633d7fed0":
			return answer{201, `{"id": 1}`, nil}
		case "PUT /api/v4/projects/5/merge_requests/7":
			return answer{200, `{"id": 99, "iid": 7}`, nil}
		case "GET /api/v4/projects/5/members/all/42":
			return answer{200, `{"id": 42, "access_level": 30}`, nil}
		case "GET /api/v4/projects/5/repository/files/%2Epackit%2Eyaml/raw?ref=b83d6e391c22777fca1ed3012fce84f633d7fed0":
			return answer{200, "jobs: []\n", nil}
		case "GET /api/v4/projects/5/repository/files/missing/raw?ref=main":
			return answer{404, `{"message":"404 File Not Found"}`, nil}
		case "GET /api/v4/projects/5/merge_requests/7":
			return answer{200, `{"id": 99, "iid": 7, "source_branch": "feature", "labels": ["bug"],
				"author": {"id": 1, "username": "root"}, "draft": false}`, nil}
		case "POST /api/v4/projects/5/pipeline":
			return answer{201, `{"id": 77, "web_url": "https://gl/p/77", "status": "created", "ref": "feature"}`, nil}
		}
		t.Errorf("unexpected request %s %s", g.Method, g.Path)
		return answer{500, "{}", nil}
	})
	s := f.scope(t, mrNoteEnv(), nil)
	L := newLua(t, WithScope(t.Context(), s))
	err := L.DoString(`
		local id = gitlab.comment("Building **now**")
		assert(id == 901, "note id " .. tostring(id))
		gitlab.react("eyes")
		gitlab.set_commit_status{state = "pending", name = "packit", description = "queued", target_url = "https://ci/1"}
		gitlab.add_labels{"a", "b"}
		gitlab.remove_labels("c", "d")
		assert(gitlab.access_level(42) == 30)
		assert(gitlab.file(".packit.yaml") == "jobs: []\n")
		assert(gitlab.file("missing", "main") == nil)
		local mr = gitlab.merge_request()
		assert(mr.iid == 7 and mr.source_branch == "feature", "mr")
		assert(mr.labels[1] == "bug" and mr.author.username == "root" and mr.draft == false, "mr fields")
		local p = gitlab.create_pipeline{variables = {PACKIT = "1", N = 2, ON = true}}
		assert(p.id == 77 and p.web_url == "https://gl/p/77" and p.status == "created", "pipeline")
	`)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ method, path, body string }{
		{"POST", "/api/v4/projects/5/merge_requests/7/notes", `{"body":"Building **now**"}`},
		{"POST", "/api/v4/projects/5/merge_requests/7/notes/1244/award_emoji", `{"name":"eyes"}`},
		{"POST", "/api/v4/projects/5/statuses/b83d6e391c22777fca1ed3012fce84f633d7fed0",
			`{"state":"pending","name":"packit","description":"queued","target_url":"https://ci/1"}`},
		{"PUT", "/api/v4/projects/5/merge_requests/7", `{"add_labels":"a,b"}`},
		{"PUT", "/api/v4/projects/5/merge_requests/7", `{"remove_labels":"c,d"}`},
		{"GET", "/api/v4/projects/5/members/all/42", ""},
		{"GET", "/api/v4/projects/5/repository/files/%2Epackit%2Eyaml/raw?ref=b83d6e391c22777fca1ed3012fce84f633d7fed0", ""},
		{"GET", "/api/v4/projects/5/repository/files/missing/raw?ref=main", ""},
		{"GET", "/api/v4/projects/5/merge_requests/7", ""},
		{"POST", "/api/v4/projects/5/pipeline",
			`{"ref":"feature","variables":[{"key":"N","value":"2"},{"key":"ON","value":"true"},{"key":"PACKIT","value":"1"}]}`},
	}
	reqs := f.requests()
	if len(reqs) != len(want) {
		t.Fatalf("GitLab got %d requests, want %d: %+v", len(reqs), len(want), reqs)
	}
	for i, w := range want {
		r := reqs[i]
		if r.Method != w.method || r.Path != w.path || !jsonEqual(t, r.Body, w.body) {
			t.Errorf("request %d: %s %s %s, want %s %s %s", i, r.Method, r.Path, r.Body, w.method, w.path, w.body)
		}
		if r.Token != testToken || r.UUID != testUUID {
			t.Errorf("request %d: token %q uuid %q", i, r.Token, r.UUID)
		}
	}
	if n := len(s.Calls()); n != len(want) {
		t.Errorf("recorded %d calls, want %d", n, len(want))
	}
}

func TestLuaDryRun(t *testing.T) {
	cs, _ := New(nil, nil)
	env := mrNoteEnv()
	s := cs.For(env).Scope(env, testUUID)
	L := newLua(t, WithScope(t.Context(), s))
	err := L.DoString(`
		assert(gitlab.comment("hi") == 0)
		assert(gitlab.access_level(3) == 50)
		assert(gitlab.file("x") == nil)
		local mr = gitlab.merge_request()
		assert(mr.iid == 7 and mr.target_branch == "main" and mr.labels[1] == "bug")
		local p = gitlab.create_pipeline()
		assert(p.id == 0 and p.ref == "feature")
	`)
	if err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if len(calls) != 5 || string(calls[0].Body) != `{"body":"hi"}` || !calls[0].DryRun {
		t.Errorf("recorded %+v", calls)
	}
}

func TestLuaErrors(t *testing.T) {
	tests := []struct {
		name string
		code string
		want string
	}{
		{"status for another project", `gitlab.set_commit_status{project = 7, state = "success"}`,
			"gitlab: unknown field project (set_commit_status acts on the event's own project only)"},
		{"comment with a project table", `gitlab.comment("x", {project = "other/repo"})`, "gitlab: unknown field project"},
		{"pipeline for another project", `gitlab.create_pipeline{project = "other/repo", ref = "main"}`, "gitlab: unknown field project"},
		{"labels with a project", `gitlab.add_labels{"a", project = "other/repo"}`, "gitlab: unknown field project"},
		{"react with a project id", `gitlab.react("eyes", {project_id = 9})`, "gitlab: unknown field project_id"},
		{"file with a project", `gitlab.file("a", "main", {project = 1})`, "gitlab: unknown field project"},
		{"unknown status field", `gitlab.set_commit_status{state = "success", colour = "red"}`,
			"gitlab: unknown field colour (set_commit_status takes sha, state, name, description, target_url, ref)"},
		{"bad state", `gitlab.set_commit_status{state = "bogus"}`, "state must be pending, running"},
		{"missing state", `gitlab.set_commit_status{}`, "state must be pending"},
		{"state not a string", `gitlab.set_commit_status{state = true}`, "field state must be a string"},
		{"no body", `gitlab.comment()`, "bad argument #1 to comment"},
		{"extra argument", `gitlab.comment("x", "y")`, "comment takes 1 argument(s)"},
		{"fractional user", `gitlab.access_level(1.5)`, "user id must be a positive integer"},
		{"label not a string", `gitlab.add_labels{1}`, "labels must be strings"},
		{"no labels", `gitlab.add_labels()`, "labels expected"},
		{"variables not a table", `gitlab.create_pipeline{variables = "A=1"}`, "variables must be a table"},
		{"variable value a table", `gitlab.create_pipeline{variables = {A = {}}}`, "variable A must be a string, number or boolean"},
		{"merge request of an issue note", `gitlab.merge_request(1)`, "merge_request takes 0 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := failServer(t)
			s := f.scope(t, mrNoteEnv(), nil)
			L := newLua(t, WithScope(t.Context(), s))
			err := L.DoString(tt.code)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if n := len(s.Calls()); n != 0 {
				t.Errorf("recorded %d calls, want none", n)
			}
		})
	}
}

// TestLuaReactUnknownEmoji: a name GitLab does not know, even one built
// at run time (which check cannot see), fails the run for good with a
// clear error, and no API call is made.
func TestLuaReactUnknownEmoji(t *testing.T) {
	f := failServer(t)
	s := f.scope(t, mrNoteEnv(), nil)
	L := newLua(t, WithScope(t.Context(), s))
	err := goError(L.DoString(`local e = "rok" .. "cet"; gitlab.react(e)`))
	const want = `gitlab: react: "rokcet" is not a GitLab emoji name; did you mean "rocket"?`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if _, retry := plugins.IsRetry(err); retry {
		t.Error("an unknown emoji must fail the run for good")
	}
	if n := len(s.Calls()); n != 0 {
		t.Errorf("recorded %d calls, want none", n)
	}
}

func TestLuaNoScope(t *testing.T) {
	for name, ctx := range map[string]context.Context{
		"no context":       nil,
		"context no scope": context.Background(),
	} {
		t.Run(name, func(t *testing.T) {
			L := newLua(t, ctx)
			err := L.DoString(`gitlab.comment("x")`)
			if !errors.Is(goError(err), errNoScope) {
				t.Fatalf("err = %v, want %v", err, errNoScope)
			}
			if msg := goError(err).Error(); !strings.HasSuffix(msg, "gitlab: no GitLab scope for this run") {
				t.Errorf("message %q", msg)
			}
		})
	}
}

// TestLuaRaisesGoErrors: API failures reach the runtime as Go errors, so a
// 5xx stays retryable and a 404 final; scripts that pcall see the message.
func TestLuaRaisesGoErrors(t *testing.T) {
	tests := []struct {
		status int
		retry  bool
	}{
		{500, true},
		{429, true},
		{404, false},
	}
	for _, tt := range tests {
		f := newFake(t, func(got) answer { return answer{tt.status, `{"message":"boom"}`, nil} })
		s := f.scope(t, mrNoteEnv(), nil)
		L := newLua(t, WithScope(t.Context(), s))
		err := L.DoString(`gitlab.comment("x")`)
		gerr := goError(err)
		if gerr == nil {
			t.Fatalf("%d: err = %v, want a raised Go error", tt.status, err)
		}
		if _, retry := plugins.IsRetry(gerr); retry != tt.retry {
			t.Errorf("%d: retryable = %v, want %v (%v)", tt.status, retry, tt.retry, gerr)
		}
		if err := L.DoString(`
			local ok, e = pcall(gitlab.comment, "x")
			assert(not ok)
			assert(tostring(e):find("boom", 1, true), tostring(e))
		`); err != nil {
			t.Errorf("%d: pcall: %v", tt.status, err)
		}
	}
}
