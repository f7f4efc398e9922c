package local

import (
	"encoding/json"
	"fmt"
	"time"

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

func encodeRecord(r *record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode delivery %s: %w", r.ID, err)
	}
	return b, nil
}

// decodeRecord copies what it needs out of b: b may be bbolt memory that is
// only valid inside the transaction.
func decodeRecord(b []byte) (*record, error) {
	r := new(record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("decode delivery record: %w", err)
	}
	return r, nil
}

func encodeEnvelope(e *envelope.Envelope) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode envelope %s: %w", e.ID, err)
	}
	return b, nil
}

func decodeEnvelope(b []byte, e *envelope.Envelope) error {
	if err := json.Unmarshal(b, e); err != nil {
		return fmt.Errorf("decode envelope: %w", err)
	}
	return nil
}

// encodeOutcomes turns a report's outcomes into the record's raw form.
func encodeOutcomes(o []queue.Outcome) (json.RawMessage, error) {
	if len(o) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(o)
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
