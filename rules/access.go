package rules

import (
	"context"
	"sync"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// AccessCache is an AccessChecker that remembers the levels another
// checker answered, per instance, project and user, for a short time, so a
// burst of comments by one user costs one API call. Errors are not cached.
// It lives outside any Set so that its entries survive rule reloads. It is
// safe for concurrent use.
type AccessCache struct {
	next AccessChecker
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu      sync.Mutex
	entries map[accessKey]accessEntry
}

type accessKey struct {
	instance  string
	projectID int64
	userID    int64
}

type accessEntry struct {
	level   int
	expires time.Time
}

// NewAccessCache wraps next. ttl <= 0 means 60s; max <= 0 means 10,000
// entries. When full, expired entries are dropped, and if that is not
// enough the whole cache is emptied (simple, and bounded).
func NewAccessCache(next AccessChecker, ttl time.Duration, max int) *AccessCache {
	if ttl <= 0 {
		ttl = time.Minute
	}
	if max <= 0 {
		max = 10_000
	}
	return &AccessCache{next: next, ttl: ttl, max: max, now: time.Now, entries: map[accessKey]accessEntry{}}
}

// AccessLevel implements AccessChecker.
func (c *AccessCache) AccessLevel(ctx context.Context, env *envelope.Envelope, userID int64) (int, error) {
	key := accessKey{instance: env.Instance, projectID: env.Project.ID, userID: userID}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.level, nil
	}
	level, err := c.next.AccessLevel(ctx, env, userID)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = accessEntry{level: level, expires: now.Add(c.ttl)}
	return level, nil
}
