package enroll

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway/auth"
)

// File format constants.
const (
	// FileVersion is the version of the enrolled-secrets file written.
	FileVersion = 1
	// Scheme names how a token becomes its stored hash (auth.TokenHash).
	Scheme = "hmac-sha256(salt, sha256(token))"
	// saltSize is the size of the per-file random salt.
	saltSize = 32
	// maxFileSize bounds what Read accepts (thousands of projects fit).
	maxFileSize = 16 << 20
)

// File is the enrolled-secrets file: per project, the salted hashes of its
// webhook tokens. It never holds a token.
type File struct {
	Version   int        `json:"version"`
	Scheme    string     `json:"scheme"`
	Salt      []byte     `json:"salt"` // base64 in JSON; the HMAC key of every hash
	UpdatedAt time.Time  `json:"updated_at"`
	Projects  []*Project `json:"projects"`
}

// Project is one enrolled project.
type Project struct {
	// Project is the path_with_namespace as GitLab spells it; deliveries
	// are matched on it case-insensitively.
	Project    string    `json:"project"`
	ProjectID  int64     `json:"project_id"`
	Instance   string    `json:"instance"` // GitLab base URL
	HookID     int64     `json:"hook_id"`
	HookURL    string    `json:"hook_url"`
	Events     []string  `json:"events"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// FallbackUntil: until then the [[secret]] blocks still accept
	// deliveries for the project (its hook's secret before enrolment).
	FallbackUntil *time.Time `json:"fallback_until,omitempty"`
	Secrets       []Secret   `json:"secrets"`
}

// Secret is one enrolled token, as its hash.
type Secret struct {
	// ID names the secret in listings; it is random, not derived from it.
	ID        string     `json:"id"`
	Hash      []byte     `json:"hash"` // auth.TokenHash(File.Salt, token), base64 in JSON
	CreatedAt time.Time  `json:"created_at"`
	NotAfter  *time.Time `json:"not_after,omitempty"` // nil: no end
}

// Read loads the file at path. A missing file is an empty File (no
// projects, no salt yet). Errors name the file, never a hash.
func Read(path string) (*File, error) {
	b, err := readCapped(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Version: FileVersion, Scheme: Scheme}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enrolled secrets %s: %w", path, err)
	}
	f, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("enrolled secrets %s: %w", path, err)
	}
	return f, nil
}

func readCapped(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	buf := bytes.NewBuffer(make([]byte, 0, st.Size()+1))
	_, err = buf.ReadFrom(fh)
	return buf.Bytes(), err
}

func decode(b []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if f.Version != FileVersion {
		return nil, fmt.Errorf("version %d, this hookgate reads version %d", f.Version, FileVersion)
	}
	if f.Scheme != Scheme {
		return nil, fmt.Errorf("unknown hash scheme %q", f.Scheme)
	}
	if len(f.Projects) > 0 && (len(f.Salt) < auth.MinSaltSize || len(f.Salt) > auth.MaxSaltSize) {
		return nil, fmt.Errorf("salt must be %d to %d bytes", auth.MinSaltSize, auth.MaxSaltSize)
	}
	seen := map[[2]string]bool{} // instance, path
	for i, p := range f.Projects {
		if p == nil || p.Project == "" {
			return nil, fmt.Errorf("project %d: no project path", i+1)
		}
		key := [2]string{strings.ToLower(strings.TrimRight(p.Instance, "/")), strings.ToLower(p.Project)}
		if seen[key] {
			return nil, fmt.Errorf("project %q listed twice for instance %q", p.Project, p.Instance)
		}
		seen[key] = true
		for j, s := range p.Secrets {
			if len(s.Hash) != sha256.Size {
				return nil, fmt.Errorf("project %q, secret %d: hash must be %d bytes", p.Project, j+1, sha256.Size)
			}
		}
	}
	return &f, nil
}

// Find returns the enrolled project whose path is project
// (case-insensitively), or nil.
func (f *File) Find(project string) *Project {
	for _, p := range f.Projects {
		if strings.EqualFold(p.Project, project) {
			return p
		}
	}
	return nil
}

// Enrolled returns the file's projects ready for auth.Verifier.WithEnrolled,
// or nil when there are none. Expired secrets are left for Verify to skip.
func (f *File) Enrolled() (*auth.Enrolled, error) {
	if len(f.Projects) == 0 {
		return nil, nil
	}
	ps := make([]auth.EnrolledProject, 0, len(f.Projects))
	for _, p := range f.Projects {
		ep := auth.EnrolledProject{Instance: p.Instance, Project: p.Project, ProjectID: p.ProjectID}
		if p.FallbackUntil != nil {
			ep.FallbackUntil = *p.FallbackUntil
		}
		for _, s := range p.Secrets {
			es := auth.EnrolledSecret{Hash: [sha256.Size]byte(s.Hash)}
			if s.NotAfter != nil {
				es.NotAfter = *s.NotAfter
			}
			ep.Secrets = append(ep.Secrets, es)
		}
		ps = append(ps, ep)
	}
	return auth.NewEnrolled(f.Salt, ps)
}

// prune drops secrets and fallbacks that ended at or before now. A project
// keeps its entry when its last secret expires, so it stays closed rather
// than falling back to the [[secret]] blocks.
func (f *File) prune(now time.Time) {
	for _, p := range f.Projects {
		p.Secrets = slices.DeleteFunc(p.Secrets, func(s Secret) bool {
			return s.NotAfter != nil && !now.Before(*s.NotAfter)
		})
		if p.FallbackUntil != nil && !now.Before(*p.FallbackUntil) {
			p.FallbackUntil = nil
		}
	}
	slices.SortFunc(f.Projects, func(a, b *Project) int {
		return strings.Compare(strings.ToLower(a.Project), strings.ToLower(b.Project))
	})
}

// Update changes the file at path under an exclusive lock (so concurrent
// enroll and rotate runs, from any host sharing the file, do not lose each
// other's changes): it reads the file, gives it a salt if it has none, calls
// change, prunes what expired by now and writes the result atomically
// (mode 0600, temp file + rename). If change fails nothing is written.
func Update(path string, now time.Time, change func(*File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("enrolled secrets: %w", err)
	}
	unlock, err := lock(path + ".lock")
	if err != nil {
		return fmt.Errorf("enrolled secrets: lock %s: %w", path, err)
	}
	defer unlock()
	f, err := Read(path)
	if err != nil {
		return err
	}
	if len(f.Salt) == 0 {
		f.Salt = make([]byte, saltSize)
		if _, err := rand.Read(f.Salt); err != nil {
			return fmt.Errorf("enrolled secrets: salt: %w", err)
		}
	}
	if err := change(f); err != nil {
		return err
	}
	f.prune(now)
	f.UpdatedAt = now.UTC()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("enrolled secrets: %w", err)
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("enrolled secrets %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with data: readers see the old file or the new
// one, never a mix, and a crash leaves one of the two.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable where the OS allows it
		d.Close()
	}
	return nil
}
