package enroll

import (
	"fmt"
	"slices"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// DefaultEvents are the hook events enroll turns on when none are given.
var DefaultEvents = []string{"issues", "merge_requests", "note", "pipeline"}

// hookEvent is one of a project hook's *_events switches.
type hookEvent struct {
	name    string   // the hook field without "_events"
	aliases []string // other accepted spellings: envelope kinds, singulars
	set     func(o *gl.AddProjectHookOptions, on *bool)
	get     func(h *gl.ProjectHook) bool
}

// hookEvents is every switch AddProjectHookOptions can set, by name.
var hookEvents = []hookEvent{
	{"push", nil,
		func(o *gl.AddProjectHookOptions, on *bool) { o.PushEvents = on },
		func(h *gl.ProjectHook) bool { return h.PushEvents }},
	{"tag_push", []string{"tag", "tags"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.TagPushEvents = on },
		func(h *gl.ProjectHook) bool { return h.TagPushEvents }},
	{"issues", []string{"issue"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.IssuesEvents = on },
		func(h *gl.ProjectHook) bool { return h.IssuesEvents }},
	{"confidential_issues", []string{"confidential_issue"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.ConfidentialIssuesEvents = on },
		func(h *gl.ProjectHook) bool { return h.ConfidentialIssuesEvents }},
	{"note", []string{"notes", "comment", "comments"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.NoteEvents = on },
		func(h *gl.ProjectHook) bool { return h.NoteEvents }},
	{"confidential_note", []string{"confidential_notes"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.ConfidentialNoteEvents = on },
		func(h *gl.ProjectHook) bool { return h.ConfidentialNoteEvents }},
	{"merge_requests", []string{"merge_request", "mr"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.MergeRequestsEvents = on },
		func(h *gl.ProjectHook) bool { return h.MergeRequestsEvents }},
	{"job", []string{"jobs", "build", "builds"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.JobEvents = on },
		func(h *gl.ProjectHook) bool { return h.JobEvents }},
	{"pipeline", []string{"pipelines"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.PipelineEvents = on },
		func(h *gl.ProjectHook) bool { return h.PipelineEvents }},
	{"wiki_page", []string{"wiki_pages", "wiki"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.WikiPageEvents = on },
		func(h *gl.ProjectHook) bool { return h.WikiPageEvents }},
	{"deployment", []string{"deployments"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.DeploymentEvents = on },
		func(h *gl.ProjectHook) bool { return h.DeploymentEvents }},
	{"releases", []string{"release"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.ReleasesEvents = on },
		func(h *gl.ProjectHook) bool { return h.ReleasesEvents }},
	{"emoji", []string{"emojis", "award_emoji"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.EmojiEvents = on },
		func(h *gl.ProjectHook) bool { return h.EmojiEvents }},
	{"resource_access_token", []string{"resource_access_tokens"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.ResourceAccessTokenEvents = on },
		func(h *gl.ProjectHook) bool { return h.ResourceAccessTokenEvents }},
	{"vulnerability", []string{"vulnerabilities"},
		func(o *gl.AddProjectHookOptions, on *bool) { o.VulnerabilityEvents = on },
		func(h *gl.ProjectHook) bool { return h.VulnerabilityEvents }},
}

// EventNames lists the event names enroll accepts, without aliases.
func EventNames() []string {
	out := make([]string, len(hookEvents))
	for i, e := range hookEvents {
		out[i] = e.name
	}
	return out
}

// ParseEvents resolves event names (the hook's *_events field without the
// suffix, e.g. "merge_requests", or an alias such as the envelope kind
// "merge_request"; any case, "-" for "_") to the sorted, deduplicated
// names of hook switches. An empty list gives DefaultEvents; an unknown
// name is an error listing the known ones.
func ParseEvents(names []string) ([]string, error) {
	if len(names) == 0 {
		return slices.Clone(DefaultEvents), nil
	}
	var out, unknown []string
	for _, n := range names {
		key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(n)), "-", "_")
		key = strings.TrimSuffix(key, "_events")
		if key == "" {
			continue
		}
		i := slices.IndexFunc(hookEvents, func(e hookEvent) bool {
			return e.name == key || slices.Contains(e.aliases, key)
		})
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, hookEvents[i].name)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown event %s; known: %s", strings.Join(unknown, ", "), strings.Join(EventNames(), ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no events given; known: %s", strings.Join(EventNames(), ", "))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// setEvents sets every switch of o: on for the names in events, off for
// the rest (GitLab turns push events on when not told otherwise).
func setEvents(o *gl.AddProjectHookOptions, events []string) {
	for _, e := range hookEvents {
		e.set(o, gl.Ptr(slices.Contains(events, e.name)))
	}
}

// hookEventNames lists the switches that are on in h.
func hookEventNames(h *gl.ProjectHook) []string {
	var out []string
	for _, e := range hookEvents {
		if e.get(h) {
			out = append(out, e.name)
		}
	}
	slices.Sort(out)
	return out
}
