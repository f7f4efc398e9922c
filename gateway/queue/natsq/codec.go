package natsq

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// record is a queue.Delivery without its envelope, plus what the backend
// needs: the envelope fields List filters on and MsgID, the Nats-Msg-Id of
// the one stream message allowed to run the delivery now.
type record struct {
	ID         string            `json:"id"`
	Key        string            `json:"key,omitempty"`
	MsgID      string            `json:"msg_id"`
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
	Outcomes   []queue.Outcome   `json:"outcomes,omitempty"`
}

func encodeRecord(r *record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode delivery %s: %w", r.ID, err)
	}
	return b, nil
}

func decodeRecord(b []byte) (*record, error) {
	r := new(record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("decode delivery record: %w", err)
	}
	return r, nil
}

// delivery joins r and its encoded envelope.
func (r *record) delivery(env []byte) (*queue.Delivery, error) {
	d := &queue.Delivery{
		ID: r.ID, Key: r.Key, ReceivedAt: r.ReceivedAt, Headers: r.Headers,
		Status: r.Status, Attempts: r.Attempts, Finished: r.Finished,
		NotBefore: r.NotBefore, UpdatedAt: r.UpdatedAt, Error: r.Error,
		Outcomes: r.Outcomes,
	}
	if env == nil {
		return nil, fmt.Errorf("delivery %s: envelope missing", r.ID)
	}
	if err := json.Unmarshal(env, &d.Envelope); err != nil {
		return nil, fmt.Errorf("delivery %s: decode envelope: %w", r.ID, err)
	}
	return d, nil
}

func encodeEnvelope(e *envelope.Envelope) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode envelope %s: %w", e.ID, err)
	}
	return b, nil
}

// dedupeEntry is the value of an idempotency key in the dedupe bucket.
type dedupeEntry struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// token turns a delivery id into a KV key and subject token. Ids made of
// letters, digits, '-' and '_' (generated UUIDs) are used as they are;
// any other id becomes "=" + base64url, which no plain id can start with.
func token(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
		}
	}
	return id
}

// untoken reverses token.
func untoken(tok string) (string, error) {
	if len(tok) > 0 && tok[0] == '=' {
		b, err := base64.RawURLEncoding.DecodeString(tok[1:])
		if err != nil {
			return "", fmt.Errorf("bad delivery token %q: %w", tok, err)
		}
		return string(b), nil
	}
	return tok, nil
}

// dedupeKey is the dedupe bucket's key of an idempotency key: fixed length,
// whatever the key holds.
func dedupeKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// pluginKey is the plugin bucket's key of (namespace, key). Every plugin
// key holds a '.', so "hookgate-ping" cannot collide with one.
func pluginKey(ns, key string) string {
	return pluginPrefix(ns) + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// pluginPrefix starts the plugin keys of namespace ns.
func pluginPrefix(ns string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(ns)) + "."
}

// usageKey is the plugin bucket's key of namespace ns's usage entry. No
// plugin key starts with "usage.": base64url without padding is never 5
// characters long.
func usageKey(ns string) string {
	return "usage." + base64.RawURLEncoding.EncodeToString([]byte(ns))
}
