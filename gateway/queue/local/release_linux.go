package local

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped drops this process's mappings of the store file's pages
// (madvise MADV_DONTNEED over bbolt's mmap). The mapping is shared and
// read-only, so no data changes: the pages stay in the page cache and the
// next read maps them again. It runs inside a read transaction, which holds
// off bbolt's remapping (a remap waits for every read transaction), so the
// address and length stay valid throughout.
func (s *Store) releaseMapped() error {
	return s.db.View(func(tx *bolt.Tx) error {
		addr, size := s.db.Info().Data, uintptr(tx.Size())
		if size == 0 {
			return nil
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, size, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("local: release mapped pages: %w", errno)
		}
		return nil
	})
}
