package enroll

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ProjectInfo describes an enrolled project without its secrets' hashes.
type ProjectInfo struct {
	Project       string       `json:"project"`
	ProjectID     int64        `json:"project_id"`
	Instance      string       `json:"instance"`
	HookID        int64        `json:"hook_id"`
	HookURL       string       `json:"hook_url"`
	Events        []string     `json:"events"`
	EnrolledAt    time.Time    `json:"enrolled_at"`
	FallbackUntil *time.Time   `json:"fallback_until,omitempty"`
	Secrets       []SecretInfo `json:"secrets"`
}

// SecretInfo describes one enrolled secret: when it was made and when it
// ends (nil: never). It carries nothing of the secret.
type SecretInfo struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

// List returns the enrolled projects in the file at path, or only project
// when it is not "", with the secrets still valid at now (oldest first).
// A project that is asked for and not enrolled is an error.
func List(path, project string, now time.Time) ([]ProjectInfo, error) {
	f, err := Read(path)
	if err != nil {
		return nil, err
	}
	var out []ProjectInfo
	for _, p := range f.Projects {
		if project != "" && !strings.EqualFold(p.Project, project) {
			continue
		}
		info := ProjectInfo{
			Project: p.Project, ProjectID: p.ProjectID, Instance: p.Instance,
			HookID: p.HookID, HookURL: p.HookURL, Events: slices.Clone(p.Events),
			EnrolledAt: p.EnrolledAt, Secrets: []SecretInfo{},
		}
		if p.FallbackUntil != nil && now.Before(*p.FallbackUntil) {
			info.FallbackUntil = p.FallbackUntil
		}
		for _, s := range p.Secrets {
			if s.NotAfter != nil && !now.Before(*s.NotAfter) {
				continue
			}
			info.Secrets = append(info.Secrets, SecretInfo{ID: s.ID, CreatedAt: s.CreatedAt, NotAfter: s.NotAfter})
		}
		slices.SortStableFunc(info.Secrets, func(a, b SecretInfo) int { return a.CreatedAt.Compare(b.CreatedAt) })
		out = append(out, info)
	}
	if project != "" && len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", project, ErrNotEnrolled)
	}
	return out, nil
}

// Remove forgets project's enrolled secrets, so the [[secret]] blocks
// apply to it again: on GitLab instance (a base URL) only, or on every
// instance it is enrolled on when instance is "" (an entry recorded
// without an instance counts for every instance). It does not touch the
// project's hook in GitLab. It reports whether the project was enrolled.
func Remove(path, project, instance string, now time.Time) (bool, error) {
	found := false
	err := Update(path, now, func(f *File) error {
		n := len(f.Projects)
		f.Projects = slices.DeleteFunc(f.Projects, func(p *Project) bool {
			return strings.EqualFold(p.Project, project) && (instance == "" || p.Instance == "" || sameURL(p.Instance, instance))
		})
		found = len(f.Projects) < n
		return nil
	})
	return found, err
}
