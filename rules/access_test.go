package rules

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
)

func TestAccessCache(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	fake := &fakeAccess{levels: map[int64]int{1: AccessDeveloper, 2: AccessGuest, 3: AccessOwner}}
	c := NewAccessCache(fake, time.Minute, 2)
	c.now = func() time.Time { return now }
	env := &envelope.Envelope{Instance: "https://gitlab.example.com", Project: envelope.Project{ID: 5}}

	ask := func(user int64, wantLevel, wantCalls int) {
		t.Helper()
		level, err := c.AccessLevel(ctx, env, user)
		if err != nil || level != wantLevel || fake.count() != wantCalls {
			t.Fatalf("user %d: level %d, err %v, calls %d; want %d, %d calls", user, level, err, fake.count(), wantLevel, wantCalls)
		}
	}
	ask(1, AccessDeveloper, 1)
	ask(1, AccessDeveloper, 1) // cached
	now = now.Add(59 * time.Second)
	ask(1, AccessDeveloper, 1)
	now = now.Add(2 * time.Second) // expired
	ask(1, AccessDeveloper, 2)

	other := *env
	other.Project.ID = 6
	if _, err := c.AccessLevel(ctx, &other, 1); err != nil || fake.count() != 3 {
		t.Fatalf("another project must not share the entry: calls %d", fake.count())
	}
	// The cache holds 2 entries: a third empties it (none expired yet).
	ask(2, AccessGuest, 4)
	ask(1, AccessDeveloper, 5)

	// Errors are not cached.
	fake.err = errors.New("gitlab down")
	if _, err := c.AccessLevel(ctx, env, 3); err == nil {
		t.Fatal("error swallowed")
	}
	fake.err = nil
	ask(3, AccessOwner, 7)
}
