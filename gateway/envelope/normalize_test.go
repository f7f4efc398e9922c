package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope/command"
	"github.com/hookgate/hookgate/internal/fixtures"
)

// withEmptyLists returns want with its nil lists made empty, as Normalize
// makes them.
func withEmptyLists(want Envelope) Envelope {
	for _, l := range []*[]string{&want.Labels, &want.MergeRequest.Labels, &want.Issue.Labels} {
		if *l == nil {
			*l = []string{}
		}
	}
	if want.Commands == nil {
		want.Commands = []command.Command{}
	}
	if want.Command.Args == nil {
		want.Command.Args = []string{}
	}
	return want
}

// checkEnvelope compares got with want (see withEmptyLists) and checks that
// Payload is body and Event is event.
func checkEnvelope(t *testing.T, got *Envelope, want Envelope, event string, body []byte) {
	t.Helper()
	if !bytes.Equal(got.Payload, body) {
		t.Errorf("Payload differs from the body")
	}
	if got.Event != event {
		t.Errorf("Event = %q, want %q", got.Event, event)
	}
	g := *got
	g.Payload = nil
	want = withEmptyLists(want)
	want.Event = event
	if !reflect.DeepEqual(g, want) {
		gj, _ := json.MarshalIndent(g, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("envelope differs\n got %s\nwant %s", gj, wj)
	}
}

func TestNormalizeSharedFixtures(t *testing.T) {
	checkFixtures(t, loadSharedFixtures(t), sharedWant)
}

func TestNormalizeClientGoTestdata(t *testing.T) {
	checkFixtures(t, loadFixtures(t, "client-go/"), clientGoWant)
}

// checkFixtures normalizes each fixture and compares it with want, keyed
// by fixture.key; every fixture needs an expectation and the reverse.
func checkFixtures(t *testing.T, fixtures []fixture, want map[string]Envelope) {
	if len(fixtures) != len(want) {
		t.Errorf("events.tsv lists %d of these fixtures, the test expects %d: add the new ones to the expectations", len(fixtures), len(want))
	}
	for _, fx := range fixtures {
		t.Run(fx.key, func(t *testing.T) {
			w, ok := want[fx.key]
			if !ok {
				t.Fatalf("no expectation for %s", fx.key)
			}
			body, err := os.ReadFile(fx.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Normalize(fx.event, body, "")
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			checkEnvelope(t, got, w, fx.event, body)
		})
	}
}

// TestNormalizeEveryFileHasKindAndPath checks, with encoding/json as an
// independent reader, that every payload file yields a kind and, when the
// payload names its project, the project path.
func TestNormalizeEveryFileHasKindAndPath(t *testing.T) {
	for _, fx := range loadFixtures(t, "") {
		file := fx.file
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Project struct {
				PathWithNamespace string `json:"path_with_namespace"`
			} `json:"project"`
			PathWithNamespace        string `json:"path_with_namespace"`
			ProjectPathWithNamespace string `json:"project_path_with_namespace"`
			Repository               struct {
				Homepage string `json:"homepage"`
			} `json:"repository"`
			Attrs struct {
				Target struct {
					PathWithNamespace string `json:"path_with_namespace"`
				} `json:"target"`
			} `json:"object_attributes"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		named := p.Project.PathWithNamespace + p.PathWithNamespace + p.ProjectPathWithNamespace +
			p.Repository.Homepage + p.Attrs.Target.PathWithNamespace
		e, err := Normalize("System Hook", body, "")
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if e.Kind == "" {
			t.Errorf("%s: empty kind", file)
		}
		if named != "" && e.Project.Path == "" {
			t.Errorf("%s: the payload names its project but Project.Path is empty", file)
		}
		if want := p.Project.PathWithNamespace; want != "" && e.Project.Path != want {
			t.Errorf("%s: Project.Path = %q, want %q", file, e.Project.Path, want)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	deep := func(open, close string, n int) []byte {
		return []byte(`{"a":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`)
	}
	tests := []struct {
		name   string
		body   []byte
		reason string
	}{
		{"nil", nil, "body is empty"},
		{"empty", []byte{}, "body is empty"},
		{"whitespace", []byte(" \r\n\t"), "body is empty"},
		{"not JSON", []byte("hello"), "body is not valid JSON"},
		{"form encoded", []byte("payload=%7B%7D"), "body is not valid JSON"},
		{"array", []byte(`[{"object_kind":"push"}]`), "body is a JSON array, not an object"},
		{"string", []byte(`"push"`), "body is a JSON value but not an object"},
		{"number", []byte(`42`), "body is a JSON value but not an object"},
		{"null", []byte(`null`), "body is a JSON value but not an object"},
		{"truncated", []byte(`{"object_kind":"push","ref":"refs/he`), "body is not valid JSON"},
		{"truncated after brace", []byte(`{`), "body is not valid JSON"},
		{"trailing garbage", []byte(`{"a":1} x`), "body is not valid JSON"},
		{"two objects", []byte(`{"a":1}{"b":2}`), "body is not valid JSON"},
		{"single quotes", []byte(`{'a':1}`), "body is not valid JSON"},
		{"trailing comma", []byte(`{"a":1,}`), "body is not valid JSON"},
		{"bad escape", []byte(`{"a":"\x41"}`), "body is not valid JSON"},
		{"control char in string", []byte("{\"a\":\"x\ny\"}"), "body is not valid JSON"},
		{"bad number", []byte(`{"a":01}`), "body is not valid JSON"},
		{"NaN", []byte(`{"a":NaN}`), "body is not valid JSON"},
		{"deep objects", []byte(strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)), reasonDepth},
		{"deep arrays", deep("[", "]", 100000), reasonDepth},
		{"at MaxDepth", deep("[", "]", MaxDepth), reasonDepth},
		{"control char in key", []byte("{\"a\x01\":1}"), "body is not valid JSON"},
		{"control char after an escape", []byte("{\"\":{\"\":\"\x1b\\b\"}}"), "body is not valid JSON"},
		{"short unicode escape", []byte(`{"a":"\u12"}`), "body is not valid JSON"},
		{"bad exponent", []byte(`{"a":1e}`), "body is not valid JSON"},
		{"bad fraction", []byte(`{"a":1.}`), "body is not valid JSON"},
		{"lone minus", []byte(`{"a":-}`), "body is not valid JSON"},
		{"missing colon", []byte(`{"a" 1}`), "body is not valid JSON"},
		{"missing value", []byte(`{"a":}`), "body is not valid JSON"},
		{"unquoted key", []byte(`{a:1}`), "body is not valid JSON"},
		{"bad literal", []byte(`{"a":tru}`), "body is not valid JSON"},
		{"mismatched brackets", []byte(`{"a":[1}`), "body is not valid JSON"},
		{"invalid array", []byte(`[1,]`), "body is not valid JSON"},
		{"deep but valid for encoding/json", deep("[", "]", 1000), "body nests objects or arrays deeper than 256 levels"},
		{"deep unclosed", []byte(`{"a":` + strings.Repeat("[", 100000)), reasonDepth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize("Push Hook", tt.body, "")
			if err == nil {
				t.Fatalf("Normalize succeeded: %+v", e)
			}
			if e != nil {
				t.Error("non-nil envelope with an error")
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			if tt.reason != "" && se.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", se.Reason, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), "normalize: ") {
				t.Errorf("error %q lacks the normalize: prefix", err)
			}
		})
	}
}

func TestNormalizeErrorDoesNotQuoteBody(t *testing.T) {
	const secret = "s3cr3t-t0ken-value"
	for _, body := range []string{
		`{"token":"` + secret + `", oops}`,
		`{"token":"` + secret + `\q"}`,
		secret,
		`["` + secret + `"]`,
	} {
		_, err := Normalize("Push Hook", []byte(body), "")
		if err == nil {
			t.Fatalf("no error for %q", body)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error %q quotes the body", err)
		}
	}
}

func TestNormalizeSyntaxErrorOffset(t *testing.T) {
	_, err := Normalize("Push Hook", []byte(`{"a": 1, "b": ?}`), "")
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	if se.Offset != 14 { // the "?"
		t.Errorf("Offset = %d, want 14", se.Offset)
	}
	if want := "normalize: body is not valid JSON (at byte 14)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

// TestNormalizeLenient feeds fields of unexpected types: normalization must
// succeed and convert what it sensibly can.
func TestNormalizeLenient(t *testing.T) {
	tests := []struct {
		name  string
		event string
		body  string
		check func(t *testing.T, e *Envelope)
	}{
		{"project id as string", "Push Hook", `{"object_kind":"push","project":{"id":"5","path_with_namespace":"g/p"}}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Project, Project{ID: 5, Path: "g/p"}) }},
		{"ids as float and exponent", "Note Hook", `{"object_kind":"note","project_id":5.0,"object_attributes":{"id":1e3,"note":"x"}}`,
			func(t *testing.T, e *Envelope) { eq(t, [2]int64{e.Project.ID, e.NoteID}, [2]int64{5, 1000}) }},
		{"fractional and huge ids are 0", "Push Hook", `{"project_id":1.5,"user_id":1e300,"object_kind":"push"}`,
			func(t *testing.T, e *Envelope) { eq(t, [2]int64{e.Project.ID, e.User.ID}, [2]int64{0, 0}) }},
		{"id as bad string", "Push Hook", `{"object_kind":"push","project_id":"five","user_id":true}`,
			func(t *testing.T, e *Envelope) { eq(t, [2]int64{e.Project.ID, e.User.ID}, [2]int64{0, 0}) }},
		{"strings as numbers and bools", "Push Hook", `{"object_kind":"push","ref":7,"user_name":true,"checkout_sha":null}`,
			func(t *testing.T, e *Envelope) {
				eq(t, [3]string{e.Ref, e.User.Name, e.SHA}, [3]string{"7", "true", ""})
			}},
		{"objects of the wrong type", "Note Hook", `{"object_kind":"note","project":"g/p","user":[1,2],"object_attributes":"x","merge_request":5}`,
			func(t *testing.T, e *Envelope) {
				eq(t, e.Project, Project{})
				eq(t, e.User, User{})
				eq(t, e.MergeRequest.IID, int64(0))
			}},
		{"kind as number", "Push Hook", `{"object_kind":3}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Kind, "3") }},
		{"labels as strings, numbers and junk", "Issue Hook", `{"object_kind":"issue","object_attributes":{"iid":"7"},"labels":["a",{"title":"b"},{"name":"c"},null,5,{"title":""}]}`,
			func(t *testing.T, e *Envelope) {
				eq(t, e.Issue.IID, int64(7))
				eq(t, e.Labels, []string{"a", "b", "5"})
			}},
		{"labels null falls back to object_attributes", "Merge Request Hook", `{"object_kind":"merge_request","labels":null,"object_attributes":{"labels":[{"title":"x"}]}}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Labels, []string{"x"}) }},
		{"labels as object", "Issue Hook", `{"object_kind":"issue","labels":{"title":"x"}}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Labels, []string{}) }},
		{"bools as strings and numbers", "Merge Request Hook", `{"object_kind":"merge_request","object_attributes":{"draft":"true","system":1}}`,
			func(t *testing.T, e *Envelope) { eq(t, [2]bool{e.MergeRequest.Draft, e.System}, [2]bool{true, true}) }},
		{"work_in_progress is draft", "Merge Request Hook", `{"object_kind":"merge_request","object_attributes":{"work_in_progress":true}}`,
			func(t *testing.T, e *Envelope) { eq(t, e.MergeRequest.Draft, true) }},
		{"note as number", "Note Hook", `{"object_kind":"note","object_attributes":{"note":12}}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Note, "12") }},
		{"escaped strings", "Note Hook", `{"object_kind":"note","object_attributes":{"note":"\/retest \u00e9\n\"q\""}}`,
			func(t *testing.T, e *Envelope) {
				eq(t, e.Note, "/retest é\n\"q\"")
				eq(t, e.Command.Name, "retest")
			}},
		{"duplicate keys: the first wins", "Push Hook", `{"object_kind":"push","ref":"refs/heads/a","ref":"refs/heads/b"}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Branch, "a") }},
		{"empty object", "Push Hook", `{}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Kind, "push") }},
		{"empty object, unknown event", "Whatever Hook", `{}`,
			func(t *testing.T, e *Envelope) { eq(t, e.Kind, "") }},
		{"unknown kind keeps kind and payload", "Future Hook", `{"object_kind":"future_thing","project":{"path_with_namespace":"g/p"}}`,
			func(t *testing.T, e *Envelope) {
				eq(t, e.Kind, "future_thing")
				eq(t, e.Event, "Future Hook")
				eq(t, e.Project.Path, "g/p")
			}},
		{"leading whitespace and BOM-free body", "Push Hook", " \n{\"object_kind\":\"push\"}\n",
			func(t *testing.T, e *Envelope) { eq(t, e.Kind, "push") }},
		{"invalid UTF-8 kept as bytes", "Note Hook", "{\"object_kind\":\"note\",\"object_attributes\":{\"note\":\"a\xffb\"}}",
			func(t *testing.T, e *Envelope) { eq(t, e.Note, "a\xffb") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize(tt.event, []byte(tt.body), "")
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if string(e.Payload) != tt.body {
				t.Errorf("Payload = %q, want the body", e.Payload)
			}
			checkNonNilLists(t, e)
			tt.check(t, e)
		})
	}
}

func eq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// checkNonNilLists checks that every list is non-nil and that the JSON form
// has no null.
func checkNonNilLists(t *testing.T, e *Envelope) {
	t.Helper()
	if e.Labels == nil || e.MergeRequest.Labels == nil || e.Issue.Labels == nil || e.Commands == nil || e.Command.Args == nil {
		t.Errorf("a list is nil: %+v", e)
	}
	for _, c := range e.Commands {
		if c.Args == nil {
			t.Errorf("command %q has nil Args", c.Line)
		}
	}
	e2 := *e
	e2.Payload = json.RawMessage(`{}`)
	j, err := json.Marshal(&e2)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if bytes.Contains(j, []byte("null")) {
		t.Errorf("JSON has a null: %s", j)
	}
}

func TestNormalizeRefs(t *testing.T) {
	tests := []struct {
		name                  string
		body                  string
		ref, branch, tag, sha string
	}{
		{"push", `{"object_kind":"push","ref":"refs/heads/feat/x","checkout_sha":"c","after":"a"}`, "refs/heads/feat/x", "feat/x", "", "c"},
		{"push without checkout_sha", `{"object_kind":"push","ref":"refs/heads/m","checkout_sha":null,"after":"a"}`, "refs/heads/m", "m", "", "a"},
		{"tag push", `{"object_kind":"tag_push","ref":"refs/tags/v1","after":"a"}`, "refs/tags/v1", "", "v1", "a"},
		{"pipeline on a tag", `{"object_kind":"pipeline","object_attributes":{"ref":"v2","tag":true,"sha":"s"}}`, "v2", "", "v2", "s"},
		{"pipeline on a branch", `{"object_kind":"pipeline","object_attributes":{"ref":"main","tag":false,"sha":"s"}}`, "main", "main", "", "s"},
		{"pipeline on an MR ref", `{"object_kind":"pipeline","object_attributes":{"ref":"refs/merge-requests/1/head","sha":"s"}}`, "refs/merge-requests/1/head", "", "", "s"},
		{"job on a tag", `{"object_kind":"build","ref":"v3","tag":true,"sha":"s","commit":{"id":99}}`, "v3", "", "v3", "s"},
		{"merge request", `{"object_kind":"merge_request","object_attributes":{"source_branch":"f","last_commit":{"id":"l"}}}`, "f", "f", "", "l"},
		{"note on commit", `{"object_kind":"note","object_attributes":{"noteable_type":"Commit","commit_id":"c2"}}`, "", "", "", "c2"},
		{"note on MR", `{"object_kind":"note","object_attributes":{"noteable_type":"MergeRequest"},"merge_request":{"source_branch":"s","last_commit":{"id":"l"}}}`, "s", "s", "", "l"},
		{"release", `{"object_kind":"release","tag":"v1","commit":{"id":"c"}}`, "", "", "v1", "c"},
		{"deployment", `{"object_kind":"deployment","ref":"main","commit_url":"https://h/g/p/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468"}`, "main", "", "", "279484c09fbe69ededfced8c1bb6e6d24616b468"},
		{"deployment with a short commit url", `{"object_kind":"deployment","ref":"main","commit_url":"https://h/g/p/-/commit/2794"}`, "main", "", "", ""},
		{"repository update with two refs", `{"event_name":"repository_update","changes":[{"ref":"refs/heads/a"},{"ref":"refs/heads/b"}]}`, "", "", "", ""},
		{"unknown kind", `{"object_kind":"new","ref":"refs/tags/t","sha":"s"}`, "refs/tags/t", "", "t", "s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize("X", []byte(tt.body), "")
			if err != nil {
				t.Fatal(err)
			}
			eq(t, [4]string{e.Ref, e.Branch, e.Tag, e.SHA}, [4]string{tt.ref, tt.branch, tt.tag, tt.sha})
		})
	}
}

func TestNormalizeInstance(t *testing.T) {
	tests := []struct {
		name, header, body string
		instance, url      string
		path               string
	}{
		{"header wins", "https://gitlab.example.com/", `{"project":{"path_with_namespace":"g/p","web_url":"http://other/g/p"}}`,
			"https://gitlab.example.com", "http://other/g/p", "g/p"},
		{"from web_url", "", `{"project":{"path_with_namespace":"g/s/p","web_url":"https://h:8443/g/s/p"}}`,
			"https://h:8443", "https://h:8443/g/s/p", "g/s/p"},
		{"relative URL root kept", "", `{"project":{"path_with_namespace":"g/p","web_url":"https://h/gitlab/g/p"}}`,
			"https://h/gitlab", "https://h/gitlab/g/p", "g/p"},
		{"path not a suffix: scheme and host", "", `{"project":{"path_with_namespace":"g/p","web_url":"https://h/x/y"}}`,
			"https://h", "https://h/x/y", "g/p"},
		{"not an http URL", "", `{"project":{"path_with_namespace":"g/p","web_url":"git@h:g/p.git"}}`,
			"", "git@h:g/p.git", "g/p"},
		{"system hook: URL built from the header", "https://h", `{"event_name":"project_create","path_with_namespace":"g/p","project_id":3}`,
			"https://h", "https://h/g/p", "g/p"},
		{"job: path under the header's instance", "https://h/gitlab", `{"object_kind":"build","repository":{"homepage":"https://h/gitlab/g/p"}}`,
			"https://h/gitlab", "https://h/gitlab/g/p", "g/p"},
		{"job: path from homepage", "", `{"object_kind":"build","repository":{"homepage":"https://h/g/p"}}`,
			"https://h", "https://h/g/p", "g/p"},
		{"nothing known", "", `{"object_kind":"x"}`, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize("X", []byte(tt.body), tt.header)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, [3]string{e.Instance, e.Project.URL, e.Project.Path}, [3]string{tt.instance, tt.url, tt.path})
		})
	}
}

func TestNormalizeCommands(t *testing.T) {
	body := `{"object_kind":"note","object_attributes":{"id":9,"note":"Please\r\n/packit build --chroot f40\n` +
		"```\\n/not this\\n```\\n" + `/retest"}}`
	e, err := Normalize("Confidential Note Hook", []byte(body), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []command.Command{
		{Name: "packit", Args: []string{"build", "--chroot", "f40"}, Line: "/packit build --chroot f40"},
		{Name: "retest", Args: []string{}, Line: "/retest"},
	}
	eq(t, e.Commands, want)
	eq(t, e.Command, want[0])
	eq(t, e.Event, "Confidential Note Hook")
	eq(t, e.NoteID, int64(9))

	// Only notes carry commands.
	e, err = Normalize("Merge Request Hook", []byte(`{"object_kind":"merge_request","object_attributes":{"note":"/x","description":"/y"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, [2]int{len(e.Commands), len(e.Command.Args)}, [2]int{0, 0})
	eq(t, e.Note, "")
}

// TestNormalizeCopies checks that the envelope shares no memory with the
// caller's buffers, which fiber reuses for the next request.
func TestNormalizeCopies(t *testing.T) {
	body, err := os.ReadFile(fixtures.Path(t, "docs/note_merge_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(body)
	header := []byte("Note Hook")
	custom := []byte("Custom Hook")
	inst := []byte("https://gitlab.example.com")
	e, err := Normalize(string(header), body, string(inst))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := Normalize(unsafeString(custom), body, unsafeString(inst))
	if err != nil {
		t.Fatal(err)
	}
	want, want2 := *e, *e2
	want.Payload, want2.Payload = nil, nil
	wantJSON, _ := json.Marshal(want)
	want2JSON, _ := json.Marshal(want2)

	for i := range body {
		body[i] = 'x'
	}
	for i := range custom {
		custom[i] = 'y'
	}
	for i := range inst {
		inst[i] = 'z'
	}
	if !bytes.Equal(e.Payload, orig) {
		t.Error("Payload changed with the caller's buffer")
	}
	got, got2 := *e, *e2
	got.Payload, got2.Payload = nil, nil
	gotJSON, _ := json.Marshal(got)
	got2JSON, _ := json.Marshal(got2)
	if !bytes.Equal(gotJSON, wantJSON) || !bytes.Equal(got2JSON, want2JSON) {
		t.Errorf("envelope changed with the caller's buffers:\n%s\n%s", gotJSON, got2JSON)
	}
	eq(t, e2.Event, "Custom Hook")
	eq(t, e2.Instance, "https://gitlab.example.com")
}

// TestNormalizeConcurrent runs Normalize from many goroutines (pooled
// parsers) and compares with sequential results; run with -race.
func TestNormalizeConcurrent(t *testing.T) {
	fixtures := loadSharedFixtures(t)
	bodies := make([][]byte, len(fixtures))
	want := make([]string, len(fixtures))
	for i, fx := range fixtures {
		b, err := os.ReadFile(fx.file)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = b
		e, err := Normalize(fx.event, b, "")
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(e)
		want[i] = string(j)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(fixtures))
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				for i, fx := range fixtures {
					e, err := Normalize(fx.event, bodies[i], "")
					if err != nil {
						errs <- err.Error()
						return
					}
					if j, _ := json.Marshal(e); string(j) != want[i] {
						errs <- fx.file + ": differs under concurrency"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

func TestNormalizeDepthLimit(t *testing.T) {
	// The outer object is one level: MaxDepth-1 arrays inside it are fine.
	body := []byte(`{"a":` + strings.Repeat("[", MaxDepth-1) + "1" + strings.Repeat("]", MaxDepth-1) + `}`)
	if _, err := Normalize("Push Hook", body, ""); err != nil {
		t.Fatalf("%d levels refused: %v", MaxDepth, err)
	}
}

func TestNormalizeBigBody(t *testing.T) {
	// Above bigBody Normalize uses a parser of its own; same result.
	pad := strings.Repeat("x", bigBody)
	body := []byte(`{"object_kind":"push","ref":"refs/heads/m","pad":"` + pad + `"}`)
	e, err := Normalize("Push Hook", body, "")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, e.Branch, "m")
	if !bytes.Equal(e.Payload, body) {
		t.Error("Payload differs")
	}
}

// TestNormalizeValueBudget: a body with more values than MaxValues allows
// for its size is refused, one within it is not, and the refusal costs the
// tree no more than the budget.
func TestNormalizeValueBudget(t *testing.T) {
	items := func(n int) []byte {
		return []byte(`{"x":[` + strings.TrimSuffix(strings.Repeat("0,", n), ",") + `]}`)
	}
	// Keys count as values' members, not values: {"x":[...]} is 2 + n.
	ok := items(1000)
	if _, err := Normalize("Push Hook", ok, ""); err != nil {
		t.Fatalf("1000 items: %v", err)
	}
	for _, n := range []int{5000, 2_000_000} {
		body := items(n)
		_, err := Normalize("Push Hook", body, "")
		var se *SyntaxError
		if !errors.As(err, &se) || se.Reason != reasonValues {
			t.Fatalf("%d items in %d bytes: err = %v, want the values budget", n, len(body), err)
		}
		if se.Offset <= 0 || se.Offset >= int64(len(body)) {
			t.Errorf("offset %d: want where the budget ran out", se.Offset)
		}
	}
}

func TestCountValues(t *testing.T) {
	for _, c := range []struct {
		body string
		want int // the values; CountValues may say a few more
	}{
		{`{}`, 1},
		{`{"a":1,"b":[1,2,3],"c":"x,y,{["}`, 7},
		{`[0,0,0,0]`, 5},
		{`{"a":[],"b":{}}`, 3},
	} {
		if n := CountValues([]byte(c.body)); n < c.want || n > c.want+3 {
			t.Errorf("CountValues(%s) = %d, want %d (or a few more)", c.body, n, c.want)
		}
	}
}
