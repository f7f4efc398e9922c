package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Backlog counts the queued and running deliveries and finds when the
// oldest of them was received. The counts are kept by the writer (see
// Store.queued) and the logged queue, so a call costs two index seeks and
// two record reads whatever the backlog: cheap enough for every metrics
// scrape. "Oldest" in bbolt is the one with the smallest id (generated
// ids are UUIDv7, which sort by time); in the ingest log, the first.
//
// Deliveries still only in the ingest log count as queued. The counts
// are taken together with the read transaction, between two commits, so
// they agree with it: none counts twice, none is missed.
func (s *Store) Backlog(ctx context.Context) (queue.Backlog, error) {
	var b queue.Backlog
	var loggedOldest time.Time
	err := s.view(func(tx *bolt.Tx) error {
		var oldest string
		for _, st := range []queue.Status{queue.StatusQueued, queue.StatusRunning} {
			prefix := statusPrefix(st)
			if k, _ := tx.Bucket(bucketStatus).Cursor().Seek(prefix); k != nil && hasPrefix(k, prefix) {
				if id := string(k[len(prefix):]); oldest == "" || id < oldest {
					oldest = id
				}
			}
		}
		b.Oldest = loggedOldest
		if oldest == "" {
			return nil
		}
		v := tx.Bucket(bucketDeliveries).Get([]byte(oldest))
		if v == nil {
			return nil // a stale index entry; Claim drops those
		}
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", oldest, err)
		}
		if b.Oldest.IsZero() || r.ReceivedAt.Before(b.Oldest) {
			b.Oldest = r.ReceivedAt
		}
		return nil
	}, func() {
		n, first := s.loggedHead()
		b.Queued = int(max(s.queued.Load(), 0)) + n
		b.Running = int(max(s.running.Load(), 0))
		loggedOldest = first
	})
	if err != nil {
		return queue.Backlog{}, fmt.Errorf("local: backlog: %w", err)
	}
	return b, nil
}

// Snapshot is a consistent, read-only view of the whole store file, for
// hot backups. It holds a read transaction: writes go on meanwhile, but
// while it is open the file cannot be remapped to grow, so a write that
// needs more room waits for Close. Close it promptly.
type Snapshot struct {
	tx     *bolt.Tx
	unlock func()
}

// snapshotSettle bounds how long Snapshot waits for the mover (which may
// be failing: a full disk).
const snapshotSettle = 2 * time.Minute

// Snapshot opens a Snapshot. The store cannot finish closing while a
// snapshot is open.
func (s *Store) Snapshot() (*Snapshot, error) {
	// Deliveries acknowledged so far belong in the snapshot: the mover
	// stores those still only in the ingest log (which is not part of
	// the snapshot).
	ctx, cancel := context.WithTimeout(context.Background(), snapshotSettle)
	defer cancel()
	if err := s.settle(ctx); err != nil {
		if errors.Is(err, queue.ErrClosed) {
			return nil, queue.ErrClosed
		}
		return nil, fmt.Errorf("local: snapshot: %w", err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, queue.ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		s.mu.RUnlock()
		return nil, fmt.Errorf("local: snapshot: %w", err)
	}
	return &Snapshot{tx: tx, unlock: s.mu.RUnlock}, nil
}

// Size is the number of bytes WriteTo writes.
func (sn *Snapshot) Size() int64 { return sn.tx.Size() }

// WriteTo writes the store file as of the snapshot to w: a valid bbolt file
// that Open accepts.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := sn.tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("local: snapshot: %w", err)
	}
	return n, nil
}

// Close ends the snapshot. Closing again does nothing.
func (sn *Snapshot) Close() error {
	if sn.tx == nil {
		return nil
	}
	err := sn.tx.Rollback()
	sn.tx = nil
	sn.unlock()
	return err
}
