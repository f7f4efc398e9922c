package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// DryRunAccessLevel is what AccessLevel answers in dry run, where there is
// no data to ask: 50 (owner), so `hookgate test` shows the rules and plugins
// an authorised user would trigger. The call is still recorded.
const DryRunAccessLevel = 50

// AccessLevel returns the user's effective access level in the event's
// project, inherited memberships included (GET members/all/:user_id): 10
// guest, 20 reporter, 30 developer, 40 maintainer, 50 owner; 0 when not a
// member (404). Answers are cached for 60 s per instance, project and user.
// In dry run it returns DryRunAccessLevel.
func (s *Scope) AccessLevel(ctx context.Context, userID int64) (int, error) {
	if s.pid == nil {
		return 0, errNoProject
	}
	if userID <= 0 {
		return 0, fmt.Errorf("gitlab: access_level: invalid user id %d", userID)
	}
	dry := s.DryRun()
	if !dry {
		if lvl, ok := s.c.cachedAccess(s.pidPath, userID); ok {
			return lvl, nil
		}
	}
	api := s.c.api
	var m *gl.ProjectMember
	r := request{method: http.MethodGet, path: s.projectPath() + "/members/all/" + strconv.FormatInt(userID, 10), ok404: true}
	res, err := s.call(ctx, r, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		m, resp, err = api.ProjectMembers.GetInheritedProjectMember(s.pid, userID, o...)
		return resp, err
	})
	switch {
	case err != nil:
		return 0, err
	case res.dry:
		return DryRunAccessLevel, nil
	}
	lvl := 0
	if res.status != http.StatusNotFound && m != nil {
		lvl = int(m.AccessLevel)
	}
	s.c.storeAccess(s.pidPath, userID, lvl)
	return lvl, nil
}

// FileContent reads a file of the event's repository at ref (default: the
// event's sha, else the project's default branch). found is false when the
// file (or ref) does not exist, and in dry run. Files larger than
// MaxResponseBytes fail.
func (s *Scope) FileContent(ctx context.Context, path, ref string) (content string, found bool, err error) {
	if s.pid == nil {
		return "", false, errNoProject
	}
	path = strings.TrimLeft(path, "/")
	if path == "" {
		return "", false, errors.New("gitlab: file: empty path")
	}
	if ref == "" {
		ref = s.env.SHA
	}
	opt := &gl.GetRawFileOptions{Ref: optString(ref)}
	p := s.projectPath() + "/repository/files/" + gl.PathEscape(path) + "/raw"
	if ref != "" {
		p += "?" + url.Values{"ref": {ref}}.Encode()
	}
	api := s.c.api
	var data []byte
	res, err := s.call(ctx, request{method: http.MethodGet, path: p, ok404: true}, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		data, resp, err = api.RepositoryFiles.GetRawFile(s.pid, path, opt, o...)
		return resp, err
	})
	if err != nil || res.dry || res.status == http.StatusNotFound {
		return "", false, err
	}
	return string(data), true, nil
}

// MergeRequest fetches the event's merge request and returns its useful
// fields: id, iid, project_id, title, description, state, draft,
// source_branch, target_branch, source_project_id, target_project_id, sha,
// merge_commit_sha, web_url, labels, author {id, username, name},
// detailed_merge_status, has_conflicts, diff_refs {base_sha, head_sha,
// start_sha}. In dry run the fields come from the event.
func (s *Scope) MergeRequest(ctx context.Context) (map[string]any, error) {
	if s.pid == nil {
		return nil, errNoProject
	}
	iid := s.env.MergeRequest.IID
	if iid <= 0 {
		return nil, errors.New("gitlab: merge_request: the event has no merge request")
	}
	api := s.c.api
	var mr *gl.MergeRequest
	r := request{method: http.MethodGet, path: s.itemPath(target{kind: onMR, id: iid})}
	res, err := s.call(ctx, r, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		mr, resp, err = api.MergeRequests.GetMergeRequest(s.pid, iid, nil, o...)
		return resp, err
	})
	switch {
	case err != nil:
		return nil, err
	case res.dry:
		return s.envMergeRequest(), nil
	case mr == nil:
		return nil, fmt.Errorf("gitlab: GET %s: empty answer", r.path)
	}
	m := map[string]any{
		"id":                    mr.ID,
		"iid":                   mr.IID,
		"project_id":            mr.ProjectID,
		"title":                 mr.Title,
		"description":           mr.Description,
		"state":                 mr.State,
		"draft":                 mr.Draft,
		"source_branch":         mr.SourceBranch,
		"target_branch":         mr.TargetBranch,
		"source_project_id":     mr.SourceProjectID,
		"target_project_id":     mr.TargetProjectID,
		"sha":                   mr.SHA,
		"merge_commit_sha":      mr.MergeCommitSHA,
		"web_url":               mr.WebURL,
		"labels":                []string(mr.Labels),
		"detailed_merge_status": mr.DetailedMergeStatus,
		"has_conflicts":         mr.HasConflicts,
		"diff_refs": map[string]any{
			"base_sha":  mr.DiffRefs.BaseSha,
			"head_sha":  mr.DiffRefs.HeadSha,
			"start_sha": mr.DiffRefs.StartSha,
		},
	}
	if a := mr.Author; a != nil {
		m["author"] = map[string]any{"id": a.ID, "username": a.Username, "name": a.Name}
	} else {
		m["author"] = map[string]any{"id": int64(0), "username": "", "name": ""}
	}
	if m["labels"].([]string) == nil {
		m["labels"] = []string{}
	}
	return m, nil
}

// envMergeRequest is the dry-run answer of MergeRequest: the same keys,
// filled from the event.
func (s *Scope) envMergeRequest() map[string]any {
	env := s.env
	mr := env.MergeRequest
	labels := mr.Labels
	if labels == nil {
		labels = []string{}
	}
	src := mr.SourceProjectID
	if src == 0 {
		src = env.Project.ID
	}
	return map[string]any{
		"id": int64(0), "iid": mr.IID, "project_id": env.Project.ID,
		"title": mr.Title, "description": "", "state": mr.State, "draft": mr.Draft,
		"source_branch": mr.SourceBranch, "target_branch": mr.TargetBranch,
		"source_project_id": src, "target_project_id": env.Project.ID,
		"sha": env.SHA, "merge_commit_sha": "", "web_url": "",
		"labels": labels, "detailed_merge_status": "", "has_conflicts": false,
		"diff_refs": map[string]any{"base_sha": "", "head_sha": env.SHA, "start_sha": ""},
		"author":    map[string]any{"id": int64(0), "username": "", "name": ""},
	}
}

// Pipeline is a pipeline CreatePipeline started.
type Pipeline struct {
	ID     int64
	WebURL string
	Status string
	Ref    string
	SHA    string
}

// CreatePipeline starts a pipeline on the event's project (POST
// /projects/:id/pipeline) with the given variables. ref defaults to the
// merge request's source branch (an error for merge requests from forks,
// whose branch is not in the project), else the event's branch or tag. In
// dry run it returns a Pipeline with only Ref set.
func (s *Scope) CreatePipeline(ctx context.Context, ref string, variables map[string]string) (Pipeline, error) {
	if s.pid == nil {
		return Pipeline{}, errNoProject
	}
	if ref == "" {
		var err error
		if ref, err = s.defaultPipelineRef(); err != nil {
			return Pipeline{}, err
		}
	}
	keys := make([]string, 0, len(variables))
	for k := range variables {
		if strings.TrimSpace(k) == "" {
			return Pipeline{}, errors.New("gitlab: create_pipeline: empty variable name")
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	opt := &gl.CreatePipelineOptions{Ref: &ref}
	if len(keys) > 0 {
		vars := make([]*gl.PipelineVariableOptions, 0, len(keys))
		for _, k := range keys {
			vars = append(vars, &gl.PipelineVariableOptions{Key: gl.Ptr(k), Value: gl.Ptr(variables[k])})
		}
		opt.Variables = &vars
	}
	api := s.c.api
	var p *gl.Pipeline
	r := request{method: http.MethodPost, path: s.projectPath() + "/pipeline", body: opt}
	res, err := s.call(ctx, r, func(o ...gl.RequestOptionFunc) (resp *gl.Response, err error) {
		p, resp, err = api.Pipelines.CreatePipeline(s.pid, opt, o...)
		return resp, err
	})
	switch {
	case err != nil:
		return Pipeline{}, err
	case res.dry || p == nil:
		return Pipeline{Ref: ref}, nil
	}
	return Pipeline{ID: p.ID, WebURL: p.WebURL, Status: p.Status, Ref: p.Ref, SHA: p.SHA}, nil
}

// defaultPipelineRef picks the ref CreatePipeline runs on when none is given.
func (s *Scope) defaultPipelineRef() (string, error) {
	env := s.env
	if mr := env.MergeRequest; mr.IID > 0 {
		if mr.SourceProjectID != 0 && env.Project.ID != 0 && mr.SourceProjectID != env.Project.ID {
			return "", errors.New("gitlab: create_pipeline: the merge request comes from a fork; pass ref")
		}
		if mr.SourceBranch != "" {
			return mr.SourceBranch, nil
		}
	}
	switch {
	case env.Branch != "":
		return env.Branch, nil
	case env.Tag != "":
		return env.Tag, nil
	case env.Ref != "":
		r := strings.TrimPrefix(env.Ref, "refs/heads/")
		return strings.TrimPrefix(r, "refs/tags/"), nil
	}
	return "", errors.New("gitlab: create_pipeline: the event has no branch or tag; pass ref")
}
