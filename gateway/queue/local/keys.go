package local

import (
	"encoding/binary"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Buckets of the store file. Every index holds keys only (empty values);
// the records themselves live in bucketDeliveries and bucketEnvelopes.
var (
	// id -> record (the delivery without its envelope)
	bucketDeliveries = []byte("deliveries")
	// id -> envelope; written once at enqueue, read by Claim and Get
	bucketEnvelopes = []byte("envelopes")
	// readyAt(8) + id, for queued deliveries only: Claim takes the first
	bucketReady = []byte("ready")
	// status + 0x00 + id, for every delivery: List by status
	bucketStatus = []byte("status")
	// updatedAt(8) + id, for final deliveries only: retention
	bucketFinal = []byte("final")
	// seenAt(8) + idempotency key -> id: the idempotency keys of the
	// dedupe window, found by key through the key index (keyindex.go)
	bucketDedupeAt = []byte("dedupe_at")
	// format 2's idempotency key -> seenAt(8) + id; Open moves it into
	// dedupe_at's values and the key index
	bucketDedupeV2 = []byte("dedupe")
	// namespace -> nested bucket of the plugin key-value store
	bucketKV = []byte("kv")
	// store metadata: format version, last ping
	bucketMeta = []byte("meta")
)

var allBuckets = [][]byte{
	bucketDeliveries, bucketEnvelopes, bucketReady, bucketStatus,
	bucketFinal, bucketDedupeAt, bucketKV, bucketMeta,
}

// formatVersion is stored under meta/version; Open refuses other versions.
// Version 2 stores envelopes as fields JSON + raw payload, S2-compressed
// (see codec.go) and keeps the ingest log position in meta. Version 3
// keeps the delivery id of each idempotency key in dedupe_at and finds
// keys through the key index instead of the dedupe bucket. Version 4
// has the ingest log in segments (<file>.wal.N, with padding records)
// holding the queue until claims, and a key index written without fsync
// (its stamp changes at each Open). Open upgrades version 1, 2 and 3
// files in place (their JSON envelopes stay readable, and their logs
// are read), so an older hookgate refuses the file rather than
// misreading it: a version 3 binary would miss the segments past .wal.1
// and stop at the first padding record.
const (
	formatVersion   = "4"
	formatVersionV3 = "3"
	formatVersionV2 = "2"
	formatVersionV1 = "1"
)

// nanos is t as unsigned big-endian-sortable unix nanoseconds; the zero
// time and times before 1970 sort first as 0.
func nanos(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// timeKey is the 8-byte big-endian time followed by suffix.
func timeKey(t time.Time, suffix string) []byte {
	k := make([]byte, 8+len(suffix))
	binary.BigEndian.PutUint64(k, nanos(t))
	copy(k[8:], suffix)
	return k
}

// splitTimeKey undoes timeKey.
func splitTimeKey(k []byte) (uint64, string) {
	if len(k) < 8 {
		return 0, ""
	}
	return binary.BigEndian.Uint64(k), string(k[8:])
}

// readyKey orders a queued delivery in the ready index: by the time it
// becomes ready (NotBefore, or when it was queued), then by id.
func readyKey(r *record) []byte {
	at := r.NotBefore
	if at.IsZero() {
		at = r.UpdatedAt
	}
	return timeKey(at, r.ID)
}

// finalKey orders a final delivery in the retention index.
func finalKey(r *record) []byte { return timeKey(r.UpdatedAt, r.ID) }

// statusPrefix starts every status index key of status s.
func statusPrefix(s queue.Status) []byte { return append([]byte(s), 0) }

// statusKey is the status index key of a delivery.
func statusKey(s queue.Status, id string) []byte {
	return append(statusPrefix(s), id...)
}
