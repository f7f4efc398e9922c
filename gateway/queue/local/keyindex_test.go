package local

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
	"github.com/hookgate/hookgate/internal/testproc"
)

// keyIndexLen counts the idempotency keys in s's key index.
func keyIndexLen(t *testing.T, s *Store) int {
	t.Helper()
	it, err := s.keys.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefix}, UpperBound: []byte{keyPrefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n
}

// keyed is a delivery with idempotency key key.
func keyed(key string) *queue.Delivery {
	d := delivery("note")
	d.Key = key
	return d
}

// mustDuplicate asserts that enqueueing key again is answered as a
// duplicate of first.
func mustDuplicate(t *testing.T, s *Store, key, first string) {
	t.Helper()
	rc, err := s.Enqueue(ctx(t), keyed(key))
	if err != nil {
		t.Fatalf("enqueue %s again: %v", key, err)
	}
	if !rc.Duplicate || rc.ID != first {
		t.Errorf("key %s again: receipt %+v, want a duplicate of %s", key, rc, first)
	}
}

// A store file that lost its key index (a restored backup, a copy, a
// deleted directory) gets it rebuilt at Open: every key still dedupes.
func TestKeyIndexRebuiltFromTheStoreFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	s := open(t, path, Options{})
	ids := map[string]string{}
	for i := range 50 {
		key := uuid.NewString()
		ids[key] = mustEnqueue(t, s, keyed(key))
		if i%10 == 0 {
			settled(t, s) // some in bbolt, some only in the ingest log
		}
	}
	settled(t, s)
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "restored.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	_ = sn.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(path + keyIndexSuffix); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{path, backup} {
		s := open(t, p, Options{})
		if n := keyIndexLen(t, s); n != len(ids) {
			t.Errorf("%s: key index holds %d keys, want %d", filepath.Base(p), n, len(ids))
		}
		for key, id := range ids {
			mustDuplicate(t, s, key, id)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// An index entry whose dedupe_at entry does not exist (written before a
// bbolt commit that never came) does not make a new delivery a duplicate.
func TestKeyIndexEntryIsConfirmedInTheStore(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{NoWAL: noWAL})
		ghost := uuid.NewString()
		if err := s.keys.write(map[string]keyEntry{ghost: {at: nanos(time.Now())}}); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Enqueue(ctx(t), keyed(ghost))
		if err != nil || rc.Duplicate {
			t.Fatalf("noWAL %v: enqueue with an unconfirmed key: %+v, %v", noWAL, rc, err)
		}
		mustDuplicate(t, s, ghost, rc.ID)
		settled(t, s)
		mustDuplicate(t, s, ghost, rc.ID)
	}
}

// Format 2 kept keys in a dedupe bucket; Open moves them into dedupe_at and
// the key index, and they keep deduplicating.
func TestOpenUpgradesVersion2Keys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	key := uuid.NewString()
	id := mustEnqueue(t, s, keyed(key))
	settled(t, s)
	// Rewrite the file as format 2 wrote it.
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDedupeAt).Cursor()
		k, _ := c.First()
		if k == nil {
			return errors.New("no dedupe_at entry")
		}
		at := bytes.Clone(k[:8])
		if err := tx.Bucket(bucketDedupeAt).Put(bytes.Clone(k), nil); err != nil {
			return err
		}
		old, err := tx.CreateBucket(bucketDedupeV2)
		if err != nil {
			return err
		}
		if err := old.Put([]byte(key), append(at, id...)); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Delete(keyStampMeta); err != nil {
			return err
		}
		return meta.Put([]byte("version"), []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(path + keyIndexSuffix); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{})
	mustDuplicate(t, s, key, id)
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDedupeV2) != nil {
			t.Error("format 2's dedupe bucket is still there")
		}
		if v := string(tx.Bucket(bucketMeta).Get([]byte("version"))); v != formatVersion {
			t.Errorf("version %q, want %q", v, formatVersion)
		}
		return nil
	})
}

// A key seen again after the window is stored afresh: its old dedupe_at
// entry goes, the index points at the new one, and a sweep of the old
// one leaves the new one findable.
func TestExpiredKeyIsReplacedInTheIndex(t *testing.T) {
	clock := queuetest.NewClock(time.Unix(1_700_000_000, 0))
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{Now: clock.Now, Policy: queue.Policy{DedupeWindow: time.Hour}})
	key := uuid.NewString()
	first := mustEnqueue(t, s, keyed(key))
	settled(t, s)
	clock.Advance(2 * time.Hour)
	second := mustEnqueue(t, s, keyed(key))
	if second == first {
		t.Fatal("an expired key was answered as a duplicate")
	}
	settled(t, s)
	if _, err := s.Sweep(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mustDuplicate(t, s, key, second)
	if n := keyIndexLen(t, s); n != 1 {
		t.Errorf("key index holds %d keys, want 1", n)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketDedupeAt).Stats().KeyN; n != 1 {
			t.Errorf("dedupe_at holds %d entries, want 1", n)
		}
		return nil
	})
}

// The key index is written without fsync, so a store that was not closed
// cleanly (the process died) gets its index rebuilt at the next Open, and
// every key still dedupes; a clean close keeps it. The child process
// stores keys both ways (claimed from the log, moved by a reader) and
// exits without closing.
func TestKeyIndexRebuiltAfterACrash(t *testing.T) {
	path := os.Getenv("HOOKGATE_TEST_CRASH_STORE")
	if path != "" { // the child: store, then die
		s, err := Open(path, Options{Policy: queue.Policy{SweepInterval: -1}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			if _, err := s.Enqueue(ctx(t), keyed(fmt.Sprint("crash-", i))); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			mustClaim(t, s)
		}
		settled(t, s)
		os.Exit(7)
	}
	path = filepath.Join(t.TempDir(), "q.db")
	cmd := testproc.Command(t, os.Args[0], "-test.run=^TestKeyIndexRebuiltAfterACrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOOKGATE_TEST_CRASH_STORE="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("child: %v\n%s", err, out)
	}

	var log bytes.Buffer
	opened := func() *Store {
		s, err := Open(path, Options{Policy: queue.Policy{SweepInterval: -1}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := opened()
	if !strings.Contains(log.String(), "key index rebuilt") {
		t.Errorf("no rebuild after the crash; log:\n%s", log.String())
	}
	for i := range 40 {
		rc, err := s.Enqueue(ctx(t), keyed(fmt.Sprint("crash-", i)))
		if err != nil || !rc.Duplicate {
			t.Errorf("crash-%d after the crash: %+v, %v; want a duplicate", i, rc, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	s = opened()
	defer s.Close()
	if strings.Contains(log.String(), "key index rebuilt") {
		t.Errorf("rebuilt after a clean close; log:\n%s", log.String())
	}
	if rc, err := s.Enqueue(ctx(t), keyed("crash-3")); err != nil || !rc.Duplicate {
		t.Errorf("crash-3 after a clean close: %+v, %v", rc, err)
	}
}
