package local

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/envelope/command"
	"github.com/hookgate/hookgate/gateway/queue"
)

func TestEnvelopeCodec(t *testing.T) {
	full := envelope.Envelope{
		ID: "id-1", Kind: "note", Event: "Note Hook", Note: "/packit build",
		Project:  envelope.Project{ID: 7, Path: "g/p"},
		Labels:   []string{"bug"},
		Commands: []command.Command{{Name: "packit", Args: []string{"build"}, Line: "/packit build"}},
		Payload:  json.RawMessage(`{"object_kind": "note", "x": [1, 2]}`),
	}
	big := full
	big.Payload = json.RawMessage(`{"description": "` + strings.Repeat("lorem ipsum ", 200) + `"}`)
	noPayload := full
	noPayload.Payload = nil
	oldJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		raw  func(t *testing.T) []byte
		want envelope.Envelope
	}{
		{"raw payload", func(t *testing.T) []byte { return mustEncode(t, &full) }, full},
		{"compressed", func(t *testing.T) []byte {
			b := mustEncode(t, &big)
			if b[0] != envelopeS2 || len(b) > len(big.Payload)/2 {
				t.Errorf("a %d-byte payload took %d bytes (format %#x): not compressed", len(big.Payload), len(b), b[0])
			}
			return b
		}, big},
		{"no payload", func(t *testing.T) []byte { return mustEncode(t, &noPayload) }, noPayload},
		{"plain JSON of earlier versions", func(*testing.T) []byte { return oldJSON }, full},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.raw(t)
			var got envelope.Envelope
			if err := decodeEnvelope(b, &got); err != nil {
				t.Fatal(err)
			}
			for i := range b {
				b[i] = 0 // the decoded envelope shares no memory with b
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Errorf("round trip:\n got %s\nwant %s", g, w)
			}
		})
	}
	if err := decodeEnvelope([]byte{envelopeRaw, 0xff}, &envelope.Envelope{}); err == nil {
		t.Error("truncated envelope decoded without error")
	}
}

func mustEncode(t *testing.T, e *envelope.Envelope) []byte {
	t.Helper()
	b, err := encodeEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenUpgradesVersion1: a file written by the first format (JSON
// envelopes) opens, its deliveries read as before, and it is marked version
// 2 so that an older hookgate refuses it; an unknown version is refused.
func TestOpenUpgradesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	id := mustEnqueue(t, s, delivery("note"))
	settled(t, s)
	env := envelope.Envelope{ID: id, Kind: "note", Note: "old", Payload: json.RawMessage(`{"object_kind":"note"}`)}
	oldJSON, _ := json.Marshal(env)
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketEnvelopes).Put([]byte(id), oldJSON); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("version"), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{})
	if got := mustGet(t, s, id); got.Envelope.Note != "old" || string(got.Envelope.Payload) != `{"object_kind":"note"}` {
		t.Errorf("version 1 envelope read as %+v", got.Envelope)
	}
	var version string
	_ = s.db.View(func(tx *bolt.Tx) error { version = string(tx.Bucket(bucketMeta).Get([]byte("version"))); return nil })
	if version != formatVersion {
		t.Errorf("version %q after open, want %q", version, formatVersion)
	}
	_ = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("version"), []byte("9")) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{Policy: queue.Policy{SweepInterval: -1}, Logger: testLogger(t)}); err == nil {
		s.Close()
		t.Error("a store of an unknown format version opened")
	}
}
