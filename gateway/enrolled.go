package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/enroll"
)

// enrolledVerifier is the receiver's Verifier: the configured [[secret]]
// blocks plus the projects in the enrolled-secrets file (written by
// `hookgate enroll` and `hookgate secret rotate`). When the file changes,
// a verifier built from it is swapped in whole; a file that does not
// parse keeps the last good one.
type enrolledVerifier struct {
	path string
	base *auth.Verifier
	cur  atomic.Pointer[auth.Verifier]
	log  *slog.Logger
	poll time.Duration // 0: enroll.DefaultPoll

	mu       sync.Mutex // one reload at a time
	projects int
}

// newEnrolledVerifier loads the file at path (absent: no enrolled projects)
// on top of base. A file that exists and does not parse is an error.
func newEnrolledVerifier(path string, base *auth.Verifier, log *slog.Logger) (*enrolledVerifier, error) {
	v := &enrolledVerifier{path: path, base: base, log: log}
	// The folder must exist for change events to be watched.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("enrolled secrets: %w", err)
	}
	if err := v.reload(); err != nil {
		return nil, err
	}
	if v.projects > 0 {
		log.Info("enrolled webhook secrets loaded", "file", path, "projects", v.projects)
	}
	return v, nil
}

// Verify checks a delivery against the current verifier.
func (v *enrolledVerifier) Verify(instance, projectPath string, h auth.Headers, rawBody []byte, now time.Time) (auth.Result, error) {
	return v.cur.Load().Verify(instance, projectPath, h, rawBody, now)
}

// NeedsProject reports whether the current verifier's secret choice
// depends on the project.
func (v *enrolledVerifier) NeedsProject() bool { return v.cur.Load().NeedsProject() }

// reload reads the file and swaps the verifier built from it in.
func (v *enrolledVerifier) reload() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, err := enroll.Read(v.path)
	if err != nil {
		return err
	}
	e, err := f.Enrolled()
	if err != nil {
		return fmt.Errorf("enrolled secrets %s: %w", v.path, err)
	}
	v.cur.Store(v.base.WithEnrolled(e))
	v.projects = len(f.Projects)
	return nil
}

// watch reloads the file whenever it changes, until ctx ends.
func (v *enrolledVerifier) watch(ctx context.Context) {
	err := enroll.Watch(ctx, v.path, v.poll, func() {
		if err := v.reload(); err != nil {
			v.log.Error("enrolled secrets not reloaded; keeping the last good set", "err", err)
			return
		}
		v.log.Info("enrolled webhook secrets reloaded", "file", v.path, "projects", v.projects)
	})
	if err != nil {
		v.log.Warn("enrolled secrets: no change events, polling the file", "err", err)
	}
	// A change between New and now raised no event: look once.
	if err := v.reload(); err != nil {
		v.log.Error("enrolled secrets not reloaded; keeping the last good set", "err", err)
	}
}
