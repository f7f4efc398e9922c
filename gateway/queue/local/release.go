package local

import (
	"time"
)

// Defaults of Options.ReleaseInterval and Options.ReleaseAbove.
const (
	DefaultReleaseInterval = 50 * time.Millisecond
	DefaultReleaseAbove    = 48 << 20
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
// Every interval, when something was committed since the last check
// and the process's resident file-backed memory is above the limit, it
// drops the store file's mappings (releaseMapped); the next access to a
// page maps it again from the page cache. Checking costs a read of
// /proc/self/statm; a release, a few milliseconds. While releases keep
// finding more than twice the limit mapped (a retention sweep, workers
// draining a backlog spread over the file), it checks up to 8 times as
// often, and slows down again once they do not.
func (s *Store) runReleaser(interval time.Duration, above int64) {
	defer s.janitor.Done()
	wait := interval
	t := time.NewTimer(wait)
	defer t.Stop()
	var seen uint64 // commits at the last check
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		c := s.commits.Load()
		if c == seen { // idle: not even statm is read
			wait = interval
			t.Reset(wait)
			continue
		}
		seen = c
		n := s.releaseAbove(above)
		switch {
		case n > 2*above:
			wait = max(wait/2, interval/8)
		case n <= above:
			wait = min(wait*2, interval)
		}
		t.Reset(wait)
	}
}

// releaseAbove releases the store file's mapped pages when the process's
// resident file-backed memory is above limit. It returns that memory as
// read before the release (0 when unknown: not Linux).
func (s *Store) releaseAbove(limit int64) int64 {
	n, err := residentFileBytes()
	if err != nil || n <= limit {
		return 0
	}
	if err := s.releaseMapped(); err != nil {
		s.log.Warn("could not release the store file's mapped pages", "err", err)
	}
	return n
}
