// Package local owns hookgate's embedded queue backend: one bbolt file that
// holds the queue, the delivery log, the deduplication keys and the Lua
// plugins' key-value store; in front of it, for ingest, an append-only log
// of segment files (the file's name plus ".wal.N"); and beside it the key
// index (the file's name plus ".keys", a Pebble directory) that finds
// idempotency keys by key, rebuilt from the file whenever it is missing,
// not the file's, or was not closed cleanly (keyindex.go).
//
// # Ingest
//
// Enqueue is answered once the delivery is in the ingest log: a single log
// writer goroutine takes every enqueue waiting, decides which are new
// (deduplication is exact: the keys of deliveries still only in the log
// are kept in memory, the key index finds the rest), appends those with
// one write and one fdatasync, and answers them all. The log is the queue:
// a delivery is written to bbolt once, when a worker claims it (stored
// already running, in the claim's transaction), so an event costs one
// bbolt write on its way in instead of two. The in-memory queue of logged
// deliveries (logged.go) holds 32 bytes and a key-hash entry each; Claim
// takes its first entry when it became ready before the first delivery
// of bbolt's ready index (retries, replays, deliveries stored ahead), and
// every transaction that takes entries records the log position after
// them, so Open knows where to resume. The mover stores logged
// deliveries in bbolt ahead of the workers only when more than 1 GiB or
// 500,000 of them are waiting (enqueues wait a quarter past that), and
// for readers: Get of a logged delivery, List and backups (Snapshot) wait
// for the deliveries acknowledged before them to be moved.
//
// The log's segments (wal.go) are reused once every record of theirs is
// in bbolt, and new ones are zero-filled ahead of need (segments.go), so
// the log writes over allocated blocks, which fdatasync flushes without
// a journal commit: about half the time and CPU of an append that grows
// a file on ext4. Open stores whatever the log holds past the applied
// position before serving, stopping at a torn or foreign record (each has
// a CRC). Options.NoWAL goes back to committing each enqueue in bbolt:
// two fdatasyncs and rewritten B+tree pages per commit, about half the
// ingest throughput.
//
// # Writes
//
// Every write to bbolt (Enqueue with NoWAL, Claim, Finish, Requeue, Ping,
// KVPut, KVDelete, the mover's moves and the janitor's deletions) is an
// operation handed to a single writer goroutine. The writer takes every operation waiting at that moment (at
// most maxBatch), applies them in order inside ONE bbolt transaction,
// commits it (data and meta page fsynced: bbolt's NoSync stays false) and
// only then answers each caller. Concurrent deliveries thus share one fsync
// (group commit) without ever waiting for a timer to fill a batch. An
// operation refusing its input (unknown id, wrong status, duplicate id) does
// not touch the transaction, so its refusal does not affect the others; an
// operation failing half-way makes the writer roll the batch back and run
// each operation of it in its own transaction. A batch that wrote nothing
// (claims finding nothing ready, duplicate enqueues) is rolled back rather
// than committed, so it costs no fsync.
//
// Reads (Get, List, KVGet) run in bbolt read transactions, concurrently with
// the writer.
//
// # Crash recovery
//
// Claim stores the delivery as running with Attempts incremented before it
// returns. When the process dies during a run, the delivery is still running
// in the file: Open puts every running delivery back in the queue, where it
// keeps its unfinished attempt (Attempts-Finished grows by one per crash).
// When Claim meets a delivery whose unfinished attempts reached
// Options.QuarantineAfter, it marks it dead ("quarantined: N runs did not
// finish") instead of handing it out, so an event that kills the process
// cannot crash-loop the gateway. Requeue brings it back: it keeps Attempts
// as history but sets Finished to Attempts, so the replay gets a fresh
// quarantine budget.
//
// # Memory
//
// bbolt reads the file through a shared read-only mmap, and what it
// touches stays mapped into the process. The store gives those pages
// back when the process's file-backed resident memory passes
// Options.ReleaseAbove (release.go), and Backlog reads counts the writer
// keeps instead of walking an index, so neither a long run nor a large
// backlog grows the resident set. The logged queue costs 50-70 bytes a
// delivery (16-35 MiB at its 500,000 bound) and holds no pointer, so the
// garbage collector never walks it; the log itself is read with pread,
// never mapped.
//
// # Layout
//
// A delivery is a record (state, outcomes; rewritten on each change) and an
// envelope (written once). Indexes: ready (queued deliveries by ready time,
// then id), status (status, id), final (final deliveries by last change, for
// retention) and dedupe_at (time and key -> delivery id; the key index
// finds a key's entry). The meta bucket also holds the ingest log position
// up to which records are in bbolt, and the key index stamp.
package local

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Defaults of Options: the zero fields of its Policy take these.
const (
	DefaultDedupeWindow    = 7 * 24 * time.Hour
	DefaultQuarantineAfter = 3
	DefaultRetainFor       = 30 * 24 * time.Hour
	DefaultRetainCount     = 100000
	DefaultSweepInterval   = time.Minute
)

// defaultPolicy holds the values the zero fields of Options.Policy take.
var defaultPolicy = queue.Policy{
	DedupeWindow: DefaultDedupeWindow, QuarantineAfter: DefaultQuarantineAfter,
	RetainFor: DefaultRetainFor, RetainCount: DefaultRetainCount, SweepInterval: DefaultSweepInterval,
}

// DefaultFileName is the file Open uses when given a directory.
const DefaultFileName = "hookgate.db"

// Options tune a Store. The zero value gives the documented defaults.
type Options struct {
	// Policy sets deduplication, quarantine, retention and the janitor.
	// Its zero fields mean DefaultDedupeWindow (7 days),
	// DefaultQuarantineAfter (3), DefaultRetainFor (30 days),
	// DefaultRetainCount (100000) and DefaultSweepInterval (1 minute);
	// negative ones turn the feature off (with no janitor, call Sweep
	// yourself).
	queue.Policy
	// ReleaseInterval is how often the store checks the process's
	// resident file-backed memory, and ReleaseAbove the size above which
	// it gives back the pages of its file the process mapped while
	// reading it, when something was committed since the last time
	// (Linux; see runReleaser). 0 means DefaultReleaseInterval (50 ms)
	// and DefaultReleaseAbove (48 MiB); a negative interval never
	// releases them.
	ReleaseInterval time.Duration
	ReleaseAbove    int64
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
	// Logger receives recovery, quarantine and janitor messages; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnQuarantine, when set, is called with the id of each delivery Claim
	// marked dead for having killed the process too often, once that is
	// durable (e.g. to count dead letters in metrics). It must be quick.
	OnQuarantine func(id string)
	// KVQuota bounds each namespace of the plugins' key-value store; its
	// zero fields mean queue.DefaultKVMaxKeys and DefaultKVMaxBytes,
	// negative ones no limit.
	KVQuota queue.KVQuota
	// NoWAL turns the ingest log off: each Enqueue is then committed in a
	// bbolt transaction (group-committed with the other writes) before it
	// returns. About half the ingest throughput; for comparison and tests.
	NoWAL bool
}

func (o Options) withDefaults() Options {
	o.Policy = o.Policy.WithDefaults(defaultPolicy)
	o.KVQuota = o.KVQuota.WithDefaults()
	if o.ReleaseInterval == 0 {
		o.ReleaseInterval = DefaultReleaseInterval
	}
	if o.ReleaseAbove <= 0 {
		o.ReleaseAbove = DefaultReleaseAbove
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is the embedded queue backend. It is safe for concurrent use. Only
// one Store (one process) can have a file open at a time.
type Store struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	// mu guards closed against submissions and reads: they hold it shared
	// while handing an operation to the writer or reading, Close takes it
	// exclusively to flip closed.
	mu     sync.RWMutex
	closed bool
	done   chan struct{} // closed by Close: wakes claimers, stops the janitor

	ops        chan op
	keys       *keyIndex // finds idempotency keys in dedupe_at
	wal        *wal      // the ingest log; nil with NoWAL
	in         *ingest   // its shared state; nil with NoWAL
	writerDone chan struct{}
	janitor    sync.WaitGroup // the janitor and the releaser
	sweepChunk int            // deletions per sweep transaction; sweepChunk, lowered by tests

	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced when something became ready

	commits   atomic.Uint64
	committed atomic.Uint64

	// queued and running count the deliveries in bbolt with those
	// statuses (the status index's entries), and finals the final ones
	// (the final index's entries), as committed: counted at Open, kept by
	// the writer. Backlog and retention read them instead of walking the
	// indexes.
	queued, running, finals atomic.Int64
	// commitMu is held by the writer from a commit until the counts
	// above include it, and by view while it begins a transaction.
	commitMu sync.Mutex
	// kvUsage is the usage of each key-value namespace written since
	// Open, as committed; only the writer touches it (kv.go).
	kvUsage map[string]queue.KVUsage
}

var _ queue.Backend = (*Store)(nil)

// Stats are counters of the writer since Open.
type Stats struct {
	// Commits is the number of committed (fsynced) write transactions.
	Commits uint64
	// Ops is the number of operations they carried; Ops/Commits is the
	// mean group-commit batch size.
	Ops uint64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Ops: s.committed.Load()}
}

// Open opens (creating if needed) the store at path, a file, or a directory
// in which DefaultFileName is used. Missing parent directories are created
// (mode 0700), the file is created with mode 0600. Deliveries left running
// by a previous process are put back in the queue (see the package doc).
// Open fails after one second if another process holds the file.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("local: open: empty path")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, DefaultFileName)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("local: open %s: file is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	opts = opts.withDefaults()
	s := &Store{
		db:         db,
		opts:       opts,
		log:        opts.Logger.With("component", "queue", "backend", "local"),
		done:       make(chan struct{}),
		ops:        make(chan op, maxBatch),
		writerDone: make(chan struct{}),
		wake:       make(chan struct{}),
		sweepChunk: sweepChunk,
		kvUsage:    map[string]queue.KVUsage{},
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	if s.keys, err = s.syncKeyIndex(path); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	if opts.NoWAL {
		if err := s.replayLeftoverLog(path + walSuffix); err != nil {
			_ = s.keys.close()
			_ = db.Close()
			return nil, fmt.Errorf("local: open %s: %w", path, err)
		}
	} else {
		w, err := s.openWAL(path + walSuffix)
		if err != nil {
			_ = s.keys.close()
			_ = db.Close()
			return nil, fmt.Errorf("local: open %s: %w", path, err)
		}
		s.wal, s.in = w, newIngest(walPos{gen: w.last, off: walHeaderSize})
	}
	if err := s.countStatuses(); err != nil {
		if s.wal != nil {
			_ = s.wal.close()
		}
		_ = s.keys.close()
		_ = db.Close()
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	if s.wal != nil {
		go s.runWAL()
		go s.runMover()
		go s.runPreparer()
	}
	go s.runWriter()
	if opts.SweepInterval > 0 {
		s.janitor.Add(1)
		go s.runJanitor(opts.SweepInterval)
	}
	if opts.ReleaseInterval > 0 {
		s.janitor.Add(1)
		go s.runReleaser(opts.ReleaseInterval, opts.ReleaseAbove)
	}
	return s, nil
}

// init creates the buckets, checks the format version and puts deliveries
// left running back in the queue.
func (s *Store) init() error {
	var requeued int
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("version")); {
		case v == nil:
			if err := meta.Put([]byte("version"), []byte(formatVersion)); err != nil {
				return fmt.Errorf("write version: %w", err)
			}
			if err := meta.Put(keyStampMeta, newKeyStamp()); err != nil {
				return fmt.Errorf("write version: %w", err)
			}
		case string(v) == formatVersionV1 || string(v) == formatVersionV2:
			if err := upgradeKeys(tx); err != nil {
				return fmt.Errorf("upgrade from format %s: %w", v, err)
			}
			if err := meta.Put([]byte("version"), []byte(formatVersion)); err != nil {
				return fmt.Errorf("upgrade version: %w", err)
			}
		case string(v) == formatVersionV3:
			if err := meta.Put([]byte("version"), []byte(formatVersion)); err != nil {
				return fmt.Errorf("upgrade version: %w", err)
			}
		case string(v) != formatVersion:
			return fmt.Errorf("unsupported store format %q (want %q)", v, formatVersion)
		case meta.Get(keyStampMeta) == nil:
			if err := meta.Put(keyStampMeta, newKeyStamp()); err != nil {
				return fmt.Errorf("write key index stamp: %w", err)
			}
		}
		n, err := requeueRunning(tx)
		requeued = n
		return err
	})
	if err != nil {
		return err
	}
	if requeued > 0 {
		s.log.Warn("deliveries left running by the previous process are queued again",
			"count", requeued)
	}
	return nil
}

// upgradeKeys moves format 2's dedupe bucket (key -> seenAt + id) into
// the values of dedupe_at (seenAt + key -> id) and gives the file a new
// key index stamp, so that Open builds the key index from them.
func upgradeKeys(tx *bolt.Tx) error {
	if old := tx.Bucket(bucketDedupeV2); old != nil {
		at := tx.Bucket(bucketDedupeAt)
		err := old.ForEach(func(k, v []byte) error {
			seen, id := splitTimeKey(v)
			return at.Put(append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(k)), seen), k...), []byte(id))
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketDedupeV2); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyStampMeta, newKeyStamp())
}

// countStatuses counts the queued and running deliveries in the status
// index, and the final ones in the final index, once, at Open.
func (s *Store) countStatuses() error {
	return s.db.View(func(tx *bolt.Tx) error {
		s.finals.Store(int64(tx.Bucket(bucketFinal).Stats().KeyN))
		for _, st := range []queue.Status{queue.StatusQueued, queue.StatusRunning} {
			prefix := statusPrefix(st)
			var n int64
			c := tx.Bucket(bucketStatus).Cursor()
			for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
				n++
			}
			if st == queue.StatusQueued {
				s.queued.Store(n)
			} else {
				s.running.Store(n)
			}
		}
		return nil
	})
}

// requeueRunning moves every running delivery back to queued, keeping its
// Attempts, so the unfinished run counts towards quarantine.
func requeueRunning(tx *bolt.Tx) (int, error) {
	status := tx.Bucket(bucketStatus)
	prefix := statusPrefix(queue.StatusRunning)
	var ids []string
	c := status.Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	w := &wtx{tx: tx}
	for _, id := range ids {
		r, err := w.record(id)
		if err != nil {
			return 0, err
		}
		if r == nil {
			if err := status.Delete(statusKey(queue.StatusRunning, id)); err != nil {
				return 0, fmt.Errorf("drop stale index entry: %w", err)
			}
			continue
		}
		if err := w.setStatus(r, queue.StatusQueued); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// Close stops the janitor, lets the writer finish every operation already
// handed to it, and closes the file. Claim calls waiting in other goroutines
// return queue.ErrClosed at once; every later call returns queue.ErrClosed.
// Closing again returns nil.
func (s *Store) Close() error {
	if in := s.in; in != nil {
		// First, so that a log writer waiting for the mover takes the
		// enqueues blocked on it (holding s.mu shared) and lets Close
		// have s.mu.
		in.mu.Lock()
		in.closing = true
		in.room.Broadcast()
		in.mu.Unlock()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.janitor.Wait()
	if in := s.in; in != nil {
		close(in.reqs) // no sender left: all hold mu shared and saw closed
		<-in.walDone   // every enqueue is answered
		in.mu.Lock()
		in.stop = true
		in.moving.Broadcast()
		in.mu.Unlock()
		<-in.moverDone
		<-in.prepDone
		s.drainLog()
	}
	close(s.ops) // no sender left: all hold mu shared and saw closed
	<-s.writerDone
	if s.wal != nil {
		if err := s.wal.close(); err != nil {
			_ = s.keys.close()
			_ = s.db.Close()
			return fmt.Errorf("local: close ingest log: %w", err)
		}
	}
	if err := s.keys.closeClean(); err != nil {
		_ = s.db.Close()
		return fmt.Errorf("local: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("local: close: %w", err)
	}
	return nil
}

// Ping checks that the store is open and writable: it commits a tiny write
// through the writer (sharing the fsync of whatever else is being written).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ingestErr(); err != nil {
		return fmt.Errorf("local: ping: ingest log: %w", err)
	}
	if err := s.do(ctx, &pingOp{}); err != nil {
		return fmt.Errorf("local: ping: %w", err)
	}
	return nil
}

// now is the store's clock.
func (s *Store) now() time.Time { return s.opts.Now() }

// view runs fn in a read transaction unless the store is closed. Each
// also function runs as the transaction begins, between two commits of
// the writer (for reading Store.queued and running as of the
// transaction).
func (s *Store) view(fn func(tx *bolt.Tx) error, also ...func()) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return queue.ErrClosed
	}
	s.commitMu.Lock()
	tx, err := s.db.Begin(false)
	if err == nil {
		for _, f := range also {
			f()
		}
	}
	s.commitMu.Unlock()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}
