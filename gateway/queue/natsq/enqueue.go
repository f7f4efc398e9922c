package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits on what Enqueue accepts.
const (
	MaxIDLen  = 256  // bytes of Delivery.ID
	MaxKeyLen = 1024 // bytes of Delivery.Key
)

// ErrDuplicateID is returned (wrapped) by Enqueue when the delivery's preset
// ID is already stored (under another or no idempotency key).
var ErrDuplicateID = errors.New("natsq: delivery id already stored")

// ErrTooLarge is returned (wrapped) by Enqueue for a delivery whose
// envelope does not fit in one NATS message (the servers' max_payload,
// 1 MiB unless configured; see docs/scaling.md).
var ErrTooLarge = errors.New("natsq: delivery larger than the NATS servers' max_payload")

// ErrInvalid is returned (wrapped) for input the store cannot accept: a nil
// delivery, an ID or key over its limit, an unknown report status.
var ErrInvalid = errors.New("natsq: invalid input")

// Enqueue stores d as a new queued delivery and returns once JetStream
// acknowledged its record, its envelope and its message. It assigns d.ID
// when empty (a UUIDv7) and d.Envelope.ID when empty (to d.ID); the stored
// copy starts afresh (queued, no attempts, no outcomes) and keeps NotBefore.
//
// # Deduplication across replicas
//
// With d.Key set, Enqueue first creates the key's entry in the dedupe
// bucket, {first id, time}: a KV create is a compare-and-set on the
// bucket's stream, so of any number of replicas enqueueing one key at once
// exactly one creates it; every other gets the first id back, and Enqueue
// answers Duplicate with it. An entry older than the dedupe window (by
// Options.Now) is taken over with a compare-and-set on its revision.
//
// The race: a duplicate can arrive while the first enqueue is between its
// key entry and its message, or after that enqueue died there. Answering
// "duplicate" then would acknowledge an event that may never be stored. So
// before answering, the duplicate makes sure the first delivery is stored
// (ensureStored): when its record shows it was never claimed and the stream
// holds no message for it, the duplicate writes what is missing (record,
// envelope, from its own copy of the event) and publishes the first id's
// message itself. Both publishes carry Nats-Msg-Id = the first id, so
// JetStream's duplicate window (2 minutes) keeps one. The key is not the
// Nats-Msg-Id because JetStream's window must be shorter than the stream's
// max age and forgets the ids of deleted (processed) messages when a server
// restarts: the bucket is what remembers keys for days.
//
// When ctx ends before the acknowledgements, Enqueue returns an error and
// the delivery may or may not be stored; a stored record whose message was
// not published is republished by the janitor (or by a duplicate).
func (s *Store) Enqueue(ctx context.Context, d *queue.Delivery) (queue.Receipt, error) {
	leave, err := s.enter()
	if err != nil {
		return queue.Receipt{}, fmt.Errorf("natsq: enqueue: %w", err)
	}
	defer leave()
	if d == nil {
		return queue.Receipt{}, fmt.Errorf("natsq: enqueue: %w: nil delivery", ErrInvalid)
	}
	if len(d.ID) > MaxIDLen || len(d.Key) > MaxKeyLen {
		return queue.Receipt{}, fmt.Errorf("natsq: enqueue: %w: id over %d or key over %d bytes", ErrInvalid, MaxIDLen, MaxKeyLen)
	}
	if d.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return queue.Receipt{}, fmt.Errorf("natsq: enqueue: new id: %w", err)
		}
		d.ID = id.String()
	}
	if d.Envelope.ID == "" {
		d.Envelope.ID = d.ID
	}
	if d.Key != "" && s.opts.DedupeWindow > 0 {
		first, dup, err := s.takeKey(ctx, d.Key, d.ID)
		if err != nil {
			return queue.Receipt{}, fmt.Errorf("natsq: enqueue %s: %w", d.ID, err)
		}
		if dup {
			if err := s.ensureStored(ctx, first, d); err != nil {
				return queue.Receipt{}, fmt.Errorf("natsq: enqueue: duplicate of %s: %w", first, err)
			}
			return queue.Receipt{ID: first, Duplicate: true}, nil
		}
	}
	if err := s.store(ctx, s.newRecord(d, d.ID), d); err != nil {
		return queue.Receipt{}, fmt.Errorf("natsq: enqueue %s: %w", d.ID, err)
	}
	return queue.Receipt{ID: d.ID}, nil
}

// newRecord is the fresh record of d stored under id.
func (s *Store) newRecord(d *queue.Delivery, id string) *record {
	now := s.now()
	r := &record{
		ID: id, Key: d.Key, MsgID: id, ReceivedAt: d.ReceivedAt, Headers: d.Headers,
		Kind: d.Envelope.Kind, Project: d.Envelope.Project.Path,
		Status: queue.StatusQueued, NotBefore: d.NotBefore, UpdatedAt: now,
	}
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	return r
}

// takeKey creates the dedupe entry of key for id, or returns the id the key
// belongs to (dup true) while it is within the window.
func (s *Store) takeKey(ctx context.Context, key, id string) (first string, dup bool, err error) {
	k := dedupeKey(key)
	now := s.now()
	val, err := json.Marshal(dedupeEntry{ID: id, At: now})
	if err != nil {
		return "", false, fmt.Errorf("encode idempotency key: %w", err)
	}
	for range 20 {
		_, err := s.dedupe.Create(ctx, k, val)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", false, fmt.Errorf("store idempotency key: %w", err)
		}
		e, err := s.dedupe.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return "", false, fmt.Errorf("read idempotency key: %w", err)
		}
		var de dedupeEntry
		if err := json.Unmarshal(e.Value(), &de); err != nil {
			return "", false, fmt.Errorf("decode idempotency key: %w", err)
		}
		if now.Sub(de.At) < s.opts.DedupeWindow {
			return de.ID, true, nil
		}
		// Older than the window (the bucket's TTL removes it later).
		if _, err := s.dedupe.Update(ctx, k, val, e.Revision()); err == nil {
			return id, false, nil
		} else if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return "", false, fmt.Errorf("renew idempotency key: %w", err)
		}
	}
	return "", false, errors.New("idempotency key: too much contention")
}

// store writes r's record and d's envelope under r.ID, then publishes the
// message. A record that already exists with the same idempotency key was
// written by a duplicate completing this very delivery (ensureStored): then
// only the publish is left, and JetStream drops it if the duplicate's
// landed first.
func (s *Store) store(ctx context.Context, r *record, d *queue.Delivery) error {
	rec, err := encodeRecord(r)
	if err != nil {
		return err
	}
	e := d.Envelope
	e.ID = r.ID
	env, err := encodeEnvelope(&e)
	if err != nil {
		return err
	}
	if limit := s.MaxPayload() - payloadHeadroom; int64(len(env)) > limit {
		return fmt.Errorf("%w: envelope of %d bytes, limit %d", ErrTooLarge, len(env), limit)
	}
	tok := token(r.ID)
	var wg sync.WaitGroup
	var recErr, envErr error
	wg.Go(func() { _, recErr = s.records.Create(ctx, tok, rec) })
	wg.Go(func() { _, envErr = s.envelopes.Create(ctx, tok, env) })
	wg.Wait()
	if errors.Is(recErr, jetstream.ErrKeyExists) {
		old, _, err := s.getRecord(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("read existing record: %w", err)
		}
		if r.Key == "" || old.Key != r.Key {
			return fmt.Errorf("%w: %s", ErrDuplicateID, r.ID)
		}
		recErr = nil
	}
	if errors.Is(envErr, jetstream.ErrKeyExists) {
		envErr = nil
	}
	if err := errors.Join(recErr, envErr); err != nil {
		return fmt.Errorf("write delivery: %w", err)
	}
	return s.publish(ctx, r)
}

// payloadHeadroom is kept free of a message's max_payload for the
// subject and headers JetStream adds.
const payloadHeadroom = 4096

// MaxPayload is the largest message the connected NATS servers accept. An
// envelope (the webhook body plus its normalized fields) must fit in it,
// less a few KiB.
func (s *Store) MaxPayload() int64 { return s.nc.MaxPayload() }

// publish puts the message that runs r on the queue.
func (s *Store) publish(ctx context.Context, r *record) error {
	m := nats.NewMsg(s.subject(r.ID))
	m.Data = []byte(r.ID)
	m.Header.Set(jetstream.MsgIDHeader, r.MsgID)
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectStream(s.opts.Stream)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// subject is the queue subject of a delivery.
func (s *Store) subject(id string) string { return s.opts.Subject + "." + token(id) }

// ensureStored makes sure the delivery first, which d duplicates, is
// stored before d is answered as its duplicate (see Enqueue).
func (s *Store) ensureStored(ctx context.Context, first string, d *queue.Delivery) error {
	for range 5 {
		r, rev, err := s.getRecord(ctx, first)
		if errors.Is(err, queue.ErrNotFound) {
			// The first enqueue died before its record, or has not
			// written it yet: store it on its behalf.
			return s.store(ctx, s.newRecord(d, first), d)
		}
		if err != nil {
			return err
		}
		if r.Status != queue.StatusQueued || r.Attempts > 0 || r.MsgID != r.ID {
			return nil // it ran or was replayed: it was published
		}
		has, err := s.hasMessage(ctx, r)
		if err != nil || has {
			return err
		}
		// No message. A claim and a finish between the two reads would
		// have changed the record (a message leaves the stream only after
		// its record is final), so an unchanged record means unpublished.
		_, rev2, err := s.getRecord(ctx, first)
		if err != nil {
			return err
		}
		if rev2 != rev {
			continue
		}
		s.log.Warn("completing a delivery whose enqueue did not finish", "id", first)
		return s.store(ctx, r, d)
	}
	return errors.New("first delivery keeps changing")
}

// hasMessage reports whether the stream holds r's current message.
func (s *Store) hasMessage(ctx context.Context, r *record) (bool, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, s.subject(r.ID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up message: %w", err)
	}
	return m.Header.Get(jetstream.MsgIDHeader) == r.MsgID, nil
}

// getRecord reads a delivery's record and its revision, or
// queue.ErrNotFound.
func (s *Store) getRecord(ctx context.Context, id string) (*record, uint64, error) {
	e, err := s.records.Get(ctx, token(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, queue.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read record: %w", err)
	}
	r, err := decodeRecord(e.Value())
	if err != nil {
		return nil, 0, err
	}
	return r, e.Revision(), nil
}

// putRecord replaces the record at revision rev (compare-and-set); it
// returns jetstream.ErrKeyRevisionMismatch (wrapped) when it changed.
func (s *Store) putRecord(ctx context.Context, r *record, rev uint64) (uint64, error) {
	b, err := encodeRecord(r)
	if err != nil {
		return 0, err
	}
	n, err := s.records.Update(ctx, token(r.ID), b, rev)
	if err != nil {
		return 0, fmt.Errorf("write record: %w", err)
	}
	return n, nil
}
