package envelope

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/hookgate/hookgate/rules/command"
)

// fill lifts the envelope's fields out of the parsed payload root. It only
// reads root; every string it stores is a copy.
func fill(e *Envelope, root *fastjson.Value, instance string) {
	attrs := object(root, "object_attributes")

	e.Kind = enum(root.Get("object_kind"))
	if e.Kind == "" {
		e.Kind = enum(root.Get("event_name"))
	}
	if e.Kind == "" {
		e.Kind = kindFromEvent(e.Event)
	}
	e.Action = enum(attrs.Get("action"))
	if e.Action == "" {
		e.Action = enum(root.Get("action")) // release, milestone
	}
	e.System = boolean(attrs.Get("system"))

	fillProject(e, root, attrs, instance)
	fillUser(e, root, attrs)

	if e.Kind == "note" {
		e.Note = str(attrs.Get("note"))
		e.NoteableType = enum(attrs.Get("noteable_type"))
		e.NoteID = num(attrs.Get("id"))
		e.Commands = command.Parse(e.Note)
		if len(e.Commands) > 0 {
			e.Command = e.Commands[0]
		}
	}

	mr := object(root, "merge_request")
	if e.Kind == "merge_request" {
		mr = attrs
	}
	if mr != nil {
		fillMergeRequest(&e.MergeRequest, root, mr, e.Kind == "merge_request")
		e.Labels = e.MergeRequest.Labels
	}
	issue := object(root, "issue")
	if e.Kind == "issue" || e.Kind == "work_item" {
		issue = attrs
	}
	if issue != nil {
		fillIssue(&e.Issue, root, issue, issue == attrs)
		if mr == nil {
			e.Labels = e.Issue.Labels
		}
	}

	fillRef(e, root, attrs, mr)
}

// fillProject sets Project and Instance.
func fillProject(e *Envelope, root, attrs *fastjson.Value, instance string) {
	p := &e.Project
	proj := object(root, "project")
	target := object(attrs, "target") // MR events: the target project

	p.ID = firstNum(proj.Get("id"), root.Get("project_id"), target.Get("id"),
		attrs.Get("target_project_id"), attrs.Get("project_id"))
	p.Path = firstStr(proj.Get("path_with_namespace"), target.Get("path_with_namespace"),
		root.Get("path_with_namespace"), root.Get("project_path_with_namespace"))
	p.URL = firstStr(proj.Get("web_url"), target.Get("web_url"))

	// Jobs have no project object: the repository's homepage is the
	// project's URL. Vulnerabilities only have their own URL, under the
	// project's ".../-/".
	if p.URL == "" && p.Path == "" {
		if home := str(root.Get("repository", "homepage")); isHTTPURL(home) {
			p.URL = home
		} else if u := str(attrs.Get("url")); isHTTPURL(u) {
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

// fillUser sets User: the user object, the user_* fields of push and system
// hooks, the note's author_id for notes whose user has no id, and for
// user_* system hooks the top-level username and name.
func fillUser(e *Envelope, root, attrs *fastjson.Value) {
	u := &e.User
	obj := object(root, "user")
	u.ID = firstNum(obj.Get("id"), root.Get("user_id"))
	u.Username = firstStr(obj.Get("username"), root.Get("user_username"))
	u.Name = firstStr(obj.Get("name"), root.Get("user_name"))
	if u.ID == 0 && e.Kind == "note" {
		u.ID = num(attrs.Get("author_id"))
	}
	if strings.HasPrefix(e.Kind, "user_") || strings.HasPrefix(e.Kind, "key_") {
		if u.Username == "" {
			u.Username = str(root.Get("username"))
		}
		if u.Name == "" && strings.HasPrefix(e.Kind, "user_") {
			u.Name = str(root.Get("name"))
		}
	}
}

// fillMergeRequest reads a merge request object: object_attributes of MR
// events (whose labels are preferably the top-level "labels"), or the
// top-level merge_request of notes, pipelines and emoji.
func fillMergeRequest(m *MergeRequest, root, mr *fastjson.Value, event bool) {
	m.IID = num(mr.Get("iid"))
	m.Title = str(mr.Get("title"))
	m.State = enum(mr.Get("state"))
	m.SourceBranch = str(mr.Get("source_branch"))
	m.TargetBranch = str(mr.Get("target_branch"))
	m.Draft = boolean(mr.Get("draft")) || boolean(mr.Get("work_in_progress"))
	m.SourceProjectID = num(mr.Get("source_project_id"))
	m.Labels = labels(root, mr, event)
}

// fillIssue reads an issue object: object_attributes of issue events, or
// the top-level issue of notes and emoji.
func fillIssue(is *Issue, root, issue *fastjson.Value, event bool) {
	is.IID = num(issue.Get("iid"))
	is.Title = str(issue.Get("title"))
	is.State = enum(issue.Get("state"))
	is.Labels = labels(root, issue, event)
}

// labels returns the label titles of an MR or issue: for their own events
// the top-level "labels" first, else the object's "labels". Never nil.
func labels(root, obj *fastjson.Value, event bool) []string {
	if event {
		if t := labelTitles(root.Get("labels")); t != nil {
			return t
		}
	}
	if t := labelTitles(obj.Get("labels")); t != nil {
		return t
	}
	return []string{}
}

// fillRef sets Ref, Branch, Tag and SHA.
func fillRef(e *Envelope, root, attrs, mr *fastjson.Value) {
	isTag := false   // the event's tag flag, for short refs
	hasFlag := false // the payload has such a flag
	switch e.Kind {
	case "push", "tag_push":
		e.Ref = str(root.Get("ref"))
		e.SHA = firstStr(root.Get("checkout_sha"), root.Get("after"))
	case "pipeline":
		e.Ref = str(attrs.Get("ref"))
		e.SHA = str(attrs.Get("sha"))
		isTag, hasFlag = boolean(attrs.Get("tag")), true
	case "build":
		e.Ref = str(root.Get("ref"))
		e.SHA = str(root.Get("sha")) // commit.id is the pipeline id
		isTag, hasFlag = boolean(root.Get("tag")), true
	case "note":
		if e.NoteableType == "Commit" {
			e.SHA = firstStr(stringOnly(root.Get("commit", "id")), attrs.Get("commit_id"))
		}
	case "release":
		e.Tag = str(root.Get("tag"))
		e.SHA = str(stringOnly(root.Get("commit", "id")))
	case "deployment":
		e.Ref = str(root.Get("ref"))
		e.SHA = lastSegmentSHA(str(root.Get("commit_url")))
	case "repository_update":
		if ch := root.GetArray("changes"); len(ch) == 1 {
			e.Ref = str(ch[0].Get("ref"))
			e.SHA = str(ch[0].Get("after"))
		}
	default:
		e.Ref = str(stringOnly(root.Get("ref")))
		e.SHA = firstStr(stringOnly(root.Get("checkout_sha")), stringOnly(root.Get("sha")),
			stringOnly(root.Get("commit", "id")))
	}
	if mr != nil && e.Ref == "" && e.Tag == "" {
		// MR events, notes on MRs, emoji on MRs: the source branch.
		e.Ref = e.MergeRequest.SourceBranch
		e.Branch = e.Ref
	}
	if mr != nil && e.SHA == "" {
		e.SHA = str(mr.Get("last_commit", "id"))
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

// firstNum returns the first of vs that reads as a non-zero number.
func firstNum(vs ...*fastjson.Value) int64 {
	for _, v := range vs {
		if n := num(v); n != 0 {
			return n
		}
	}
	return 0
}

// firstStr returns the first of vs that reads as a non-empty string.
func firstStr(vs ...*fastjson.Value) string {
	for _, v := range vs {
		if s := str(v); s != "" {
			return s
		}
	}
	return ""
}

// stringOnly returns v if it is a JSON string, else nil: for fields whose
// name is shared with numbers elsewhere (a job's commit.id is a number).
func stringOnly(v *fastjson.Value) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	return v
}

// isHTTPURL reports whether s is an http or https URL.
func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// instanceOf derives the instance base URL from a project URL: the URL
// without the project path when it ends with it (this keeps a relative URL
// root like https://example.com/gitlab), else its scheme and host.
func instanceOf(projectURL, path string) string {
	if !isHTTPURL(projectURL) {
		return ""
	}
	u := strings.TrimRight(projectURL, "/")
	host := strings.Index(u, "://") + 3
	if cut := len(u) - len(path) - 1; path != "" && cut > host && u[cut] == '/' && u[cut+1:] == path {
		return u[:cut]
	}
	if slash := strings.IndexByte(u[host:], '/'); slash >= 0 {
		return u[:host+slash]
	}
	return u
}

// pathUnder returns the project path of projectURL: what follows the
// instance URL when it is a prefix, else the URL's path.
func pathUnder(projectURL, instance string) string {
	u := strings.TrimRight(projectURL, "/")
	if instance != "" && len(u) > len(instance)+1 && strings.HasPrefix(u, instance) && u[len(instance)] == '/' {
		return u[len(instance)+1:]
	}
	if !isHTTPURL(u) {
		return ""
	}
	host := strings.Index(u, "://") + 3
	if slash := strings.IndexByte(u[host:], '/'); slash >= 0 {
		return u[host+slash+1:]
	}
	return ""
}

// lastSegmentSHA returns the last path segment of a commit URL when it is a
// full hexadecimal commit id (40 or 64 characters), else "".
func lastSegmentSHA(u string) string {
	s := u[strings.LastIndexByte(u, '/')+1:]
	if len(s) != 40 && len(s) != 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return s
}
