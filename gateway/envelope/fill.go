package envelope

import (
	"strings"

	"github.com/hookgate/hookgate/gateway/envelope/command"
)

// fill lifts the envelope's fields out of the parsed payload root. It only
// reads root; every string it stores is a copy.
func fill(e *Envelope, root value, instance string) {
	attrs := object(root, "object_attributes")

	e.Kind = enum(root.get("object_kind"))
	if e.Kind == "" {
		e.Kind = enum(root.get("event_name"))
	}
	if e.Kind == "" {
		e.Kind = kindFromEvent(e.Event)
	}
	e.Action = enum(attrs.get("action"))
	if e.Action == "" {
		e.Action = enum(root.get("action")) // release, milestone
	}
	e.System = boolean(attrs.get("system"))

	fillProject(e, root, attrs, instance)
	fillUser(e, root, attrs)

	if e.Kind == "note" {
		e.Note = str(attrs.get("note"))
		e.NoteableType = enum(attrs.get("noteable_type"))
		e.NoteID = num(attrs.get("id"))
		e.Commands = command.Parse(e.Note)
		if len(e.Commands) > 0 {
			e.Command = e.Commands[0]
		}
	}

	mr := object(root, "merge_request")
	if e.Kind == "merge_request" {
		mr = attrs
	}
	if mr.exists() {
		fillMergeRequest(&e.MergeRequest, root, mr, e.Kind == "merge_request")
		e.Labels = e.MergeRequest.Labels
	}
	issue := object(root, "issue")
	if e.Kind == "issue" || e.Kind == "work_item" {
		issue = attrs
	}
	if issue.exists() {
		fillIssue(&e.Issue, root, issue, issue == attrs)
		if !mr.exists() {
			e.Labels = e.Issue.Labels
		}
	}

	fillRef(e, root, attrs, mr)
}

// fillProject sets Project and Instance.
func fillProject(e *Envelope, root, attrs value, instance string) {
	p := &e.Project
	proj := object(root, "project")
	target := object(attrs, "target") // MR events: the target project

	p.ID = firstNum(proj.get("id"), root.get("project_id"), target.get("id"),
		attrs.get("target_project_id"), attrs.get("project_id"))
	p.Path, p.URL, e.Instance = deriveProject(func(f projectField) string {
		switch f {
		case pfPath:
			return str(proj.get("path_with_namespace"))
		case pfTargetPath:
			return str(target.get("path_with_namespace"))
		case pfRootPath:
			return str(root.get("path_with_namespace"))
		case pfRootProjectPath:
			return str(root.get("project_path_with_namespace"))
		case pfURL:
			return str(proj.get("web_url"))
		case pfTargetURL:
			return str(target.get("web_url"))
		case pfHomepage:
			return str(root.get("repository", "homepage"))
		case pfAttrsURL:
			return str(attrs.get("url"))
		}
		return ""
	}, instance)
}

// projectField is one payload field a project is read from.
type projectField uint8

const (
	pfPath            projectField = iota // project.path_with_namespace
	pfTargetPath                          // object_attributes.target.path_with_namespace (MR events)
	pfRootPath                            // path_with_namespace (system hooks)
	pfRootProjectPath                     // project_path_with_namespace (system hooks)
	pfURL                                 // project.web_url
	pfTargetURL                           // object_attributes.target.web_url
	pfHomepage                            // repository.homepage (jobs)
	pfAttrsURL                            // object_attributes.url (vulnerabilities)
	numProjectFields
)

// deriveProject is the one place that decides a payload's project path and
// URL and the instance, from the text of each projectField (text is asked
// lazily, in order, as str gives it) and the X-Gitlab-Instance header:
// Normalize reads the fields from its tree, Locate from its scan, so the
// project a delivery is authenticated for is the project it is built with.
func deriveProject(text func(projectField) string, instance string) (path, url, inst string) {
	for _, f := range [...]projectField{pfPath, pfTargetPath, pfRootPath, pfRootProjectPath} {
		if path = text(f); path != "" {
			break
		}
	}
	if url = text(pfURL); url == "" {
		url = text(pfTargetURL)
	}
	// Jobs have no project object: the repository's homepage is the
	// project's URL. Vulnerabilities only have their own URL, under the
	// project's ".../-/".
	if url == "" && path == "" {
		if home := text(pfHomepage); isHTTPURL(home) {
			url = home
		} else if u := text(pfAttrsURL); isHTTPURL(u) {
			if i := strings.Index(u, "/-/"); i > 0 {
				url = u[:i]
			}
		}
	}

	inst = strings.TrimRight(instance, "/")
	if inst != "" {
		inst = strings.Clone(inst)
	} else {
		inst = instanceOf(url, path)
	}
	if path == "" && url != "" {
		path = pathUnder(url, inst)
	}
	if url == "" && path != "" && inst != "" {
		url = inst + "/" + path
	}
	return path, url, inst
}

// fillUser sets User: the user object, the user_* fields of push and system
// hooks, the note's author_id for notes whose user has no id, and for
// user_* system hooks the top-level username and name.
func fillUser(e *Envelope, root, attrs value) {
	u := &e.User
	obj := object(root, "user")
	u.ID = firstNum(obj.get("id"), root.get("user_id"))
	u.Username = firstStr(obj.get("username"), root.get("user_username"))
	u.Name = firstStr(obj.get("name"), root.get("user_name"))
	if u.ID == 0 && e.Kind == "note" {
		u.ID = num(attrs.get("author_id"))
	}
	if strings.HasPrefix(e.Kind, "user_") || strings.HasPrefix(e.Kind, "key_") {
		if u.Username == "" {
			u.Username = str(root.get("username"))
		}
		if u.Name == "" && strings.HasPrefix(e.Kind, "user_") {
			u.Name = str(root.get("name"))
		}
	}
}

// fillMergeRequest reads a merge request object: object_attributes of MR
// events (whose labels are preferably the top-level "labels"), or the
// top-level merge_request of notes, pipelines and emoji.
func fillMergeRequest(m *MergeRequest, root, mr value, event bool) {
	m.IID = num(mr.get("iid"))
	m.Title = str(mr.get("title"))
	m.State = enum(mr.get("state"))
	m.SourceBranch = str(mr.get("source_branch"))
	m.TargetBranch = str(mr.get("target_branch"))
	m.Draft = boolean(mr.get("draft")) || boolean(mr.get("work_in_progress"))
	m.SourceProjectID = num(mr.get("source_project_id"))
	m.Labels = labels(root, mr, event)
}

// fillIssue reads an issue object: object_attributes of issue events, or
// the top-level issue of notes and emoji.
func fillIssue(is *Issue, root, issue value, event bool) {
	is.IID = num(issue.get("iid"))
	is.Title = str(issue.get("title"))
	is.State = enum(issue.get("state"))
	is.Labels = labels(root, issue, event)
}

// labels returns the label titles of an MR or issue: for their own events
// the top-level "labels" first, else the object's "labels". Never nil.
func labels(root, obj value, event bool) []string {
	if event {
		if t := labelTitles(root.get("labels")); t != nil {
			return t
		}
	}
	if t := labelTitles(obj.get("labels")); t != nil {
		return t
	}
	return []string{}
}

// fillRef sets Ref, Branch, Tag and SHA.
func fillRef(e *Envelope, root, attrs, mr value) {
	isTag := false   // the event's tag flag, for short refs
	hasFlag := false // the payload has such a flag
	switch e.Kind {
	case "push", "tag_push":
		e.Ref = str(root.get("ref"))
		e.SHA = firstStr(root.get("checkout_sha"), root.get("after"))
	case "pipeline":
		e.Ref = str(attrs.get("ref"))
		e.SHA = str(attrs.get("sha"))
		isTag, hasFlag = boolean(attrs.get("tag")), true
	case "build":
		e.Ref = str(root.get("ref"))
		e.SHA = str(root.get("sha")) // commit.id is the pipeline id
		isTag, hasFlag = boolean(root.get("tag")), true
	case "note":
		if e.NoteableType == "Commit" {
			e.SHA = firstStr(stringOnly(root.get("commit", "id")), attrs.get("commit_id"))
		}
	case "release":
		e.Tag = str(root.get("tag"))
		e.SHA = str(stringOnly(root.get("commit", "id")))
	case "deployment":
		e.Ref = str(root.get("ref"))
		e.SHA = lastSegmentSHA(str(root.get("commit_url")))
	case "repository_update":
		if ch := root.get("changes"); ch.len() == 1 {
			e.Ref = str(ch.index(0).get("ref"))
			e.SHA = str(ch.index(0).get("after"))
		}
	default:
		e.Ref = str(stringOnly(root.get("ref")))
		e.SHA = firstStr(stringOnly(root.get("checkout_sha")), stringOnly(root.get("sha")),
			stringOnly(root.get("commit", "id")))
	}
	if mr.exists() && e.Ref == "" && e.Tag == "" {
		// MR events, notes on MRs, emoji on MRs: the source branch.
		e.Ref = e.MergeRequest.SourceBranch
		e.Branch = e.Ref
	}
	if mr.exists() && e.SHA == "" {
		e.SHA = str(mr.get("last_commit", "id"))
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
func firstNum(vs ...value) int64 {
	for _, v := range vs {
		if n := num(v); n != 0 {
			return n
		}
	}
	return 0
}

// firstStr returns the first of vs that reads as a non-empty string.
func firstStr(vs ...value) string {
	for _, v := range vs {
		if s := str(v); s != "" {
			return s
		}
	}
	return ""
}

// stringOnly returns v if it is a JSON string, else a missing value: for
// fields whose name is shared with numbers elsewhere (a job's commit.id is
// a number).
func stringOnly(v value) value {
	if v.kind() != kindString {
		return value{}
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
