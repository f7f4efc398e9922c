package queue

import "time"

// Policy is what a backend remembers and keeps, and how often it tidies
// up: deduplication of idempotency keys, quarantine of deliveries whose
// runs kill the process, retention of final deliveries, and the janitor
// that enforces them. Every backend embeds it in its Options, so its
// fields read as the Options' own (opts.DedupeWindow).
//
// In every field 0 means the backend's default (WithDefaults fills it in)
// and a negative value turns the feature off.
type Policy struct {
	// DedupeWindow is how long an idempotency key (Delivery.Key) is
	// remembered. 0 means the backend's default; negative disables
	// deduplication.
	DedupeWindow time.Duration
	// QuarantineAfter is the number of runs that did not reach Finish after
	// which Claim marks a delivery dead. 0 means the backend's default;
	// negative never quarantines.
	QuarantineAfter int
	// RetainFor is how long final (done, failed, dead) deliveries are kept
	// after their last change. 0 means the backend's default; negative
	// keeps them regardless of age.
	RetainFor time.Duration
	// RetainCount is how many final deliveries are kept at most (the most
	// recently changed). 0 means the backend's default; negative means no
	// limit. Queued and running deliveries are never deleted.
	RetainCount int
	// SweepInterval is how often the backend's janitor prunes expired
	// idempotency keys and applies retention (and whatever else the
	// backend repairs). 0 means the backend's default; negative starts no
	// janitor.
	SweepInterval time.Duration
}

// WithDefaults returns p with each zero field taken from d. Negative
// fields (off) and positive ones are kept as they are.
func (p Policy) WithDefaults(d Policy) Policy {
	if p.DedupeWindow == 0 {
		p.DedupeWindow = d.DedupeWindow
	}
	if p.QuarantineAfter == 0 {
		p.QuarantineAfter = d.QuarantineAfter
	}
	if p.RetainFor == 0 {
		p.RetainFor = d.RetainFor
	}
	if p.RetainCount == 0 {
		p.RetainCount = d.RetainCount
	}
	if p.SweepInterval == 0 {
		p.SweepInterval = d.SweepInterval
	}
	return p
}
