package local

import (
	"path/filepath"
	"testing"
	"time"
)

// Claim's doc: "Deliveries come in the order they became ready
// (NotBefore, or when they were queued)". The logged queue is in arrival
// order, so a delivery enqueued with a NotBefore is answered once the
// mover has it in the ready index: enqueued second with a NotBefore an
// hour ago, it is claimed first.
func TestLoggedDeliveryWithAPastNotBeforeComesFirst(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	mustEnqueue(t, s, delivery("note"))
	early := delivery("note")
	early.NotBefore = time.Now().Add(-time.Hour)
	id := mustEnqueue(t, s, early)
	if d := mustClaim(t, s); d.ID != id {
		t.Errorf("claimed %s first; %s became ready an hour earlier", d.ID, id)
	}
}
