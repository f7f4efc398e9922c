package local

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	bolt "go.etcd.io/bbolt"
)

// The idempotency keys of the dedupe window live in bbolt's dedupe_at
// bucket, ordered by time (seenAt(8) + key -> delivery id): cheap to
// append to and to prune from the front. Finding a key there needs an
// index by key, and a B+tree keyed by GitLab's random UUIDs is the wrong
// one: every new key lands on its own leaf, so each delivery rewrites a
// 4 KiB page of it (it cost a third of ingest). The key index is a Pebble
// database (an LSM tree, made for random inserts) beside the store file,
// <file>.keys, mapping each key to the seenAt of its dedupe_at entry.
//
// bbolt stays the authority. An index entry counts only when the dedupe_at
// entry it points to exists (lookups confirm it in the same bbolt
// transaction), so the index may hold entries bbolt lacks (written before
// a bbolt commit that then failed or never came) but must not miss any
// live entry: index writes go to Pebble before the bbolt commit that adds
// the entries. A store file and its index carry the same random stamp
// (meta/keys_index in bbolt, keyStampKey in Pebble); when they differ (a
// restored or copied store file, a lost or foreign index directory, an
// upgrade from format 2) Open rebuilds the index from dedupe_at.
//
// Index writes are not synced: a synced Pebble write per bbolt commit held
// every claim's commit up for one more fdatasync, and the workers fell
// behind the receiver. Instead Open gives the store file a new stamp
// once the index matches it, and only a clean Close writes that stamp to
// the index, synced after every write before it. After a crash (the
// process's or the machine's) the stamps differ, so the next Open
// rebuilds the index from dedupe_at (0.7 s per million keys) rather than
// trust an index that may have lost its last writes.
const keyIndexSuffix = ".keys"

var (
	keyStampMeta = []byte("keys_index") // in bbolt's meta bucket
	keyStampKey  = []byte("s")          // in Pebble; idempotency keys are stored under "k" + key
)

const keyPrefix = 'k'

// keyIndexCache is the key index's block cache, in bytes.
const keyIndexCache = 4 << 20

// keyIndex is the Pebble side of the dedupe index.
type keyIndex struct {
	db     *pebble.DB
	dir    string
	log    *slog.Logger
	filter *keyFilter // every key the index may hold (keyfilter.go)
	// stamp is the store file's stamp since Open, written to the index
	// by a clean close.
	stamp []byte

	// writeMu is held by write from the filter's adds to the commit, so
	// that refreshFilter can take a snapshot holding every key added.
	writeMu sync.Mutex
	// deleted counts the keys dropped since the filter was made.
	deleted    atomic.Int64
	refreshing atomic.Bool
	refreshed  sync.WaitGroup
	stop       chan struct{} // closed by close: a refresh gives up
	stopOnce   sync.Once
	// afterSnapshot, when set (tests), runs once the refresh has its
	// snapshot of the index, before it reads it.
	afterSnapshot func()
}

// keyEntry is an index entry: the dedupe_at entry of a key. A zero at
// with del set is a deletion.
type keyEntry struct {
	at  uint64
	del bool
}

func openKeyIndex(dir string, log *slog.Logger) (*keyIndex, error) {
	opts := &pebble.Options{
		Logger: pebbleLogger{log},
		// Before the key filter, lookups of new keys read blocks from the
		// files: 13 us a lookup at 15k deliveries/s with Pebble's default
		// 8 MiB cache, 5.5 with 32 MiB. The filter answers nearly every
		// lookup now; 4 MiB kept ingest as fast as 16 and took about 12
		// MiB less resident memory over 10 minutes (docs/performance.md).
		CacheSize: keyIndexCache,
		// Lookups are mostly of keys never seen: bloom filters answer
		// those without reading a block.
		Levels: [7]pebble.LevelOptions{{FilterPolicy: bloom.FilterPolicy(10)}},
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open key index %s: %w", dir, err)
	}
	return &keyIndex{db: db, dir: dir, log: log, stop: make(chan struct{})}, nil
}

func indexKey(key []byte) []byte {
	return append([]byte{keyPrefix}, key...)
}

// get returns the seenAt the index holds for key, unconfirmed.
func (x *keyIndex) get(key []byte) (uint64, bool, error) {
	if !x.filter.mayHold(key) {
		return 0, false, nil
	}
	v, closer, err := x.db.Get(indexKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("key index: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, nil // not written by this code: treat as absent
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// lookup finds key's dedupe_at entry: its seenAt and delivery id, confirmed
// in tx (see the comment at the top); ok is false when there is none.
func (x *keyIndex) lookup(tx *bolt.Tx, key []byte) (at uint64, id string, ok bool, err error) {
	return x.lookupLazy(func() (*bolt.Tx, error) { return tx, nil }, key)
}

// lookupLazy is lookup in the transaction begin returns, called only when
// the index holds key (nearly never for a new key: see keyFilter).
func (x *keyIndex) lookupLazy(begin func() (*bolt.Tx, error), key []byte) (uint64, string, bool, error) {
	at, ok, err := x.get(key)
	if !ok || err != nil {
		return 0, "", false, err
	}
	tx, err := begin()
	if err != nil {
		return 0, "", false, err
	}
	return confirmKey(tx, key, at)
}

// confirmKey looks up the dedupe_at entry of key at seenAt at.
func confirmKey(tx *bolt.Tx, key []byte, at uint64) (uint64, string, bool, error) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], at)
	v := tx.Bucket(bucketDedupeAt).Get(append(k[:], key...))
	if v == nil {
		return 0, "", false, nil
	}
	return at, string(v), true, nil
}

// write applies entries with one Pebble batch, not synced (see above).
func (x *keyIndex) write(entries map[string]keyEntry) error {
	if len(entries) == 0 {
		return nil
	}
	b := x.db.NewBatch()
	defer b.Close()
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	var v [8]byte
	deleted := int64(0)
	for k, e := range entries {
		var err error
		if e.del {
			err = b.Delete(indexKey([]byte(k)), nil)
			deleted++
		} else {
			x.filter.add([]byte(k)) // before the write: see keyFilter
			binary.BigEndian.PutUint64(v[:], e.at)
			err = b.Set(indexKey([]byte(k)), v[:], nil)
		}
		if err != nil {
			return fmt.Errorf("key index: %w", err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("key index: %w", err)
	}
	if deleted > 0 {
		x.dropped(deleted)
	}
	return nil
}

// dropped counts n keys deleted from the index, and starts rebuilding the
// filter once at least refreshAfter of its keys, and half, are gone.
func (x *keyIndex) dropped(n int64) {
	d := x.deleted.Add(n)
	if d < refreshAfter || uint(d) < x.filter.keys()/2 || !x.refreshing.CompareAndSwap(false, true) {
		return
	}
	x.refreshed.Add(1)
	go func() {
		defer x.refreshed.Done()
		defer x.refreshing.Store(false)
		x.refreshFilter()
	}()
}

// refreshAfter is the fewest dropped keys that make the key filter worth
// rebuilding (it must also have lost half its keys).
const refreshAfter = keyFilterFirst

// refreshFilter replaces x's filter by one built from the keys the index
// holds now, dropping those it no longer does. Keys added while it reads
// go to both filters; keys written before it starts are in its snapshot
// (writeMu). It gives up, keeping the old filter, when x closes.
func (x *keyIndex) refreshFilter() {
	old, before := x.filter.keys(), x.filter.bytes()
	held := uint(max(int64(old)-x.deleted.Load(), 0))
	next := newKeyFilter(held)
	x.filter.setNext(next)
	x.writeMu.Lock()
	snap := x.db.NewSnapshot()
	dropped := x.deleted.Load()
	x.writeMu.Unlock()
	defer snap.Close()
	if x.afterSnapshot != nil {
		x.afterSnapshot()
	}
	n := 0
	err := eachKey(snap, func(k []byte) error {
		if n++; n%4096 == 0 && x.stopping() {
			return errStopped
		}
		next.add(k)
		return nil
	})
	if err != nil {
		x.filter.setNext(nil)
		if !errors.Is(err, errStopped) {
			x.log.Warn("key filter: could not rebuild it from the key index; keeping the old one", "err", err)
		}
		return
	}
	x.filter.replace(next)
	x.deleted.Add(-dropped)
	x.log.Info("key filter rebuilt without the keys the dedupe window dropped",
		"keys_before", old, "keys", n, "bytes_before", before, "bytes", x.filter.bytes())
}

// closeClean marks the index as holding every write of this Open (the
// store file's stamp, synced with all before it) and closes it. Call it
// once nothing writes to the index any more.
func (x *keyIndex) closeClean() error {
	x.stopRefresh()
	if err := x.db.Set(keyStampKey, x.stamp, pebble.Sync); err != nil {
		_ = x.db.Close()
		return fmt.Errorf("close key index: %w", err)
	}
	return x.close()
}

func (x *keyIndex) close() error {
	x.stopRefresh()
	if err := x.db.Close(); err != nil {
		return fmt.Errorf("close key index: %w", err)
	}
	return nil
}

// stopping reports whether x is closing.
func (x *keyIndex) stopping() bool {
	select {
	case <-x.stop:
		return true
	default:
		return false
	}
}

// stopRefresh makes a running refreshFilter give up and waits for it.
func (x *keyIndex) stopRefresh() {
	x.stopOnce.Do(func() { close(x.stop) })
	x.refreshed.Wait()
}

// newKeyStamp is a random stamp tying a store file to its key index.
func newKeyStamp() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// syncKeyIndex opens the key index of the store file at path, rebuilds
// it from dedupe_at when its stamp is not the store's, then gives the
// store file a new stamp, which the index gets at a clean close only.
func (s *Store) syncKeyIndex(path string) (*keyIndex, error) {
	x, err := s.openKeyIndex(path)
	if err != nil {
		return nil, err
	}
	x.stamp = newKeyStamp()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyStampMeta, x.stamp)
	}); err != nil {
		_ = x.close()
		return nil, fmt.Errorf("key index: new stamp: %w", err)
	}
	return x, nil
}

// openKeyIndex opens the key index of the store file at path and
// rebuilds it from dedupe_at when its stamp is not the store's.
func (s *Store) openKeyIndex(path string) (*keyIndex, error) {
	dir := path + keyIndexSuffix
	x, err := openKeyIndex(dir, s.log)
	if err != nil {
		return nil, err
	}
	var stamp []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		stamp = bytes.Clone(tx.Bucket(bucketMeta).Get(keyStampMeta))
		return nil
	}); err != nil {
		_ = x.close()
		return nil, err
	}
	have, closer, err := x.db.Get(keyStampKey)
	if err == nil {
		same := bytes.Equal(have, stamp)
		_ = closer.Close()
		if same {
			return withFilter(x)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		_ = x.close()
		return nil, fmt.Errorf("key index: %w", err)
	}
	// Rebuild from scratch: a fresh directory, every dedupe_at entry (in
	// time order, so the latest entry of a key wins), the stamp last.
	if err := x.close(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("rebuild key index: %w", err)
	}
	if x, err = openKeyIndex(dir, s.log); err != nil {
		return nil, err
	}
	n, err := x.rebuild(s.db, stamp)
	if err != nil {
		_ = x.close()
		return nil, fmt.Errorf("rebuild key index %s: %w", dir, err)
	}
	if n > 0 {
		s.log.Info("key index rebuilt from the store file", "dir", dir, "keys", n)
	}
	return withFilter(x)
}

// loadFilter makes x's filter from every key the index holds (two passes:
// the count sizes the filter, so no copy of the keys is kept meanwhile).
func (x *keyIndex) loadFilter() error {
	n := uint(0)
	if err := eachKey(x.db, func([]byte) error { n++; return nil }); err != nil {
		return err
	}
	f := newKeyFilter(n)
	if err := eachKey(x.db, func(k []byte) error { f.add(k); return nil }); err != nil {
		return err
	}
	x.filter = f
	return nil
}

// eachKey calls fn with every idempotency key r (the index, or a
// snapshot of it) holds, until fn returns an error; fn must not keep the
// slice.
func eachKey(r pebble.Reader, fn func(key []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefix}, UpperBound: []byte{keyPrefix + 1}})
	if err != nil {
		return fmt.Errorf("key index: %w", err)
	}
	for ok := it.First(); ok && err == nil; ok = it.Next() {
		err = fn(it.Key()[1:])
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("key index: %w", cerr)
	}
	return err
}

// withFilter loads x's filter, closing x if that fails.
func withFilter(x *keyIndex) (*keyIndex, error) {
	if err := x.loadFilter(); err != nil {
		_ = x.close()
		return nil, err
	}
	return x, nil
}

// rebuild writes an entry for every dedupe_at entry of db, then stamp.
func (x *keyIndex) rebuild(db *bolt.DB, stamp []byte) (int, error) {
	n := 0
	b := x.db.NewBatch()
	err := db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDedupeAt).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 8 || len(v) == 0 {
				continue
			}
			if err := b.Set(indexKey(k[8:]), k[:8], nil); err != nil {
				return err
			}
			n++
			if b.Len() > 4<<20 {
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
				_ = b.Close()
				b = x.db.NewBatch()
			}
		}
		return nil
	})
	defer func() { _ = b.Close() }()
	if err != nil {
		return 0, err
	}
	if err := b.Set(keyStampKey, stamp, nil); err != nil {
		return 0, err
	}
	return n, b.Commit(pebble.Sync)
}

// pebbleLogger sends Pebble's messages to the store's logger: its routine
// notes at debug level.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("key index: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("key index: " + fmt.Sprintf(format, args...))
}

// Fatalf is Pebble's report of a broken invariant; it expects no return.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "key index: " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}
