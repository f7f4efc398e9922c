package natsq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// listParallel is how many records List reads at once.
const listParallel = 32

// Get returns the delivery with its envelope and outcomes, or
// queue.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*queue.Delivery, error) {
	leave, err := s.enter()
	if err != nil {
		return nil, fmt.Errorf("natsq: get %s: %w", id, err)
	}
	defer leave()
	r, _, err := s.getRecord(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("natsq: get %s: %w", id, err)
	}
	d, err := s.withEnvelope(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("natsq: get %s: %w", id, err)
	}
	return d, nil
}

func (s *Store) withEnvelope(ctx context.Context, r *record) (*queue.Delivery, error) {
	e, err := s.envelopes.Get(ctx, token(r.ID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return r.delivery(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("read envelope: %w", err)
	}
	return r.delivery(e.Value())
}

// List returns deliveries newest first (by id: generated UUIDv7 ids sort
// by time, across replicas as far as their clocks agree), only those with
// an id below f.Before when set, at most f.Limit (default
// DefaultListLimit, capped at MaxListLimit). Status, Kind, Project and Rule
// narrow the result as in the local backend.
//
// Limits: the bucket has no secondary index, so List reads every key of the
// delivery log (keys only, one request streaming them), sorts them, and
// then reads records newest first, listParallel at a time, until it has
// Limit matches. Unfiltered pages cost Limit reads; a filter that matches
// few deliveries reads up to every retained record (RetainCount bounds
// that).
func (s *Store) List(ctx context.Context, f queue.Filter) ([]*queue.Delivery, error) {
	leave, err := s.enter()
	if err != nil {
		return nil, fmt.Errorf("natsq: list: %w", err)
	}
	defer leave()
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	ids, err := s.ids(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsq: list: %w", err)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	if f.Before != "" {
		ids = ids[sort.Search(len(ids), func(i int) bool { return ids[i] < f.Before }):]
	}
	var out []*queue.Delivery
	for len(ids) > 0 && len(out) < limit {
		chunk := ids[:min(len(ids), max(limit-len(out), listParallel))]
		ids = ids[len(chunk):]
		got, err := s.readChunk(ctx, chunk, f)
		if err != nil {
			return nil, fmt.Errorf("natsq: list: %w", err)
		}
		for _, d := range got {
			if d != nil && len(out) < limit {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// ids returns the ids of every delivery in the log.
func (s *Store) ids(ctx context.Context) ([]string, error) {
	lister, err := s.records.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer lister.Stop()
	var ids []string
	for k := range lister.Keys() {
		id, err := untoken(k)
		if err != nil {
			s.log.Warn("skipping a bad key in the delivery log", "key", k)
			continue
		}
		ids = append(ids, id)
	}
	return ids, ctx.Err()
}

// readChunk reads the deliveries of ids in parallel; entries that do not
// match f (or vanished meanwhile) are nil. Order follows ids.
func (s *Store) readChunk(ctx context.Context, ids []string, f queue.Filter) ([]*queue.Delivery, error) {
	out := make([]*queue.Delivery, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, listParallel)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, _, err := s.getRecord(ctx, id)
			if errors.Is(err, queue.ErrNotFound) {
				return
			}
			if err != nil {
				errs[i] = err
				return
			}
			if !matches(r, f) {
				return
			}
			out[i], errs[i] = s.withEnvelope(ctx, r)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// matches checks the filters other than Before and Limit.
func matches(r *record, f queue.Filter) bool {
	if (f.Status != "" && r.Status != f.Status) ||
		(f.Kind != "" && r.Kind != f.Kind) ||
		(f.Project != "" && r.Project != f.Project) {
		return false
	}
	if f.Rule == "" {
		return true
	}
	return slices.ContainsFunc(r.Outcomes, func(o queue.Outcome) bool { return o.Rule == f.Rule })
}
