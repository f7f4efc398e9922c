package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// A cold backup (docs/operations.md) copies the store file alone after a
// clean stop: Close stores the deliveries no worker took yet in it, so
// the copy holds every acknowledged delivery.
func TestCleanCloseLeavesEverythingInTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	s, err := Open(path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	id := mustEnqueue(t, s, delivery("note"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The documented cold backup: the store file alone.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "q.db")
	if err := os.WriteFile(restored, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, restored, Options{})
	if _, err := s.Get(ctx(t), id); err != nil {
		t.Errorf("delivery acknowledged before a clean stop, restored from a cold backup of the store file: %v", err)
	}
}

// A version 3 store file (the log in two files, a synced key index) is
// upgraded to version 4 at Open, its logged deliveries and keys kept; an
// unknown version is refused.
func TestOpenUpgradesVersion3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion := func(v string) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("version"), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	setVersion(formatVersionV3)
	logged := crashedLog(t, path, Options{}, func(*Store) {}, []string{"v3-a", "v3-b"})
	setVersion(formatVersionV3) // crashedLog opened it once more
	s = open(t, path, Options{})
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get([]byte("version"))); v != formatVersion {
			t.Errorf("version %q after Open, want %q", v, formatVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range logged {
		if d := mustGet(t, s, id); d.Status != queue.StatusQueued {
			t.Errorf("%s: %s", id, d.Status)
		}
	}
	mustDuplicate(t, s, "v3-a", logged[0])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion("99")
	if _, err := Open(path, Options{Logger: testLogger(t)}); err == nil || !strings.Contains(err.Error(), "unsupported store format") {
		t.Errorf("open of format 99 = %v, want unsupported", err)
	}
}
