package local

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

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

// residentFileBytes is the process's resident memory backed by files
// (the "shared" field of /proc/self/statm: mapped file pages, the
// executable's included).
func residentFileBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, fmt.Errorf("local: /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("local: /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
