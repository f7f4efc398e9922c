package enroll_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/enroll"
	"github.com/hookgate/hookgate/gateway/enroll/enrolltest"
)

const (
	publicURL = "https://hooks.example.com"
	hookURL   = publicURL + "/hooks/gitlab"
	projectID = int64(42)
	project   = "Group/Project"
)

// clock is an injectable, settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	gl    *enrolltest.GitLab
	e     *enroll.Enroller
	file  string
	clock *clock
}

// setup starts a fake GitLab holding the project with three unrelated
// hooks (two pages of two) and an Enroller for it.
func setup(t *testing.T) *env {
	t.Helper()
	g := enrolltest.New(t)
	g.AddProject(projectID, project)
	g.AddProject(7, "other/project")
	for _, u := range []string{"https://ci.example.com/hook", "https://chat.example.com/in", "https://hooks.example.com/elsewhere"} {
		g.AddHook(projectID, u, "their-secret")
	}
	c := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "data", "enrolled-secrets.json")
	e, err := enroll.New(enroll.Options{
		GitLabURL: g.URL + "/", Token: enrolltest.Token, PublicURL: publicURL + "/",
		SecretsFile: file, Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{gl: g, e: e, file: file, clock: c}
}

// verifier builds what the gateway would from the file, on top of a "*"
// secret.
func (v *env) verifier(t *testing.T) *auth.Verifier {
	t.Helper()
	base, err := auth.New([]config.WebhookSecret{{Project: "*", Token: config.NewSecret("star-token")}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := enroll.Read(v.file)
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Enrolled()
	if err != nil {
		t.Fatal(err)
	}
	return base.WithEnrolled(e)
}

func accepts(t *testing.T, v *auth.Verifier, project, token string, at time.Time) bool {
	t.Helper()
	_, err := v.Verify("", project, auth.Headers{Token: token}, nil, at)
	return err == nil
}

// checkFile asserts the secrets file is 0600 and holds no token.
func checkFile(t *testing.T, file string, tokens ...string) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	for _, tok := range tokens {
		if tok == "" || strings.Contains(string(b), tok) {
			t.Fatalf("secrets file holds a plain token (%d bytes)", len(tok))
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func hookListPages(reqs []enrolltest.Request) []string {
	var pages []string
	for _, r := range reqs {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/hooks") {
			pages = append(pages, r.Query.Get("page"))
		}
	}
	return pages
}

func TestEnrollCreatesHook(t *testing.T) {
	v := setup(t)
	res, err := v.e.Enroll(context.Background(), "group/project", []string{"merge_requests", "note"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Project != project || res.ProjectID != projectID || res.HookURL != hookURL || len(res.Token) < 40 {
		t.Fatalf("result = %+v", res)
	}
	// Both pages of hooks were read before creating.
	if got := hookListPages(v.gl.Requests()); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("hook list pages read = %v, want [1 2]", got)
	}
	hooks := v.gl.Hooks(projectID)
	if len(hooks) != 4 {
		t.Fatalf("%d hooks, want 4", len(hooks))
	}
	h := hooks[3]
	if h.ID != res.HookID || h.URL != hookURL || h.Token != res.Token || !h.EnableSSLVerification || h.Name != "hookgate" {
		t.Errorf("hook = %+v (token match %v)", h.ProjectHook, h.Token == res.Token)
	}
	if !h.NoteEvents || !h.MergeRequestsEvents || h.PushEvents || h.IssuesEvents || h.PipelineEvents || h.JobEvents {
		t.Errorf("hook events = %+v, want note and merge_requests only (push explicitly off)", h.ProjectHook)
	}
	if !slices.Equal(res.Events, []string{"merge_requests", "note"}) {
		t.Errorf("events = %v", res.Events)
	}
	checkFile(t, v.file, res.Token)

	f, err := enroll.Read(v.file)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Find("GROUP/project")
	if p == nil || p.ProjectID != projectID || p.HookID != h.ID || p.HookURL != hookURL || len(p.Secrets) != 1 || p.FallbackUntil != nil {
		t.Fatalf("file entry = %+v", p)
	}
	if want := auth.TokenHash(f.Salt, res.Token); string(p.Secrets[0].Hash) != string(want[:]) {
		t.Error("stored hash is not TokenHash(salt, token)")
	}

	// Only the enrolled secret opens the project; others keep "*".
	ver := v.verifier(t)
	now := v.clock.Now()
	for _, c := range []struct {
		project, token string
		want           bool
	}{
		{project, res.Token, true},
		{"group/project", res.Token, true},
		{project, "star-token", false},
		{"other/project", "star-token", true},
		{"other/project", res.Token, false},
	} {
		if got := accepts(t, ver, c.project, c.token, now); got != c.want {
			t.Errorf("%s with token %.4s...: accepted %v, want %v", c.project, c.token, got, c.want)
		}
	}
}

func TestEnrollTwiceUpdatesTheSameHook(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	first, err := v.e.Enroll(ctx, project, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Events, enroll.DefaultEvents) {
		t.Errorf("default events = %v", first.Events)
	}
	v.clock.Add(time.Minute)
	before := len(v.gl.Requests())
	second, err := v.e.Enroll(ctx, project, []string{"pipeline", "job"}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	reqs := v.gl.Requests()[before:]
	if got := hookListPages(reqs); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("hook list pages = %v", got)
	}
	hooks := v.gl.Hooks(projectID)
	if len(hooks) != 4 || second.Created || second.HookID != first.HookID {
		t.Fatalf("second enroll: created=%v hook %d (first %d), %d hooks; want the page-2 hook updated", second.Created, second.HookID, first.HookID, len(hooks))
	}
	var puts int
	for _, r := range reqs {
		switch r.Method {
		case "POST":
			t.Errorf("second enroll POSTed %s", r.Path)
		case "PUT":
			puts++
			if r.Body["push_events"] != false || r.Body["job_events"] != true || r.Body["enable_ssl_verification"] != true {
				t.Errorf("PUT body = %v", r.Body)
			}
		}
	}
	if puts != 1 {
		t.Errorf("%d PUTs, want 1", puts)
	}
	h := hooks[3]
	if h.Token != second.Token || !h.PipelineEvents || !h.JobEvents || h.NoteEvents || h.MergeRequestsEvents {
		t.Errorf("updated hook = %+v", h.ProjectHook)
	}
	// The first secret lasts the grace period.
	if len(second.Previous) != 1 || second.Previous[0].ID != first.SecretID || second.Previous[0].NotAfter == nil ||
		!second.Previous[0].NotAfter.Equal(v.clock.Now().Add(10*time.Minute)) {
		t.Errorf("previous = %+v", second.Previous)
	}
	checkFile(t, v.file, first.Token, second.Token)
}

func TestEnrollAdoptsExistingHook(t *testing.T) {
	v := setup(t)
	// The admin's hand-made hook to the gateway sits on page 2, with the
	// "*" secret.
	made := v.gl.AddHook(projectID, hookURL+"/", "star-token")
	res, err := v.e.Enroll(context.Background(), project, []string{"note"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || res.HookID != made.ID || len(v.gl.Hooks(projectID)) != 4 {
		t.Fatalf("created=%v hook=%d, want hook %d updated", res.Created, res.HookID, made.ID)
	}
	// Until the grace period ends, the "*" secret still opens the project.
	if res.FallbackUntil == nil {
		t.Fatal("no fallback period")
	}
	ver, now := v.verifier(t), v.clock.Now()
	if !accepts(t, ver, project, "star-token", now.Add(59*time.Minute)) || accepts(t, ver, project, "star-token", now.Add(time.Hour)) {
		t.Error("the [[secret]] fallback does not last exactly the grace period")
	}
	if !accepts(t, ver, project, res.Token, now.Add(2*time.Hour)) {
		t.Error("enrolled secret refused")
	}
	// A duplicate hook to the same URL is reported, not touched.
	dup := v.gl.AddHook(projectID, hookURL, "x")
	res, err = v.e.Enroll(context.Background(), project, []string{"note"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Duplicates, []int64{dup.ID}) || res.HookID != made.ID {
		t.Errorf("duplicates = %v, hook %d", res.Duplicates, res.HookID)
	}
}

func TestRotate(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	if _, err := v.e.Rotate(ctx, project, time.Hour); !errors.Is(err, enroll.ErrNotEnrolled) {
		t.Fatalf("rotate before enroll: %v", err)
	}
	first, err := v.e.Enroll(ctx, project, []string{"note"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := v.clock.Now()
	before := len(v.gl.Requests())
	second, err := v.e.Rotate(ctx, "group/project", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v.gl.Requests()[before:] {
		if r.Method == "PUT" {
			for k := range r.Body {
				if strings.HasSuffix(k, "_events") {
					t.Errorf("rotate changed %s", k)
				}
			}
		}
	}
	h := v.gl.Hooks(projectID)[3]
	if h.Token != second.Token || !h.NoteEvents || second.HookID != first.HookID || len(v.gl.Hooks(projectID)) != 4 {
		t.Fatalf("hook after rotate = %+v", h.ProjectHook)
	}
	ver := v.verifier(t)
	for _, c := range []struct {
		at        time.Duration
		old, newT bool
	}{
		{0, true, true},
		{59 * time.Minute, true, true},
		{time.Hour, false, true},
		{48 * time.Hour, false, true},
	} {
		at := t0.Add(c.at)
		if got := accepts(t, ver, project, first.Token, at); got != c.old {
			t.Errorf("at +%s old secret accepted = %v, want %v", c.at, got, c.old)
		}
		if got := accepts(t, ver, project, second.Token, at); got != c.newT {
			t.Errorf("at +%s new secret accepted = %v, want %v", c.at, got, c.newT)
		}
		if accepts(t, ver, project, "star-token", at) {
			t.Errorf("at +%s the * secret opens the enrolled project", c.at)
		}
	}
	// The next write prunes the expired secret.
	v.clock.Add(2 * time.Hour)
	third, err := v.e.Rotate(ctx, project, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := enroll.List(v.file, project, v.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range infos[0].Secrets {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{second.SecretID, third.SecretID}) {
		t.Errorf("secrets after second rotation = %v, want [%s %s]", ids, second.SecretID, third.SecretID)
	}
	f, _ := enroll.Read(v.file)
	if n := len(f.Find(project).Secrets); n != 2 {
		t.Errorf("%d secrets stored, want the expired one pruned", n)
	}
	checkFile(t, v.file, first.Token, second.Token, third.Token)

	// Without the hook there is nothing to rotate.
	v.gl.DeleteHooks(projectID)
	if _, err := v.e.Rotate(ctx, project, 0); err == nil || !strings.Contains(err.Error(), "run hookgate enroll") {
		t.Errorf("rotate without a hook: %v", err)
	}
}

func TestFailedAPICallLeavesNoSecret(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	v.gl.FailNext("POST", http.StatusForbidden)
	if _, err := v.e.Enroll(ctx, project, nil, 0); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("enroll with a 403: %v", err)
	}
	if f, err := enroll.Read(v.file); err != nil || len(f.Projects) != 0 {
		t.Fatalf("after a failed first enrolment the file has %+v (%v)", f, err)
	}
	first, err := v.e.Enroll(ctx, project, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	v.gl.FailNext("PUT", http.StatusInternalServerError)
	if _, err := v.e.Rotate(ctx, project, time.Hour); err == nil {
		t.Fatal("rotate with a 500 succeeded")
	}
	infos, err := enroll.List(v.file, project, v.clock.Now())
	if err != nil || len(infos[0].Secrets) != 1 || infos[0].Secrets[0].ID != first.SecretID || infos[0].Secrets[0].NotAfter != nil {
		t.Fatalf("after a failed rotation: %+v (%v)", infos, err)
	}
	if _, err := v.e.Enroll(ctx, "no/such", nil, 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown project: %v", err)
	}
	bad, _ := enroll.New(enroll.Options{GitLabURL: v.gl.URL, Token: "wrong", PublicURL: publicURL, SecretsFile: v.file})
	if _, err := bad.Enroll(ctx, project, nil, 0); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("bad API token: %v", err)
	}
}

func TestNewOptions(t *testing.T) {
	ok := enroll.Options{GitLabURL: "https://gitlab.example.com", Token: "t", PublicURL: publicURL, SecretsFile: "f"}
	for _, c := range []struct {
		change func(*enroll.Options)
		want   string
	}{
		{func(o *enroll.Options) { o.GitLabURL = "" }, "no GitLab instance"},
		{func(o *enroll.Options) { o.Token = "" }, "no API token"},
		{func(o *enroll.Options) { o.PublicURL = "" }, "public_url is not set"},
		{func(o *enroll.Options) { o.SecretsFile = "" }, "no secrets file"},
	} {
		o := ok
		c.change(&o)
		if _, err := enroll.New(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want %q", err, c.want)
		}
	}
	e, err := enroll.New(ok)
	if err != nil || e.HookURL() != hookURL {
		t.Fatalf("New = %v, hook URL %q", err, e.HookURL())
	}
}

// A renamed project is found by its id and takes its new path, also from a
// stale entry of a deleted project that had it.
func TestEnrollAfterRename(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	if _, err := v.e.Enroll(ctx, project, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Enroll(ctx, "other/project", nil, 0); err != nil {
		t.Fatal(err)
	}
	// other/project (7) is deleted; project 42 is moved to its path.
	v.gl.AddProject(7, "gone/project")
	v.gl.AddProject(projectID, "other/project")
	res, err := v.e.Rotate(ctx, "other/project", 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := enroll.Read(v.file)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Projects) != 1 || f.Projects[0].Project != "other/project" || f.Projects[0].ProjectID != projectID {
		t.Fatalf("file projects = %+v %+v", f.Projects[0], f.Projects[min(1, len(f.Projects)-1)])
	}
	ver := v.verifier(t)
	if !accepts(t, ver, "other/project", res.Token, v.clock.Now()) || !accepts(t, ver, project, "star-token", v.clock.Now()) {
		t.Error("after the move the new path is not enrolled, or the old one still is")
	}
}
