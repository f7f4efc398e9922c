package envelope

// knownEvents are the X-Gitlab-Event values GitLab sends.
var knownEvents = map[string]struct{}{
	"Push Hook":                  {},
	"Tag Push Hook":              {},
	"Issue Hook":                 {},
	"Confidential Issue Hook":    {},
	"Note Hook":                  {},
	"Confidential Note Hook":     {},
	"Merge Request Hook":         {},
	"Wiki Page Hook":             {},
	"Pipeline Hook":              {},
	"Job Hook":                   {},
	"Build Hook":                 {},
	"Deployment Hook":            {},
	"Feature Flag Hook":          {},
	"Release Hook":               {},
	"Emoji Hook":                 {},
	"Resource Access Token Hook": {},
	"Member Hook":                {},
	"Subgroup Hook":              {},
	"Project Hook":               {},
	"Milestone Hook":             {},
	"Vulnerability Hook":         {},
	"Service Hook":               {},
	"System Hook":                {},
}

// KnownEvent reports whether header is an X-Gitlab-Event value GitLab
// sends. Deliveries of other types are acknowledged and ignored.
func KnownEvent(header string) bool {
	_, ok := knownEvents[header]
	return ok
}

// kindEvents maps an object_kind to the X-Gitlab-Event GitLab sends with it,
// for tools that get a payload without its header.
var kindEvents = map[string]string{
	"push":          "Push Hook",
	"tag_push":      "Tag Push Hook",
	"issue":         "Issue Hook",
	"note":          "Note Hook",
	"merge_request": "Merge Request Hook",
	"wiki_page":     "Wiki Page Hook",
	"pipeline":      "Pipeline Hook",
	"build":         "Job Hook",
	"deployment":    "Deployment Hook",
	"feature_flag":  "Feature Flag Hook",
	"release":       "Release Hook",
	"emoji":         "Emoji Hook",
	"access_token":  "Resource Access Token Hook",
	"member":        "Member Hook",
	"subgroup":      "Subgroup Hook",
	"project":       "Project Hook",
	"milestone":     "Milestone Hook",
	"vulnerability": "Vulnerability Hook",
}

// EventForKind returns the X-Gitlab-Event header that goes with a payload's
// object_kind, and "System Hook" for payloads that only have event_name.
func EventForKind(objectKind, eventName string) string {
	if h, ok := kindEvents[objectKind]; ok {
		return h
	}
	if eventName != "" {
		return "System Hook"
	}
	return ""
}
