package rules

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// fakeAccess answers access levels from a map and counts the questions.
type fakeAccess struct {
	mu     sync.Mutex
	levels map[int64]int
	err    error
	calls  int
}

func (f *fakeAccess) AccessLevel(_ context.Context, _ *envelope.Envelope, userID int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return 0, f.err
	}
	return f.levels[userID], nil
}

func (f *fakeAccess) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

const bot = "hookgate-bot"

func botDeps(access AccessChecker) Deps {
	return Deps{Access: access, BotUsername: func(string) string { return bot }}
}

// loadRules writes content as one rule file and loads it.
func loadRules(t testing.TB, content string) *Set {
	t.Helper()
	dir := writeFiles(t, t.TempDir(), map[string]string{"rules.toml": content})
	set, err := Load([]string{filepath.Join(dir, "*.toml")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// summary renders a Result as comparable strings: "match:name",
// "skip:name:reason", "error:name:message's first line".
func summary(res Result) []string {
	var out []string
	for _, m := range res.Matches {
		out = append(out, "match:"+m.Rule.Name)
	}
	for _, s := range res.Skipped {
		out = append(out, "skip:"+s.Rule+":"+s.Reason)
	}
	for _, e := range res.Errors {
		msg, _, _ := strings.Cut(e.Err.Error(), "\n")
		out = append(out, "error:"+e.Rule+":"+msg)
	}
	return out
}

const exampleRules = `
[[rule]]
name = "packit-build"
on = ["note"]
when = 'note contains "/packit build"'
plugin = "packit_build"
params = { chroots = ["fedora-rawhide-x86_64"] }

[[rule]]
name = "packit-build-helper"
on = ["note"]
when = 'has_command("/packit", "build") && command_args("/packit", "build") == ["--chroot", "fedora"]'
plugin = "p"

[[rule]]
name = "retest"
on = ["note"]
when = 'command.name == "retest"'
plugin = "p"
require_access = "developer"

[[rule]]
name = "bug-label"
when = '"bug" in labels'
plugin = "p"

[[rule]]
name = "infra"
when = 'project.path matches "^infra/"'
plugin = "p"

[[rule]]
name = "mr-opened"
on = ["merge_request"]
when = 'kind == "merge_request" && action in ["open", "reopen"]'
plugin = "label"
params = { add = ["needs-review"] }

[[rule]]
name = "pipeline-failed"
on = ["pipeline"]
when = '(payload.object_attributes?.status ?? "none") == "failed" && payload.nothing?.here ?? true'
plugin = "p"

[[rule]]
name = "infra-push"
on = ["push"]
projects = ["infra/*"]
plugin = "p"
`

func TestMatchExamples(t *testing.T) {
	set := loadRules(t, exampleRules)
	access := &fakeAccess{levels: map[int64]int{1: AccessReporter, 7: AccessDeveloper}}
	byUser := func(id int, username string) func(map[string]any) {
		return func(m map[string]any) {
			obj(m, "user")["id"] = id
			obj(m, "user")["username"] = username
		}
	}
	project := func(path string) func(map[string]any) {
		return func(m map[string]any) { obj(m, "project")["path_with_namespace"] = path }
	}
	tests := []struct {
		name    string
		fixture string
		patch   func(map[string]any)
		want    []string
	}{
		{"packit build in an MR note", "note_merge_request", note("Looks good.\n/packit build --chroot fedora"),
			[]string{"match:packit-build", "match:packit-build-helper"}},
		{"packit build in a code block is still text but no command", "note_merge_request", note("```\n/packit build --chroot fedora\n```"),
			[]string{"match:packit-build"}},
		{"retest by a developer", "note_issue", patches(note("/retest"), byUser(7, "dev")),
			[]string{"match:retest"}},
		{"bug label on an MR", "merge_request", func(m map[string]any) {
			m["labels"] = []any{map[string]any{"title": "bug"}, map[string]any{"title": "ui"}}
		}, []string{"match:bug-label", "match:mr-opened"}},
		{"reopened MR", "merge_request", func(m map[string]any) { obj(m, "object_attributes")["action"] = "reopen" },
			[]string{"match:mr-opened"}},
		{"merged MR", "merge_request", func(m map[string]any) { obj(m, "object_attributes")["action"] = "merge" },
			nil},
		{"infra project path", "note_commit", project("infra/tools"),
			[]string{"match:infra"}},
		{"pipeline failed, read from payload", "pipeline", func(m map[string]any) { obj(m, "object_attributes")["status"] = "failed" },
			[]string{"match:pipeline-failed"}},
		{"pipeline succeeded", "pipeline", nil, nil},
		{"push to an infra project", "push", project("infra/app"),
			[]string{"match:infra", "match:infra-push"}},

		// Must not match.
		{"push event vs note rules", "push", nil, nil},
		{"push to a nested project is outside infra/*", "push", project("infra/sub/app"),
			[]string{"match:infra"}},
		{"the bot's own note", "note_merge_request", patches(note("Run `/packit build` again?\n/packit build --chroot fedora"), byUser(99, bot)),
			[]string{
				"skip:packit-build:event by the bot user hookgate-bot (allow_bots is false)",
				"skip:packit-build-helper:event by the bot user hookgate-bot (allow_bots is false)",
			}},
		{"a system note", "note_merge_request", patches(note("/packit build"), func(m map[string]any) { obj(m, "object_attributes")["system"] = true }),
			[]string{"skip:packit-build:system note (allow_bots is false)"}},
		{"an edited note", "note_merge_request", patches(note("/retest"), func(m map[string]any) { obj(m, "object_attributes")["action"] = "update" }),
			[]string{"skip:retest:edited note (on_edit is false)"}},
		{"retest by a reporter", "note_merge_request", note("/retest"),
			[]string{"skip:retest:access denied: user root has reporter (20), rule needs developer (30)"}},
		{"retest by a non-member", "note_merge_request", patches(note("/retest"), byUser(5, "stranger")),
			[]string{"skip:retest:access denied: user stranger has no access (0), rule needs developer (30)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := event(t, tt.fixture, tt.patch)
			got := summary(set.Match(context.Background(), env, botDeps(access)))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestMatchParamsAndOrder(t *testing.T) {
	set := loadRules(t, exampleRules)
	env := event(t, "note_merge_request", note("/packit build --chroot fedora"))
	res := set.Match(context.Background(), env, Deps{})
	if len(res.Matches) != 2 {
		t.Fatalf("matches = %v", summary(res))
	}
	m := res.Matches[0]
	if m.Rule.Plugin != "packit_build" || fmt.Sprint(m.Params["chroots"]) != "[fedora-rawhide-x86_64]" {
		t.Errorf("match = %+v params %v", m.Rule, m.Params)
	}
}

func TestMatchFlags(t *testing.T) {
	set := loadRules(t, `
[[rule]]
name = "bots-welcome"
on = ["note"]
when = 'has_command("/hello")'
plugin = "p"
allow_bots = true
on_edit = true

[[rule]]
name = "first-stop"
on = ["note"]
when = 'note contains "stop"'
plugin = "p"
stop = true

[[rule]]
name = "after-stop"
on = ["note"]
plugin = "p"

[[rule]]
name = "disabled"
plugin = "p"
enabled = false
`)
	tests := []struct {
		name  string
		patch func(map[string]any)
		want  []string
	}{
		{"bot note allowed", patches(note("/hello"), func(m map[string]any) { obj(m, "user")["username"] = bot }),
			[]string{"match:bots-welcome", "skip:after-stop:event by the bot user hookgate-bot (allow_bots is false)"}},
		{"edited note allowed", patches(note("/hello"), func(m map[string]any) { obj(m, "object_attributes")["action"] = "update" }),
			[]string{"match:bots-welcome", "skip:after-stop:edited note (on_edit is false)"}},
		{"stop ends the evaluation", note("please stop\n/hello"),
			[]string{"match:bots-welcome", "match:first-stop"}},
		{"no stop", note("go on"),
			[]string{"match:after-stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(set.Match(context.Background(), event(t, "note_issue", tt.patch), botDeps(nil)))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestMatchErrorsStayWithTheirRule(t *testing.T) {
	set := loadRules(t, `
[[rule]]
name = "broken-at-runtime"
when = 'payload.object_attributes.nope.deeper == 1'
plugin = "p"

[[rule]]
name = "note-only-broken"
on = ["note"]
when = 'payload.nope.deeper == 1'
plugin = "p"

[[rule]]
name = "too-hungry"
when = 'len(repeat("abcdefghij", 1000000)) > 0'
plugin = "p"

[[rule]]
name = "needs-access"
plugin = "p"
require_access = "maintainer"

[[rule]]
name = "fine"
plugin = "p"
`)
	ctx := context.Background()

	// A push does not evaluate the note-only rule at all (kind index), and
	// the runtime error of the first rule does not stop the others.
	push := event(t, "push", nil)
	got := summary(set.Match(ctx, push, Deps{Access: &fakeAccess{err: errors.New("gitlab: 502 bad gateway")}}))
	want := []string{
		"match:fine",
		"error:broken-at-runtime:when: cannot fetch nope from <nil> (1:27)",
		"error:too-hungry:when: cost limit exceeded: more than 8388608 bytes of strings built (repeat) (1:5)",
		"error:needs-access:require_access: gitlab: 502 bad gateway",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	got = summary(set.Match(ctx, push, Deps{}))
	if !strings.Contains(strings.Join(got, "\n"), "error:needs-access:require_access: no access checker configured") {
		t.Errorf("no checker: %v", got)
	}

	// A payload that is not a JSON object fails only the rules reading it.
	bad := *push
	bad.Payload = []byte(`[1, 2]`)
	got = summary(set.Match(ctx, &bad, Deps{Access: &fakeAccess{levels: map[int64]int{4: AccessOwner}}}))
	want = []string{
		"match:needs-access",
		"match:fine",
		"error:broken-at-runtime:when: decode payload: json: cannot unmarshal array into Go value of type map[string]interface {}",
		"error:too-hungry:when: cost limit exceeded: more than 8388608 bytes of strings built (repeat) (1:5)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// An event with no user cannot pass require_access.
	noUser := *push
	noUser.User = envelope.User{}
	got = summary(set.Match(ctx, &noUser, Deps{Access: &fakeAccess{}}))
	if !strings.Contains(strings.Join(got, "\n"), "skip:needs-access:access denied: the event has no user, rule needs maintainer (40)") {
		t.Errorf("no user: %v", got)
	}
}

func TestMatchAsksAccessOncePerEvent(t *testing.T) {
	set := loadRules(t, `
[[rule]]
name = "a"
plugin = "p"
require_access = "developer"

[[rule]]
name = "b"
plugin = "p"
require_access = "maintainer"

[[rule]]
name = "never"
when = 'false'
plugin = "p"
require_access = "owner"
`)
	access := &fakeAccess{levels: map[int64]int{4: AccessMaintainer}}
	got := summary(set.Match(context.Background(), event(t, "push", nil), Deps{Access: access}))
	if strings.Join(got, ",") != "match:a,match:b" {
		t.Errorf("got %v", got)
	}
	if access.count() != 1 {
		t.Errorf("access asked %d times, want 1 (and never for a rule whose condition is false)", access.count())
	}
}

func TestPayloadShadowsRawBytes(t *testing.T) {
	set := loadRules(t, `
[[rule]]
name = "typed"
when = 'payload.object_kind == "note" && payload.object_attributes.id == 1244 && len(payload) > 3'
plugin = "p"

[[rule]]
name = "via-env"
when = '$env.payload.object_kind == "note"'
plugin = "p"

[[rule]]
name = "helpers"
when = 'has_label("bug") && !has_label("b") && glob("gitlab-org/**", project.path) && !glob("gitlab-org/*/x", project.path) && lower(user.name) == "administrator"'
plugin = "p"
`)
	env := event(t, "note_merge_request", func(m map[string]any) {
		obj(m, "merge_request")["labels"] = []any{map[string]any{"title": "bug"}}
	})
	got := summary(set.Match(context.Background(), env, Deps{}))
	if strings.Join(got, ",") != "match:typed,match:via-env,match:helpers" {
		t.Errorf("got %v", got)
	}
}

func TestFindCommand(t *testing.T) {
	env := event(t, "note_issue", note("Hi\n/packit build --chroot x\n/packit copr-build\n/ReTest\n/Packit Propose-Downstream"))
	tests := []struct {
		prefix string
		words  []string
		ok     bool
		args   string
	}{
		{"/packit", []string{"build"}, true, "--chroot x"},
		{"/packit build", nil, true, "--chroot x"},
		{"packit", []string{"copr-build"}, true, ""},
		{"/packit", nil, true, "build --chroot x"},
		{"/retest", nil, true, ""},
		{"/packit", []string{"propose-downstream"}, true, ""},
		{"/packit", []string{"test"}, false, ""},
		{"/packit", []string{"build", "--chroot", "x", "more"}, false, ""},
		{"/", nil, false, ""},
		{"/pack", nil, false, ""},
	}
	for _, tt := range tests {
		args, ok := findCommand(env.Commands, tt.prefix, tt.words)
		if ok != tt.ok || strings.Join(args, " ") != tt.args {
			t.Errorf("findCommand(%q, %q) = %q, %v; want %q, %v", tt.prefix, tt.words, args, ok, tt.args, tt.ok)
		}
	}
}

// TestMatchConcurrent shares one set and one envelope between goroutines,
// as workers do (run with -race).
func TestMatchConcurrent(t *testing.T) {
	set := loadRules(t, exampleRules)
	env := event(t, "pipeline", func(m map[string]any) { obj(m, "object_attributes")["status"] = "failed" })
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := strings.Join(summary(set.Match(context.Background(), env, Deps{})), ","); got != "match:pipeline-failed" {
					errs <- got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var nilSet *Set
	if res := nilSet.Match(context.Background(), env, Deps{}); len(res.Matches) != 0 {
		t.Error("nil set matched")
	}
	var h Holder
	if h.Current() != nil || h.LastError() != nil {
		t.Error("zero Holder is not empty")
	}
}

// A rule's projects compare as project paths do everywhere: case and outer
// slashes do not matter.
func TestProjectsCaseInsensitive(t *testing.T) {
	set := loadRules(t, `
[[rule]]
name = "r"
projects = ["Team-A/**"]
plugin = "p"
`)
	r := set.Rules()[0]
	for _, p := range []string{"team-a/app", "TEAM-A/sub/app", "/team-a/app/"} {
		if !r.appliesTo(p) {
			t.Errorf("%q: not admitted by Team-A/**", p)
		}
	}
	if r.appliesTo("team-b/app") {
		t.Error("team-b/app admitted")
	}
}
