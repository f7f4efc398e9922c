package envelope

import (
	"net/url"
	"strings"
)

// NormalizeInstance is the one spelling of a GitLab instance URL that every
// comparison uses (the receiver's X-Gitlab-Instance, [[gitlab]] url,
// [[secret]] instance, enrolled projects, the API client picker): scheme
// and host lower-cased, a default port dropped, a trailing "/" and an
// "/api/v4" suffix removed, so "https://GitLab.example.com:443/api/v4/"
// and "https://gitlab.example.com" are one instance. A value that is not
// an absolute http(s) URL is returned trimmed of "/" and spaces, lower
// case, so it can only ever equal itself.
func NormalizeInstance(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") { // url.Parse lower-cases the scheme
		return strings.ToLower(strings.TrimRight(s, "/"))
	}
	scheme := u.Scheme
	host := strings.ToLower(u.Host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimRight(strings.TrimSuffix(p, "/api/v4"), "/")
	return scheme + "://" + host + p
}

// InstanceHost returns the host (with a non-default port) of a normalized
// instance URL, "" when it has none.
func InstanceHost(instance string) string {
	rest, ok := strings.CutPrefix(instance, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(instance, "http://"); !ok {
			return ""
		}
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// NormalizeProjectPath is the one spelling of a project path
// (path_with_namespace) that every comparison uses: lower case (GitLab's
// paths are case-insensitive), without leading or trailing "/".
func NormalizeProjectPath(p string) string {
	return strings.ToLower(strings.Trim(p, "/"))
}

// URLHost returns the lower-case host (with a non-default port) of an
// absolute http(s) URL, "" otherwise: for comparing a payload's project
// web_url with the instance it was authenticated for.
func URLHost(s string) string {
	return InstanceHost(NormalizeInstance(s))
}
