package local

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Backlog counts the queued and running deliveries and finds when the
// oldest of them was received. The counts are kept by the writer (see
// Store.queued), so a call costs two index seeks and one record read
// whatever the backlog: cheap enough for every metrics scrape. "Oldest"
// is the one with the smallest id; generated ids are UUIDv7, which sort
// by time.
//
// Deliveries still only in the ingest log count as queued: those listed
// before the read transaction began and not in it (none counts twice).
// The counts are taken together with the read transaction, between two
// commits, so they agree with it.
func (s *Store) Backlog(ctx context.Context) (queue.Backlog, error) {
	var b queue.Backlog
	logged := s.loggedDeliveries()
	err := s.view(func(tx *bolt.Tx) error {
		var oldest string
		var oldestLogged *record
		for _, r := range logged {
			if tx.Bucket(bucketDeliveries).Get([]byte(r.ID)) != nil {
				continue // moved since it was listed: counted below
			}
			b.Queued++
			if oldestLogged == nil || r.ID < oldestLogged.ID {
				oldestLogged = r
			}
		}
		if oldestLogged != nil {
			oldest, b.Oldest = oldestLogged.ID, oldestLogged.ReceivedAt
		}
		for _, st := range []queue.Status{queue.StatusQueued, queue.StatusRunning} {
			prefix := statusPrefix(st)
			if k, _ := tx.Bucket(bucketStatus).Cursor().Seek(prefix); k != nil && hasPrefix(k, prefix) {
				if id := string(k[len(prefix):]); oldest == "" || id < oldest {
					oldest = id
				}
			}
		}
		if oldest == "" || (oldestLogged != nil && oldest == oldestLogged.ID) {
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
		b.Oldest = r.ReceivedAt
		return nil
	}, func() {
		b.Queued += int(max(s.queued.Load(), 0))
		b.Running = int(max(s.running.Load(), 0))
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

// Snapshot opens a Snapshot. The store cannot finish closing while a
// snapshot is open.
func (s *Store) Snapshot() (*Snapshot, error) {
	// Deliveries acknowledged so far belong in the snapshot: wait for the
	// ingest log's mover (the log itself is not part of the snapshot).
	if err := s.settle(context.Background()); err != nil {
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
