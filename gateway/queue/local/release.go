package local

import (
	"time"
)

// DefaultReleaseInterval is how often, by default, the store gives back the
// pages of its file that the process mapped (see Options.ReleaseInterval).
const DefaultReleaseInterval = time.Second

// runReleaser gives back the store file's mapped pages every interval in
// which something was committed: bbolt reads through a shared read-only
// mmap, and every page a transaction touches (with the kernel's
// fault-around, its neighbours too) stays in the process's resident set
// until bbolt remaps the file. Under sustained ingest that counts most of
// what was written since the last remap, hundreds of MiB after a minute,
// all of it page cache the kernel can reclaim anyway. Dropping the
// mappings keeps the resident set to the Go heap and the pages in use;
// the next access to a page maps it again from the page cache.
func (s *Store) runReleaser(interval time.Duration) {
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
		if c := s.commits.Load(); c != seen {
			seen = c
			if err := s.releaseMapped(); err != nil {
				s.log.Warn("could not release the store file's mapped pages", "err", err)
			}
		}
	}
}
