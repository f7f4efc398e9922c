package enroll

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// hooksPerPage is the page size asked for when listing hooks (GitLab's
// maximum); maxHookPages bounds the walk against a server that never
// stops paging.
const (
	hooksPerPage = 100
	maxHookPages = 100
)

// project looks the project up by path (or id), for its id and canonical
// path_with_namespace.
func (e *Enroller) project(ctx context.Context, ref any) (*gl.Project, error) {
	p, _, err := e.api.Projects.GetProject(ref, nil, gl.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("get project %v: %w", ref, err)
	}
	if p.ID == 0 || p.PathWithNamespace == "" {
		return nil, fmt.Errorf("get project %v: answer without id or path", ref)
	}
	return p, nil
}

// hooksTo lists every hook of the project, following X-Next-Page through
// all pages, and returns those delivering to hookURL, in GitLab's order.
func (e *Enroller) hooksTo(ctx context.Context, projectID int64, hookURL string) ([]*gl.ProjectHook, error) {
	opt := &gl.ListProjectHooksOptions{ListOptions: gl.ListOptions{PerPage: hooksPerPage, Page: 1}}
	var out []*gl.ProjectHook
	for range maxHookPages {
		hooks, resp, err := e.api.Projects.ListProjectHooks(projectID, opt, gl.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("list hooks of project %d (page %d): %w", projectID, opt.Page, err)
		}
		for _, h := range hooks {
			if sameURL(h.URL, hookURL) {
				out = append(out, h)
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		if resp.NextPage <= opt.Page {
			return nil, fmt.Errorf("list hooks of project %d: page %d points back to page %d", projectID, opt.Page, resp.NextPage)
		}
		opt.Page = resp.NextPage
	}
	return nil, fmt.Errorf("list hooks of project %d: more than %d pages", projectID, maxHookPages)
}

// sameURL compares webhook URLs as GitLab would deliver to them: scheme
// and host case-insensitively, a trailing "/" ignored, the rest exactly.
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimRight(ua.EscapedPath(), "/") == strings.TrimRight(ub.EscapedPath(), "/") &&
		ua.RawQuery == ub.RawQuery
}

// createHook adds a hook delivering to e.hookURL with token and events.
func (e *Enroller) createHook(ctx context.Context, projectID int64, token string, events []string) (*gl.ProjectHook, error) {
	o := e.hookOptions(token, events)
	o.Name = gl.Ptr("hookgate")
	o.Description = gl.Ptr("Managed by hookgate enroll; its secret token is rotated with `hookgate secret rotate`.")
	h, _, err := e.api.Projects.AddProjectHook(projectID, o, gl.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("create hook on project %d: %w", projectID, err)
	}
	return h, nil
}

// editHook sets the hook's URL, token and SSL verification, and its event
// switches when events is not nil (nil leaves them as they are).
func (e *Enroller) editHook(ctx context.Context, projectID, hookID int64, token string, events []string) (*gl.ProjectHook, error) {
	o := e.hookOptions(token, events)
	// The two option types have the same fields in the same order.
	h, _, err := e.api.Projects.EditProjectHook(projectID, hookID, (*gl.EditProjectHookOptions)(o), gl.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("update hook %d on project %d: %w", hookID, projectID, err)
	}
	return h, nil
}

func (e *Enroller) hookOptions(token string, events []string) *gl.AddProjectHookOptions {
	o := &gl.AddProjectHookOptions{
		URL:                   gl.Ptr(e.hookURL),
		Token:                 gl.Ptr(token),
		EnableSSLVerification: gl.Ptr(true),
	}
	if events != nil {
		setEvents(o, events)
	}
	return o
}
