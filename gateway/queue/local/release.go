package local

import (
	"time"
)

// Defaults of Options.ReleaseInterval and Options.ReleaseAbove.
const (
	DefaultReleaseInterval = 100 * time.Millisecond
	DefaultReleaseAbove    = 64 << 20
)

// runReleaser keeps the process's resident set from filling with the
// store file's pages. bbolt reads through a shared read-only mmap, and
// every page a transaction touches stays mapped in the process until
// bbolt remaps the file; the kernel's fault-around maps the 15 pages
// around each one too. Once retention frees pages all over the file and
// new writes reuse them, each delivery stored and processed touches a few
// scattered pages: under sustained load that maps most of the file
// within a second or two, hundreds of MiB of page cache counted as the
// gateway's memory although the kernel can reclaim it any time.
//
// Every interval, when something was committed since the last release
// and the process's resident file-backed memory is above the limit, it
// drops the store file's mappings (releaseMapped); the next access to a
// page maps it again from the page cache. Checking costs a read of
// /proc/self/statm; a release, a few milliseconds.
func (s *Store) runReleaser(interval time.Duration, above int64) {
	defer s.janitor.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		c := s.commits.Load()
		if c == seen {
			continue
		}
		if n, err := residentFileBytes(); err != nil || n <= above {
			continue // unknown (not Linux) or within bounds
		}
		seen = c
		if err := s.releaseMapped(); err != nil {
			s.log.Warn("could not release the store file's mapped pages", "err", err)
		}
	}
}
