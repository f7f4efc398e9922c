// Package gitlabhttp is the one place that builds the HTTP clients which
// carry hookgate's GitLab API token: the plugins' binding
// (plugins/gitlab) and enrolment (gateway/enroll).
//
// Such a client never follows a redirect. Go's http.Client forwards a
// request's headers to wherever a Location points and drops only
// Authorization, Cookie and WWW-Authenticate on a change of host, so a
// GitLab (or a proxy in front of it) answering 302 Location:
// http://other-host/ would hand PRIVATE-TOKEN to that host. A redirect
// answer is instead reported as a *RedirectError and nothing is sent to
// the Location.
package gitlabhttp

import (
	"fmt"
	"net/http"
	"net/url"
)

// Client returns a copy of hc (a new client when hc is nil) that does not
// follow redirects: its transport turns a redirect answer (301, 302, 303,
// 307, 308) into a *RedirectError, which http.Client.Do returns wrapped in
// a *url.Error, and its CheckRedirect returns http.ErrUseLastResponse in
// case a redirect gets past the transport. hc itself is not modified; its
// Timeout, Jar and Transport (nil: http.DefaultTransport) are kept.
func Client(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		cp := *hc
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &refuseRedirects{base: base}
	return c
}

// RedirectError is a redirect answer, refused.
type RedirectError struct {
	Status int
	// Location is where the answer pointed, resolved against the request's
	// URL, without user info, query or fragment; "" when it had none.
	Location string
}

func (e *RedirectError) Error() string {
	s := fmt.Sprintf("GitLab answered %d %s (redirects are not followed)", e.Status, http.StatusText(e.Status))
	if e.Location != "" {
		s += ": Location " + e.Location
	}
	return s
}

// refuseRedirects answers a redirect with an error instead of a response.
type refuseRedirects struct {
	base http.RoundTripper
}

func (t *refuseRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || !isRedirect(resp.StatusCode) {
		return resp, err
	}
	resp.Body.Close()
	return nil, &RedirectError{Status: resp.StatusCode, Location: location(req, resp)}
}

// isRedirect reports the statuses http.Client follows.
func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// location is the answer's Location, absolute, with only scheme, host and
// path: its query could carry something the other host issued.
func location(req *http.Request, resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return ""
	}
	u, err := req.URL.Parse(loc)
	if err != nil {
		return "(unparsable)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
