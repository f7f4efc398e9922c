package local

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// This file is the only place that knows how deliveries are serialized.
// A delivery is stored as two values: the record (everything but the
// envelope, rewritten on every state change) and the envelope (written once,
// possibly megabytes of payload). Swapping encoding/json for another codec
// means changing the four functions below.

// record is a queue.Delivery without its envelope, plus the two envelope
// fields List filters on. Outcomes stay raw: the writer moves them around
// without parsing them. TestRecordMirrorsDelivery fails when Delivery gains
// a field that is not mirrored here.
type record struct {
	ID         string            `json:"id"`
	Key        string            `json:"key,omitempty"`
	ReceivedAt time.Time         `json:"received_at"`
	Headers    map[string]string `json:"headers,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Project    string            `json:"project,omitempty"`
	Status     queue.Status      `json:"status"`
	Attempts   int               `json:"attempts"`
	Finished   int               `json:"finished"`
	NotBefore  time.Time         `json:"not_before,omitzero"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Error      string            `json:"error,omitempty"`
	Outcomes   json.RawMessage   `json:"outcomes,omitempty"`
}

// encodeRecord encodes r in binary (bincodec.go).
func encodeRecord(r *record) ([]byte, error) {
	return appendRecord(make([]byte, 0, 256+len(r.Outcomes)), r), nil
}

// decodeRecord copies what it needs out of b: b may be bbolt memory that is
// only valid inside the transaction. Records of version 1 files are JSON.
func decodeRecord(b []byte) (*record, error) {
	if len(b) > 0 && b[0] == recordBinary {
		r, err := readRecord(b[1:])
		if err != nil {
			return nil, fmt.Errorf("decode delivery record: %w", err)
		}
		return r, nil
	}
	r := new(record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("decode delivery record: %w", err)
	}
	return r, nil
}

// An envelope is stored as its fields in binary (bincodec.go) followed by
// the payload verbatim, compressed with S2 (Snappy's faster successor)
// when that makes it smaller:
//
//	0x01 | body              (envelopeRaw)
//	0x02 | S2 block of body  (envelopeS2)
//	body = uvarint len(fields) | fields | payload
//
// The payload, nearly all of an envelope's bytes, is neither re-encoded
// nor re-parsed on its way through the store, and compressed it takes a
// third of the room in the ingest log and in bbolt. Envelopes stored as
// JSON (starting with '{') by version 1 files are still read.
const (
	envelopeRaw = 0x01
	envelopeS2  = 0x02
)

// encodeEnvelope encodes e. Its Payload must be valid JSON (Normalize
// guarantees it): it is stored as is, not checked. The result is exactly
// as long as it needs to be: it is kept in memory until moved to bbolt.
func encodeEnvelope(e *envelope.Envelope) ([]byte, error) {
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	sc.fields = appendEnvelopeFields(sc.fields[:0], e)
	body := append(sc.body[:0], envelopeRaw)
	body = binary.AppendUvarint(body, uint64(len(sc.fields)))
	body = append(body, sc.fields...)
	body = append(body, e.Payload...)
	sc.body = body
	out := body
	if len(body) >= 256 {
		if need := s2.MaxEncodedLen(len(body) - 1); cap(sc.packed) < need {
			sc.packed = make([]byte, need)
		}
		if packed := s2.Encode(sc.packed[:cap(sc.packed)], body[1:]); len(packed)+1 < len(body) {
			out = append(make([]byte, 0, 1+len(packed)), envelopeS2)
			return append(out, packed...), nil
		}
	}
	return bytes.Clone(out), nil
}

// scratch holds encodeEnvelope's working buffers between calls.
type scratch struct{ fields, body, packed []byte }

// release returns sc to the pool, without buffers grown for a big payload.
func (sc *scratch) release() {
	if cap(sc.body) > 1<<20 || cap(sc.packed) > 1<<20 {
		sc.body, sc.packed = nil, nil
	}
	scratchPool.Put(sc)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// decodeEnvelope decodes b into e; e keeps no reference to b.
func decodeEnvelope(b []byte, e *envelope.Envelope) error {
	if len(b) == 0 || (b[0] != envelopeRaw && b[0] != envelopeS2) {
		if err := json.Unmarshal(b, e); err != nil {
			return fmt.Errorf("decode envelope: %w", err)
		}
		return nil
	}
	body := b[1:]
	if b[0] == envelopeS2 {
		n, err := s2.DecodedLen(body)
		if err != nil {
			return fmt.Errorf("decode envelope: %w", err)
		}
		if body, err = s2.Decode(make([]byte, n), body); err != nil {
			return fmt.Errorf("decode envelope: %w", err)
		}
	}
	n, k := binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)-k) {
		return errors.New("decode envelope: bad length")
	}
	if _, err := readEnvelopeFields(body[k:k+int(n)], e); err != nil {
		return fmt.Errorf("decode envelope: %w", err)
	}
	e.Payload = nil
	if p := body[k+int(n):]; len(p) > 0 {
		if b[0] == envelopeRaw {
			p = bytes.Clone(p) // b may be bbolt memory
		}
		e.Payload = json.RawMessage(p[:len(p):len(p)])
	}
	return nil
}

// encodeOutcomes turns a report's outcomes into the record's raw form.
func encodeOutcomes(o []queue.Outcome) (json.RawMessage, error) {
	if len(o) == 0 {
		return nil, nil
	}
	b, err := queue.AppendOutcomesJSON(nil, o)
	if err != nil {
		return nil, fmt.Errorf("encode outcomes: %w", err)
	}
	return b, nil
}

// outcomeRules lists the rule of each raw outcome, in order.
func outcomeRules(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var rules []struct {
		Rule string `json:"rule"`
	}
	if err := json.Unmarshal(raw, &rules); err != nil {
		return nil, fmt.Errorf("decode outcomes: %w", err)
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Rule
	}
	return names, nil
}

// dropOutcome removes every outcome of rule from raw, keeping the others
// byte for byte.
func dropOutcome(raw json.RawMessage, rule string) (json.RawMessage, error) {
	var items []json.RawMessage
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("decode outcomes: %w", err)
		}
	}
	rules, err := outcomeRules(raw)
	if err != nil {
		return nil, err
	}
	kept := items[:0]
	for i, it := range items {
		if rules[i] != rule {
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, fmt.Errorf("encode outcomes: %w", err)
	}
	return b, nil
}

// newRecord is the record of a delivery being enqueued.
func newRecord(d *queue.Delivery) *record {
	return &record{
		ID:         d.ID,
		Key:        d.Key,
		ReceivedAt: d.ReceivedAt,
		Headers:    d.Headers,
		Kind:       d.Envelope.Kind,
		Project:    d.Envelope.Project.Path,
		Status:     d.Status,
		Attempts:   d.Attempts,
		Finished:   d.Finished,
		NotBefore:  d.NotBefore,
		UpdatedAt:  d.UpdatedAt,
		Error:      d.Error,
	}
}

// delivery rebuilds the full delivery from a record and its raw envelope.
func (r *record) delivery(env []byte) (*queue.Delivery, error) {
	d := &queue.Delivery{
		ID:         r.ID,
		Key:        r.Key,
		ReceivedAt: r.ReceivedAt,
		Headers:    r.Headers,
		Status:     r.Status,
		Attempts:   r.Attempts,
		Finished:   r.Finished,
		NotBefore:  r.NotBefore,
		UpdatedAt:  r.UpdatedAt,
		Error:      r.Error,
	}
	if len(r.Outcomes) > 0 {
		if err := json.Unmarshal(r.Outcomes, &d.Outcomes); err != nil {
			return nil, fmt.Errorf("decode outcomes of %s: %w", r.ID, err)
		}
	}
	if env != nil {
		if err := decodeEnvelope(env, &d.Envelope); err != nil {
			return nil, fmt.Errorf("delivery %s: %w", r.ID, err)
		}
	}
	return d, nil
}
