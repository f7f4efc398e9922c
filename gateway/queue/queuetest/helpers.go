package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Helpers shared by the suite and by the backends' own tests.

// wait bounds every blocking call of the suite.
const wait = 10 * time.Second

// Context returns a context that ends with t or after 10 seconds, the
// bound of every blocking call of a test.
func Context(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// Delivery returns a minimal delivery of kind on project 1 ("g/a"), whose
// payload holds only the object_kind.
func Delivery(kind string) *queue.Delivery {
	return &queue.Delivery{Envelope: envelope.Envelope{
		Kind:    kind,
		Project: envelope.Project{ID: 1, Path: "g/a"},
		Payload: json.RawMessage(`{"object_kind":"` + kind + `"}`),
	}}
}

// Opened returns b, the result of opening a backend, and closes it when t
// ends, reporting an error of Close. A non-nil err fails t at once.
func Opened[B io.Closer](t *testing.T, b B, err error) B {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

// Claim claims a delivery of b, failing t if none comes within Context's
// bound.
func Claim(t *testing.T, b queue.Backend) *queue.Delivery {
	t.Helper()
	d, err := b.Claim(Context(t))
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return d
}

// NoClaim fails t unless Claim on b finds nothing ready within d.
func NoClaim(t *testing.T, b queue.Backend, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	got, err := b.Claim(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("claim on nothing ready = %v, %v; want context.DeadlineExceeded", got, err)
	}
}
