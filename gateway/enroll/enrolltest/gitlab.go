// Package enrolltest is a stand-in for the parts of GitLab's REST API that
// enrolment uses: projects, and a project's webhooks listed page by page
// (X-Page, X-Next-Page, X-Total-Pages, Link headers, as GitLab sends
// them), created and edited. Tests of enroll, of the gateway and of the
// command line share it.
package enrolltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// Token is the API token the fake accepts (PRIVATE-TOKEN header).
const Token = "glpat-enrolltest"

// Hook is a stored webhook: what GitLab shows, plus the secret token it
// never shows.
type Hook struct {
	gl.ProjectHook
	Token string
}

// Request is one request the fake received.
type Request struct {
	Method, Path string // Path as sent, escaped
	Query        url.Values
	Body         map[string]any // decoded JSON body; nil when none
}

// GitLab is the fake server. Its fields may be set before the first
// request; use its methods afterwards.
type GitLab struct {
	*httptest.Server
	// PageSize caps per_page, so that a few hooks already span pages.
	PageSize int

	mu       sync.Mutex
	projects map[int64]string // id -> path_with_namespace
	hooks    map[int64][]*Hook
	nextHook int64
	requests []Request
	fail     map[string]int // "METHOD" -> status to answer once
}

// New starts a fake GitLab (closed when the test ends) with a page size of 2.
func New(t testing.TB) *GitLab {
	g := &GitLab{PageSize: 2, projects: map[int64]string{}, hooks: map[int64][]*Hook{}, nextHook: 100, fail: map[string]int{}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

// AddProject registers a project and returns its id.
func (g *GitLab) AddProject(id int64, path string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.projects[id] = path
	return id
}

// AddHook stores a hook as if an admin had made it by hand.
func (g *GitLab) AddHook(projectID int64, hookURL, token string) *Hook {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextHook++
	h := &Hook{ProjectHook: gl.ProjectHook{ID: g.nextHook, ProjectID: projectID, URL: hookURL, PushEvents: true}, Token: token}
	g.hooks[projectID] = append(g.hooks[projectID], h)
	return h
}

// DeleteHooks removes every hook of the project.
func (g *GitLab) DeleteHooks(projectID int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.hooks, projectID)
}

// Hooks returns copies of the project's hooks, in creation order.
func (g *GitLab) Hooks(projectID int64) []Hook {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Hook, 0, len(g.hooks[projectID]))
	for _, h := range g.hooks[projectID] {
		out = append(out, *h)
	}
	return out
}

// Requests returns the requests received so far.
func (g *GitLab) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// FailNext makes the next request with method answer status.
func (g *GitLab) FailNext(method string, status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail[method] = status
}

func (g *GitLab) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	req := Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query()}
	if raw, _ := io.ReadAll(r.Body); len(raw) > 0 {
		if err := json.Unmarshal(raw, &req.Body); err != nil {
			g.requests = append(g.requests, req)
			answer(w, http.StatusBadRequest, map[string]string{"error": "body is not JSON"})
			return
		}
	}
	g.requests = append(g.requests, req)
	if r.Header.Get("PRIVATE-TOKEN") != Token {
		answer(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	if status, ok := g.fail[r.Method]; ok {
		delete(g.fail, r.Method)
		answer(w, status, map[string]string{"message": fmt.Sprintf("%d injected failure", status)})
		return
	}
	// /api/v4/projects/:id[/hooks[/:hook_id]]
	rest, ok := strings.CutPrefix(req.Path, "/api/v4/projects/")
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
		return
	}
	parts := strings.Split(rest, "/")
	pid, ok := g.project(parts[0])
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return
	}
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		answer(w, http.StatusOK, map[string]any{"id": pid, "path_with_namespace": g.projects[pid], "web_url": g.URL + "/" + g.projects[pid]})
	case len(parts) == 2 && parts[1] == "hooks" && r.Method == http.MethodGet:
		g.list(w, r, pid)
	case len(parts) == 2 && parts[1] == "hooks" && r.Method == http.MethodPost:
		g.nextHook++
		// GitLab turns push events on unless told otherwise.
		h := &Hook{ProjectHook: gl.ProjectHook{ID: g.nextHook, ProjectID: pid, PushEvents: true}}
		if !apply(w, h, req.Body) {
			return
		}
		now := time.Now().UTC()
		h.CreatedAt = &now
		g.hooks[pid] = append(g.hooks[pid], h)
		answer(w, http.StatusCreated, h.ProjectHook)
	case len(parts) == 3 && parts[1] == "hooks" && r.Method == http.MethodPut:
		id, _ := strconv.ParseInt(parts[2], 10, 64)
		i := slices.IndexFunc(g.hooks[pid], func(h *Hook) bool { return h.ID == id })
		if i < 0 {
			answer(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return
		}
		h := g.hooks[pid][i]
		cp := *h
		if !apply(w, &cp, req.Body) {
			return
		}
		*h = cp
		answer(w, http.StatusOK, h.ProjectHook)
	default:
		answer(w, http.StatusMethodNotAllowed, map[string]string{"message": "405 Method Not Allowed"})
	}
}

// project resolves an id or a URL-encoded path.
func (g *GitLab) project(ref string) (int64, bool) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		_, ok := g.projects[id]
		return id, ok
	}
	path, err := url.PathUnescape(ref)
	if err != nil {
		return 0, false
	}
	for id, p := range g.projects {
		if strings.EqualFold(p, path) {
			return id, true
		}
	}
	return 0, false
}

// apply sets the hook's fields from a create or edit body. url is
// required, as in GitLab.
func apply(w http.ResponseWriter, h *Hook, body map[string]any) bool {
	u, _ := body["url"].(string)
	if u == "" {
		answer(w, http.StatusBadRequest, map[string]string{"error": "url is missing"})
		return false
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &h.ProjectHook); err != nil { // only the keys present change
		answer(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	if tok, ok := body["token"].(string); ok {
		h.Token = tok
	}
	return true
}

// list answers one page of hooks with GitLab's pagination headers.
func (g *GitLab) list(w http.ResponseWriter, r *http.Request, pid int64) {
	all := g.hooks[pid]
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > g.PageSize {
		per = g.PageSize
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	pages := max(1, (len(all)+per-1)/per)
	from, to := min((page-1)*per, len(all)), min(page*per, len(all))
	items := make([]gl.ProjectHook, 0, to-from)
	for _, h := range all[from:to] {
		items = append(items, h.ProjectHook)
	}
	hdr := w.Header()
	hdr.Set("X-Page", strconv.Itoa(page))
	hdr.Set("X-Per-Page", strconv.Itoa(per))
	hdr.Set("X-Total", strconv.Itoa(len(all)))
	hdr.Set("X-Total-Pages", strconv.Itoa(pages))
	link := func(p int, rel string) string {
		q := url.Values{"page": {strconv.Itoa(p)}, "per_page": {strconv.Itoa(per)}}
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, g.URL, r.URL.EscapedPath(), q.Encode(), rel)
	}
	links := []string{link(1, "first"), link(pages, "last")}
	if page < pages {
		hdr.Set("X-Next-Page", strconv.Itoa(page+1))
		links = append(links, link(page+1, "next"))
	} else {
		hdr.Set("X-Next-Page", "")
	}
	if page > 1 {
		hdr.Set("X-Prev-Page", strconv.Itoa(page-1))
		links = append(links, link(page-1, "prev"))
	} else {
		hdr.Set("X-Prev-Page", "")
	}
	hdr.Set("Link", strings.Join(links, ", "))
	answer(w, http.StatusOK, items)
}

func answer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
