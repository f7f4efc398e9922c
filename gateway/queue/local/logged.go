package local

import (
	"hash/maphash"
	"time"
)

// logged is a delivery in the ingest log and not in bbolt yet: where its
// record is, and what taking it in order needs without reading it. 32
// bytes, so that a backlog of half a million costs 16 MiB, and no
// pointer, so that the garbage collector never scans a backlog (it did
// at every cycle while entries named their segment by pointer).
type logged struct {
	seg  uint32 // number of its segment (wal.segment)
	off  uint32 // of its record in the segment
	size uint32 // of its record, header included
	// delayed says it was enqueued with a NotBefore: claims put it in
	// bbolt's ready index, which orders it by that time.
	delayed bool
	// ready is when it may be claimed (unix nanoseconds): NotBefore, or
	// when it was enqueued.
	ready int64
	// idHash is the hash of its id: Get, Finish and Requeue find a logged
	// delivery by scanning for it, then reading the record.
	idHash uint64
}

// loggedChunk is the number of entries in each chunk of a loggedQueue.
const loggedChunk = 4096

// loggedQueue holds the logged deliveries in log order: the log writer
// pushes at the back, whoever takes them into bbolt pops at the front.
// Entries are numbered from 0 at Open (seq), so that an entry can be named
// while others are taken. Chunks keep a long queue from ever being copied
// whole. Not safe for concurrent use: ingest.mu guards it.
type loggedQueue struct {
	chunks [][]logged
	head   int    // index of the first entry in chunks[0]
	seq    uint64 // number of the first entry
	n      int
	bytes  int64 // of their records

	// keys finds the entry of an idempotency key by its hash; the record
	// confirms it. A key whose hash is already taken by another live key
	// (never seen in practice) goes to collided, whole.
	keys     map[uint64]uint64
	collided map[string]uint64
	seed     maphash.Seed
	// keysPeak is the most keys held since keys was made: a Go map never
	// shrinks, so an emptied queue makes a new one after a big backlog.
	keysPeak int
}

func newLoggedQueue() *loggedQueue {
	return &loggedQueue{keys: map[uint64]uint64{}, seed: maphash.MakeSeed()}
}

func (q *loggedQueue) hash(s string) uint64 { return maphash.String(q.seed, s) }

// tail is the number the next pushed entry gets.
func (q *loggedQueue) tail() uint64 { return q.seq + uint64(q.n) }

// at returns the i-th entry from the front.
func (q *loggedQueue) at(i int) *logged {
	i += q.head
	return &q.chunks[i/loggedChunk][i%loggedChunk]
}

// push adds e at the back, with its idempotency key ("" for none), and
// returns its number.
func (q *loggedQueue) push(e logged, key string) uint64 {
	seq := q.tail()
	i := q.head + q.n
	if i/loggedChunk == len(q.chunks) {
		q.chunks = append(q.chunks, make([]logged, loggedChunk))
	}
	q.chunks[i/loggedChunk][i%loggedChunk] = e
	q.n++
	q.bytes += int64(e.size)
	if key != "" {
		h := q.hash(key)
		if old, taken := q.keys[h]; taken && old >= q.seq {
			if q.collided == nil {
				q.collided = map[string]uint64{}
			}
			q.collided[key] = seq
		} else {
			q.keys[h] = seq
			q.keysPeak = max(q.keysPeak, len(q.keys))
		}
	}
	return seq
}

// pop drops the first len(keys) entries, whose idempotency keys are keys
// ("" for none).
func (q *loggedQueue) pop(keys []string) {
	for _, key := range keys {
		e := q.at(0)
		if key != "" {
			if h := q.hash(key); q.keys[h] == q.seq {
				delete(q.keys, h)
			} else if seq, ok := q.collided[key]; ok && seq == q.seq {
				delete(q.collided, key)
			}
		}
		q.bytes -= int64(e.size)
		*e = logged{}
		q.seq++
		q.n--
		q.head++
		if q.head == loggedChunk {
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
			q.head = 0
		}
	}
	if q.n == 0 { // empty: the next entry reuses the start of the chunk
		q.head = 0
		if q.keysPeak > 1<<16 {
			q.keys, q.keysPeak = map[uint64]uint64{}, 0
		}
	}
}

// findKey returns the entries that may hold key: the one its hash names
// and, when key collided, its own. The caller confirms with the record.
func (q *loggedQueue) findKey(key string) []loggedAt {
	// Entries taken whose key was not known (a damaged record) leave
	// stale numbers behind: below q.seq, they name nothing.
	var out []loggedAt
	if seq, ok := q.keys[q.hash(key)]; ok && seq >= q.seq {
		out = append(out, loggedAt{seq, *q.at(int(seq - q.seq))})
	}
	if seq, ok := q.collided[key]; ok && seq >= q.seq {
		out = append(out, loggedAt{seq, *q.at(int(seq - q.seq))})
	}
	return out
}

// findID returns the entries numbered in [from, to) whose id hash is h:
// a scan (half a millisecond for 300,000 entries), for the rare calls
// that name a delivery that may be logged only; callers scan a long queue
// a chunk at a time, so that the lock is not held for long. Numbers below
// the first entry's are skipped. The caller confirms with the record.
func (q *loggedQueue) findID(h uint64, from, to uint64) []loggedAt {
	from, to = max(from, q.seq), min(to, q.tail())
	var out []loggedAt
	for seq := from; seq < to; seq++ {
		if e := q.at(int(seq - q.seq)); e.idHash == h {
			out = append(out, loggedAt{seq, *e})
		}
	}
	return out
}

// loggedAt is an entry and its number.
type loggedAt struct {
	seq uint64
	logged
}

// readyAt is when a delivery enqueued at at with NotBefore nb may be
// claimed, as logged.ready.
func readyAt(at, nb time.Time) int64 {
	if !nb.IsZero() {
		return int64(nanos(nb))
	}
	return int64(nanos(at))
}
