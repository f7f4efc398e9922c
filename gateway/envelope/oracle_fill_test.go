package envelope

// The envelope code as it was before the tree parser (tree.go, lookup.go):
// the former validator (oracle_validate_test.go), then fastjson, then fill
// on fastjson's tree. Kept here, renamed with an "old" prefix, only as the
// oracle that FuzzNormalizeOracle compares Normalize with. Helpers that
// never read JSON (internEvent, kindFromEvent, isHTTPURL, instanceOf,
// pathUnder, lastSegmentSHA, wholeInt, interned, skipSpace) are shared.

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/hookgate/hookgate/gateway/envelope/command"
)

var oldParsers fastjson.ParserPool

// oldNormalize is Normalize as it was.
func oldNormalize(eventHeader string, body []byte, instance string) (*Envelope, error) {
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, &SyntaxError{Reason: "body is empty", Offset: -1}
	}
	if off, reason := oldValidate(body); reason != "" {
		return nil, &SyntaxError{Reason: reason, Offset: int64(off)}
	}
	switch body[start] {
	case '{':
	case '[':
		return nil, &SyntaxError{Reason: "body is a JSON array, not an object", Offset: int64(start)}
	default:
		return nil, &SyntaxError{Reason: "body is a JSON value but not an object", Offset: int64(start)}
	}
	var p *fastjson.Parser
	if len(body) <= bigBody {
		p = oldParsers.Get()
		defer oldParsers.Put(p)
	} else {
		p = new(fastjson.Parser)
	}
	root, err := p.ParseBytes(body)
	if err != nil {
		return nil, &SyntaxError{Reason: reasonInvalid, Offset: -1}
	}
	e := &Envelope{
		Event:        internEvent(eventHeader),
		Labels:       []string{},
		Commands:     []command.Command{},
		Command:      command.Command{Args: []string{}},
		MergeRequest: MergeRequest{Labels: []string{}},
		Issue:        Issue{Labels: []string{}},
		Payload:      json.RawMessage(bytes.Clone(body)),
	}
	oldFill(e, root, instance)
	return e, nil
}

// oldFill lifts the envelope's fields out of the parsed payload root. It only
// reads root; every string it stores is a copy.
func oldFill(e *Envelope, root *fastjson.Value, instance string) {
	attrs := oldObject(root, "object_attributes")

	e.Kind = oldEnum(root.Get("object_kind"))
	if e.Kind == "" {
		e.Kind = oldEnum(root.Get("event_name"))
	}
	if e.Kind == "" {
		e.Kind = kindFromEvent(e.Event)
	}
	e.Action = oldEnum(attrs.Get("action"))
	if e.Action == "" {
		e.Action = oldEnum(root.Get("action")) // release, milestone
	}
	e.System = oldBoolean(attrs.Get("system"))

	oldFillProject(e, root, attrs, instance)
	oldFillUser(e, root, attrs)

	if e.Kind == "note" {
		e.Note = oldStr(attrs.Get("note"))
		e.NoteableType = oldEnum(attrs.Get("noteable_type"))
		e.NoteID = oldNum(attrs.Get("id"))
		e.Commands = command.Parse(e.Note)
		if len(e.Commands) > 0 {
			e.Command = e.Commands[0]
		}
	}

	mr := oldObject(root, "merge_request")
	if e.Kind == "merge_request" {
		mr = attrs
	}
	if mr != nil {
		oldFillMergeRequest(&e.MergeRequest, root, mr, e.Kind == "merge_request")
		e.Labels = e.MergeRequest.Labels
	}
	issue := oldObject(root, "issue")
	if e.Kind == "issue" || e.Kind == "work_item" {
		issue = attrs
	}
	if issue != nil {
		oldFillIssue(&e.Issue, root, issue, issue == attrs)
		if mr == nil {
			e.Labels = e.Issue.Labels
		}
	}

	oldFillRef(e, root, attrs, mr)
}

// oldFillProject sets Project and Instance.
func oldFillProject(e *Envelope, root, attrs *fastjson.Value, instance string) {
	p := &e.Project
	proj := oldObject(root, "project")
	target := oldObject(attrs, "target") // MR events: the target project

	p.ID = oldFirstNum(proj.Get("id"), root.Get("project_id"), target.Get("id"),
		attrs.Get("target_project_id"), attrs.Get("project_id"))
	p.Path = oldFirstStr(proj.Get("path_with_namespace"), target.Get("path_with_namespace"),
		root.Get("path_with_namespace"), root.Get("project_path_with_namespace"))
	p.URL = oldFirstStr(proj.Get("web_url"), target.Get("web_url"))

	// Jobs have no project object: the repository's homepage is the
	// project's URL. Vulnerabilities only have their own URL, under the
	// project's ".../-/".
	if p.URL == "" && p.Path == "" {
		if home := oldStr(root.Get("repository", "homepage")); isHTTPURL(home) {
			p.URL = home
		} else if u := oldStr(attrs.Get("url")); isHTTPURL(u) {
			if i := strings.Index(u, "/-/"); i > 0 {
				p.URL = u[:i]
			}
		}
	}

	e.Instance = strings.TrimRight(instance, "/")
	if e.Instance != "" {
		e.Instance = strings.Clone(e.Instance)
	} else {
		e.Instance = instanceOf(p.URL, p.Path)
	}
	if p.Path == "" && p.URL != "" {
		p.Path = pathUnder(p.URL, e.Instance)
	}
	if p.URL == "" && p.Path != "" && e.Instance != "" {
		p.URL = e.Instance + "/" + p.Path
	}
}

// oldFillUser sets User: the user object, the user_* fields of push and system
// hooks, the note's author_id for notes whose user has no id, and for
// user_* system hooks the top-level username and name.
func oldFillUser(e *Envelope, root, attrs *fastjson.Value) {
	u := &e.User
	obj := oldObject(root, "user")
	u.ID = oldFirstNum(obj.Get("id"), root.Get("user_id"))
	u.Username = oldFirstStr(obj.Get("username"), root.Get("user_username"))
	u.Name = oldFirstStr(obj.Get("name"), root.Get("user_name"))
	if u.ID == 0 && e.Kind == "note" {
		u.ID = oldNum(attrs.Get("author_id"))
	}
	if strings.HasPrefix(e.Kind, "user_") || strings.HasPrefix(e.Kind, "key_") {
		if u.Username == "" {
			u.Username = oldStr(root.Get("username"))
		}
		if u.Name == "" && strings.HasPrefix(e.Kind, "user_") {
			u.Name = oldStr(root.Get("name"))
		}
	}
}

// oldFillMergeRequest reads a merge request object: object_attributes of MR
// events (whose labels are preferably the top-level "labels"), or the
// top-level merge_request of notes, pipelines and emoji.
func oldFillMergeRequest(m *MergeRequest, root, mr *fastjson.Value, event bool) {
	m.IID = oldNum(mr.Get("iid"))
	m.Title = oldStr(mr.Get("title"))
	m.State = oldEnum(mr.Get("state"))
	m.SourceBranch = oldStr(mr.Get("source_branch"))
	m.TargetBranch = oldStr(mr.Get("target_branch"))
	m.Draft = oldBoolean(mr.Get("draft")) || oldBoolean(mr.Get("work_in_progress"))
	m.SourceProjectID = oldNum(mr.Get("source_project_id"))
	m.Labels = oldLabels(root, mr, event)
}

// oldFillIssue reads an issue object: object_attributes of issue events, or
// the top-level issue of notes and emoji.
func oldFillIssue(is *Issue, root, issue *fastjson.Value, event bool) {
	is.IID = oldNum(issue.Get("iid"))
	is.Title = oldStr(issue.Get("title"))
	is.State = oldEnum(issue.Get("state"))
	is.Labels = oldLabels(root, issue, event)
}

// oldLabels returns the label titles of an MR or issue: for their own events
// the top-level "labels" first, else the object's "labels". Never nil.
func oldLabels(root, obj *fastjson.Value, event bool) []string {
	if event {
		if t := oldLabelTitles(root.Get("labels")); t != nil {
			return t
		}
	}
	if t := oldLabelTitles(obj.Get("labels")); t != nil {
		return t
	}
	return []string{}
}

// oldFillRef sets Ref, Branch, Tag and SHA.
func oldFillRef(e *Envelope, root, attrs, mr *fastjson.Value) {
	isTag := false   // the event's tag flag, for short refs
	hasFlag := false // the payload has such a flag
	switch e.Kind {
	case "push", "tag_push":
		e.Ref = oldStr(root.Get("ref"))
		e.SHA = oldFirstStr(root.Get("checkout_sha"), root.Get("after"))
	case "pipeline":
		e.Ref = oldStr(attrs.Get("ref"))
		e.SHA = oldStr(attrs.Get("sha"))
		isTag, hasFlag = oldBoolean(attrs.Get("tag")), true
	case "build":
		e.Ref = oldStr(root.Get("ref"))
		e.SHA = oldStr(root.Get("sha")) // commit.id is the pipeline id
		isTag, hasFlag = oldBoolean(root.Get("tag")), true
	case "note":
		if e.NoteableType == "Commit" {
			e.SHA = oldFirstStr(oldStringOnly(root.Get("commit", "id")), attrs.Get("commit_id"))
		}
	case "release":
		e.Tag = oldStr(root.Get("tag"))
		e.SHA = oldStr(oldStringOnly(root.Get("commit", "id")))
	case "deployment":
		e.Ref = oldStr(root.Get("ref"))
		e.SHA = lastSegmentSHA(oldStr(root.Get("commit_url")))
	case "repository_update":
		if ch := root.GetArray("changes"); len(ch) == 1 {
			e.Ref = oldStr(ch[0].Get("ref"))
			e.SHA = oldStr(ch[0].Get("after"))
		}
	default:
		e.Ref = oldStr(oldStringOnly(root.Get("ref")))
		e.SHA = oldFirstStr(oldStringOnly(root.Get("checkout_sha")), oldStringOnly(root.Get("sha")),
			oldStringOnly(root.Get("commit", "id")))
	}
	if mr != nil && e.Ref == "" && e.Tag == "" {
		// MR events, notes on MRs, emoji on MRs: the source branch.
		e.Ref = e.MergeRequest.SourceBranch
		e.Branch = e.Ref
	}
	if mr != nil && e.SHA == "" {
		e.SHA = oldStr(mr.Get("last_commit", "id"))
	}

	switch {
	case e.Branch != "" || e.Tag != "":
	case strings.HasPrefix(e.Ref, "refs/heads/"):
		e.Branch = e.Ref[len("refs/heads/"):]
	case strings.HasPrefix(e.Ref, "refs/tags/"):
		e.Tag = e.Ref[len("refs/tags/"):]
	case hasFlag && e.Ref != "" && !strings.HasPrefix(e.Ref, "refs/"):
		if isTag {
			e.Tag = e.Ref
		} else {
			e.Branch = e.Ref
		}
	}
}

// oldFirstNum returns the first of vs that reads as a non-zero number.
func oldFirstNum(vs ...*fastjson.Value) int64 {
	for _, v := range vs {
		if n := oldNum(v); n != 0 {
			return n
		}
	}
	return 0
}

// oldFirstStr returns the first of vs that reads as a non-empty string.
func oldFirstStr(vs ...*fastjson.Value) string {
	for _, v := range vs {
		if s := oldStr(v); s != "" {
			return s
		}
	}
	return ""
}

// oldStringOnly returns v if it is a JSON string, else nil: for fields whose
// name is shared with numbers elsewhere (a job's commit.id is a number).
func oldStringOnly(v *fastjson.Value) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	return v
}

// The helpers below read one JSON value leniently: a value of an unexpected
// type gives the zero value (or a sensible conversion) instead of an error,
// because one odd field must never make GitLab's delivery fail. They all
// accept a nil value (a missing field).

// oldObject returns v's member key if that is a JSON object, else nil.
func oldObject(v *fastjson.Value, key string) *fastjson.Value {
	m := v.Get(key)
	if m == nil || m.Type() != fastjson.TypeObject {
		return nil
	}
	return m
}

// oldStr returns v as a string: a JSON string as is (unescaped), a number as
// its JSON text, a boolean as "true" or "false"; null, objects and arrays
// give "". The result never shares memory with the parser.
func oldStr(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber:
		return string(v.MarshalTo(nil))
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	}
	return ""
}

// oldEnum is str for values that usually come from a small known set (kinds,
// actions, states, noteable types): known values are returned as constants,
// without allocating.
func oldEnum(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return oldStr(v)
	}
	b, _ := v.StringBytes()
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}

// oldNum returns v as an int64: a JSON integer, a float with no fraction, or a
// string holding either; anything else (or out of range) gives 0.
func oldNum(v *fastjson.Value) int64 {
	if v == nil {
		return 0
	}
	var text string
	switch v.Type() {
	case fastjson.TypeNumber:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, err := v.Float64()
		if err != nil {
			return 0
		}
		return wholeInt(f)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		text = strings.TrimSpace(string(b))
	default:
		return 0
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0
	}
	return wholeInt(f)
}

// oldBoolean returns v as a bool: JSON true, a non-zero number, or a string
// that strconv.ParseBool reads as true ("true", "1", "t", ...).
func oldBoolean(v *fastjson.Value) bool {
	if v == nil {
		return false
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeNumber:
		f, err := v.Float64()
		return err == nil && f != 0
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		ok, err := strconv.ParseBool(strings.TrimSpace(string(b)))
		return err == nil && ok
	}
	return false
}

// oldLabelTitles returns the titles of a JSON array of labels, whose items are
// objects with a "title" or plain strings. It returns nil when v is not an
// array (so the caller can try another source) and a non-nil slice when it
// is one, even an empty one.
func oldLabelTitles(v *fastjson.Value) []string {
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil
	}
	items, _ := v.Array()
	titles := make([]string, 0, len(items))
	for _, it := range items {
		var t string
		if it.Type() == fastjson.TypeObject {
			t = oldStr(it.Get("title"))
		} else {
			t = oldStr(it)
		}
		if t != "" {
			titles = append(titles, t)
		}
	}
	return titles
}
