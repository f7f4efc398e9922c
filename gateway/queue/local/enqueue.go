package local

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits on what Enqueue accepts.
const (
	MaxIDLen  = 256  // bytes of Delivery.ID
	MaxKeyLen = 1024 // bytes of Delivery.Key
)

// ErrDuplicateID is returned (wrapped) by Enqueue when the delivery's preset
// ID is already stored under another (or no) idempotency key.
var ErrDuplicateID = errors.New("local: delivery id already stored")

// ErrInvalid is returned (wrapped) for input the store cannot accept: a nil
// delivery, an ID or key over its limit, an unknown report status.
var ErrInvalid = errors.New("local: invalid input")

// Enqueue stores d as a new queued delivery and returns once it is
// fsynced: in the ingest log (see the package doc), or with Options.NoWAL
// in the bbolt transaction holding it. It assigns d.ID when empty (a UUIDv7,
// so ids sort by time) and d.Envelope.ID when empty (to d.ID). The stored
// copy starts afresh: status queued, no attempts, no outcomes; ReceivedAt
// defaults to now; NotBefore is kept, so a delivery can be delayed.
//
// With d.Key set and the same key stored within the dedupe window, nothing
// is stored and the receipt carries the first delivery's id with Duplicate
// set (d.ID then names nothing stored: use the receipt's ID). Of two deliveries with the same key committed together, the one
// applied second is the duplicate.
//
// When ctx ends before the commit, Enqueue returns ctx.Err() and the
// delivery may or may not be stored.
func (s *Store) Enqueue(ctx context.Context, d *queue.Delivery) (queue.Receipt, error) {
	o, err := s.newEnqueueOp(d)
	if err != nil {
		return queue.Receipt{}, fmt.Errorf("local: enqueue: %w", err)
	}
	if s.wal != nil {
		err = s.appendWAL(ctx, o)
	} else {
		err = s.do(ctx, o)
	}
	if err != nil {
		return queue.Receipt{}, fmt.Errorf("local: enqueue %s: %w", d.ID, err)
	}
	return o.receipt, nil
}

// newEnqueueOp validates d, assigns its ids and encodes it, all in the
// caller's goroutine.
func (s *Store) newEnqueueOp(d *queue.Delivery) (*enqueueOp, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil delivery", ErrInvalid)
	}
	if len(d.ID) > MaxIDLen || len(d.Key) > MaxKeyLen {
		return nil, fmt.Errorf("%w: id over %d or key over %d bytes", ErrInvalid, MaxIDLen, MaxKeyLen)
	}
	generated := d.ID == ""
	if generated {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("new id: %w", err)
		}
		d.ID = id.String()
	}
	if d.Envelope.ID == "" {
		d.Envelope.ID = d.ID
	}
	now := s.now()
	r := newRecord(d)
	r.Status = queue.StatusQueued
	r.Attempts, r.Finished, r.Error, r.Outcomes = 0, 0, "", nil
	r.UpdatedAt = now
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	rec, err := encodeRecord(r)
	if err != nil {
		return nil, err
	}
	env, err := encodeEnvelope(&d.Envelope)
	if err != nil {
		return nil, err
	}
	return &enqueueOp{r: r, rec: rec, env: env, at: now, generated: generated}, nil
}

// enqueueOp stores a new delivery; encoding happened in the caller's
// goroutine, so the writer only copies bytes.
type enqueueOp struct {
	done
	r        *record
	rec, env []byte
	at       time.Time
	// generated says the id was made by newEnqueueOp (a new UUIDv7), so it
	// cannot be stored already.
	generated bool
	// lookedUp says the key was looked up in bbolt's dedupe index already
	// (by the log writer's decision, or by apply); expired says an expired
	// entry was found there, remembered at expiredAt. store then need not
	// look again.
	lookedUp, expired bool
	expiredAt         uint64
	// logged is where the log writer put its record, and seq its number
	// in the logged queue.
	logged logged
	seq    uint64

	receipt queue.Receipt
}

func (o *enqueueOp) wroteNothing() bool { return o.receipt.Duplicate }

func (o *enqueueOp) apply(w *wtx) error {
	o.receipt = queue.Receipt{}
	id := []byte(o.r.ID)
	key := []byte(o.r.Key)

	// Reads first: a duplicate or a refusal writes nothing.
	if len(key) > 0 && w.s.opts.DedupeWindow > 0 {
		o.lookedUp, o.expired = true, false
		at, first, ok, err := w.lookupKey(key)
		if err != nil {
			return refuse(err)
		}
		if ok {
			if o.at.Sub(time.Unix(0, int64(at))) < w.s.opts.DedupeWindow {
				o.receipt = queue.Receipt{ID: first, Duplicate: true}
				return nil
			}
			o.expired, o.expiredAt = true, at
		}
	}
	if w.bucket(bucketDeliveries).Get(id) != nil {
		return refuse(fmt.Errorf("%w: %s", ErrDuplicateID, o.r.ID))
	}
	if err := o.store(w); err != nil {
		return err
	}
	o.receipt = queue.Receipt{ID: o.r.ID}
	return nil
}

// store writes the delivery, its indexes and its idempotency key, taken to
// be new: the caller decided it is no duplicate. A key still remembered
// (within the window) for another delivery keeps its first delivery; an
// expired one is replaced.
func (o *enqueueOp) store(w *wtx) error {
	id := []byte(o.r.ID)
	key := []byte(o.r.Key)
	dedupe := len(key) > 0 && w.s.opts.DedupeWindow > 0
	var expired []byte // dedupe_at entry of an expired key, to replace
	switch {
	case dedupe && o.lookedUp:
		if o.expired {
			expired = binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), o.expiredAt)
			expired = append(expired, key...)
		}
	case dedupe:
		at, _, ok, err := w.lookupKey(key)
		if err != nil {
			return err
		}
		if ok {
			if o.at.Sub(time.Unix(0, int64(at))) < w.s.opts.DedupeWindow {
				dedupe = false // never expected: the first delivery keeps the key
			} else {
				expired = binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), at)
				expired = append(expired, key...)
			}
		}
	}
	if err := w.bucket(bucketDeliveries).Put(id, o.rec); err != nil {
		return fmt.Errorf("put delivery: %w", err)
	}
	if err := w.bucket(bucketEnvelopes).Put(id, o.env); err != nil {
		return fmt.Errorf("put envelope: %w", err)
	}
	if err := w.index(o.r); err != nil {
		return err
	}
	if dedupe {
		if expired != nil {
			if err := w.bucket(bucketDedupeAt).Delete(expired); err != nil {
				return fmt.Errorf("drop expired key: %w", err)
			}
		}
		if err := w.bucket(bucketDedupeAt).Put(timeKey(o.at, o.r.Key), id); err != nil {
			return fmt.Errorf("put idempotency key: %w", err)
		}
		w.setKey(key, nanos(o.at))
	}
	return nil
}
