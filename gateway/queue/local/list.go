package local

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// Get returns the delivery with its envelope and outcomes, or
// queue.ErrNotFound. A delivery acknowledged but still only in the ingest
// log is waited for.
func (s *Store) Get(ctx context.Context, id string) (*queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.settleID(ctx, id); err != nil {
		return nil, err
	}
	var d *queue.Delivery
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDeliveries).Get([]byte(id))
		if v == nil {
			return queue.ErrNotFound
		}
		r, err := decodeRecord(v)
		if err != nil {
			return err
		}
		d, err = r.delivery(tx.Bucket(bucketEnvelopes).Get([]byte(id)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("local: get %s: %w", id, err)
	}
	return d, nil
}

// List returns deliveries newest first (by id: UUIDv7 ids sort by time),
// only those with an id below f.Before when set, at most f.Limit (default
// DefaultListLimit, capped at MaxListLimit). Status, Kind (envelope kind),
// Project (envelope project path) and Rule (any outcome of that rule)
// narrow the result when set. With Status set only that status's index is
// walked; the other filters are checked record by record without reading
// envelopes. Every delivery acknowledged before the call is listed (List
// waits for the ingest log's mover).
func (s *Store) List(ctx context.Context, f queue.Filter) ([]*queue.Delivery, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	var out []*queue.Delivery
	err := s.view(func(tx *bolt.Tx) error {
		deliveries := tx.Bucket(bucketDeliveries)
		envelopes := tx.Bucket(bucketEnvelopes)
		next := newestFirst(tx, f)
		for scanned := 0; len(out) < limit; scanned++ {
			if scanned%256 == 255 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			id, ok := next()
			if !ok {
				return nil
			}
			v := deliveries.Get(id)
			if v == nil {
				continue
			}
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("delivery %s: %w", id, err)
			}
			if ok, err := matches(r, f); err != nil || !ok {
				if err != nil {
					return fmt.Errorf("delivery %s: %w", id, err)
				}
				continue
			}
			d, err := r.delivery(envelopes.Get(id))
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local: list: %w", err)
	}
	return out, nil
}

// newestFirst walks ids backwards from f.Before, over the status index when
// f.Status is set and over all deliveries otherwise. The returned ids are
// only valid inside tx.
func newestFirst(tx *bolt.Tx, f queue.Filter) func() ([]byte, bool) {
	var prefix []byte
	c := tx.Bucket(bucketDeliveries).Cursor()
	if f.Status != "" {
		prefix = statusPrefix(f.Status)
		c = tx.Bucket(bucketStatus).Cursor()
	}
	// Position on the first key >= the upper bound; the walk starts one
	// step before it.
	var k []byte
	switch {
	case f.Before != "":
		k, _ = c.Seek(append(slices.Clip(prefix), f.Before...))
	case prefix != nil:
		end := slices.Clone(prefix)
		end[len(end)-1] = 1 // status + 0x01 sorts after every status + 0x00 + id
		k, _ = c.Seek(end)
	}
	started := false
	return func() ([]byte, bool) {
		if !started && k == nil {
			k, _ = c.Last() // nothing at or above the bound
		} else {
			k, _ = c.Prev()
		}
		started = true
		if k == nil || !hasPrefix(k, prefix) {
			return nil, false
		}
		return k[len(prefix):], true
	}
}

// matches checks the filters other than Before and Limit.
func matches(r *record, f queue.Filter) (bool, error) {
	if (f.Status != "" && r.Status != f.Status) ||
		(f.Kind != "" && r.Kind != f.Kind) ||
		(f.Project != "" && r.Project != f.Project) {
		return false, nil
	}
	if f.Rule == "" {
		return true, nil
	}
	rules, err := outcomeRules(r.Outcomes)
	if err != nil {
		return false, err
	}
	return slices.Contains(rules, f.Rule), nil
}
