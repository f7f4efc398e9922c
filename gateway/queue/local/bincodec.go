package local

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/envelope/command"
	"github.com/hookgate/hookgate/gateway/queue"
)

// The binary forms of records and envelope fields: every field in
// declaration order, strings and byte strings length-prefixed (uvarint),
// integers as varints, lists as uvarint(len+1) with 0 for nil (so nil and
// empty lists survive, as they do in JSON), times as a flag byte, unix
// nanoseconds and the zone offset in seconds. They cost a fraction of
// encoding/json, which showed as a tenth of the CPU of each delivery
// (decoding the envelope at every claim, the record at every claim and
// finish). TestBinaryCodecCoversEveryField fills every field of both types
// through reflection and fails when one is added here without being
// encoded.

// enc appends binary fields to b.
type enc struct{ b []byte }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *enc) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *enc) bytes(s []byte) {
	if s == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(s)) + 1)
	e.b = append(e.b, s...)
}

func (e *enc) strs(v []string) {
	if v == nil {
		e.uint(0)
		return
	}
	e.uint(uint64(len(v)) + 1)
	for _, s := range v {
		e.str(s)
	}
}

func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	_, off := t.Zone()
	e.b = append(e.b, 1)
	e.int(t.UnixNano())
	e.int(int64(off))
}

func (e *enc) command(c command.Command) {
	e.str(c.Name)
	e.strs(c.Args)
	e.str(c.Line)
}

// dec reads binary fields. Strings are cut from s, one string holding the
// whole input, so decoding allocates once for all of them. The first
// malformed field sets err; later reads return zero values.
type dec struct {
	s   string
	i   int
	err error
}

var errMalformed = errors.New("malformed binary value")

func (d *dec) fail() { d.err, d.i = errMalformed, len(d.s) }

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for n := 0; ; n++ {
		if d.i >= len(d.s) || n == binary.MaxVarintLen64 {
			d.fail()
			return 0
		}
		c := d.s[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
		shift += 7
	}
}

func (d *dec) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
}

func (d *dec) bool() bool {
	if d.err != nil || d.i >= len(d.s) {
		d.fail()
		return false
	}
	c := d.s[d.i]
	d.i++
	return c != 0
}

// take returns the next n bytes as a string sharing d.s.
func (d *dec) take(n uint64) string {
	if d.err != nil || n > uint64(len(d.s)-d.i) {
		d.fail()
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *dec) str() string { return d.take(d.uint()) }

func (d *dec) bytes() []byte {
	n := d.uint()
	if n == 0 {
		return nil
	}
	return []byte(d.take(n - 1))
}

func (d *dec) strs() []string {
	n := d.uint()
	if n == 0 || d.err != nil {
		return nil
	}
	if n-1 > uint64(len(d.s)-d.i) { // each string takes a byte at least
		d.fail()
		return nil
	}
	v := make([]string, n-1)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

func (d *dec) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	ns, off := d.int(), d.int()
	t := time.Unix(0, ns)
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}

func (d *dec) command() command.Command {
	return command.Command{Name: d.str(), Args: d.strs(), Line: d.str()}
}

// recordBinary starts a record in binary form; records of version 1 files
// are JSON and start with '{'.
const recordBinary = 0x01

func appendRecord(b []byte, r *record) []byte {
	e := enc{b: append(b, recordBinary)}
	e.str(r.ID)
	e.str(r.Key)
	e.time(r.ReceivedAt)
	if r.Headers == nil {
		e.uint(0)
	} else {
		e.uint(uint64(len(r.Headers)) + 1)
		for k, v := range r.Headers {
			e.str(k)
			e.str(v)
		}
	}
	e.str(r.Kind)
	e.str(r.Project)
	e.str(string(r.Status))
	e.int(int64(r.Attempts))
	e.int(int64(r.Finished))
	e.time(r.NotBefore)
	e.time(r.UpdatedAt)
	e.str(r.Error)
	e.bytes(r.Outcomes)
	return e.b
}

// readRecord decodes the binary record b (without its leading byte).
func readRecord(b []byte) (*record, error) {
	d := dec{s: string(b)}
	r := &record{ID: d.str(), Key: d.str(), ReceivedAt: d.time()}
	if n := d.uint(); n > 0 && d.err == nil {
		if n-1 > uint64(len(d.s)-d.i) {
			d.fail()
		} else {
			r.Headers = make(map[string]string, n-1)
			for range n - 1 {
				k := d.str()
				r.Headers[k] = d.str()
			}
		}
	}
	r.Kind, r.Project, r.Status = d.str(), d.str(), queue.Status(d.str())
	r.Attempts, r.Finished = int(d.int()), int(d.int())
	r.NotBefore, r.UpdatedAt = d.time(), d.time()
	r.Error = d.str()
	r.Outcomes = d.bytes()
	if d.err == nil && d.i != len(d.s) {
		d.fail()
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// appendEnvelopeFields appends every field of e but the payload.
func appendEnvelopeFields(b []byte, e *envelope.Envelope) []byte {
	w := enc{b: b}
	w.str(e.ID)
	w.str(e.Kind)
	w.str(e.Event)
	w.str(e.Action)
	w.str(e.Instance)
	w.int(e.Project.ID)
	w.str(e.Project.Path)
	w.str(e.Project.URL)
	w.int(e.User.ID)
	w.str(e.User.Username)
	w.str(e.User.Name)
	w.str(e.Ref)
	w.str(e.Branch)
	w.str(e.Tag)
	w.str(e.SHA)
	w.str(e.Note)
	w.str(e.NoteableType)
	w.int(e.NoteID)
	w.bool(e.System)
	mr := &e.MergeRequest
	w.int(mr.IID)
	w.str(mr.Title)
	w.str(mr.State)
	w.str(mr.SourceBranch)
	w.str(mr.TargetBranch)
	w.strs(mr.Labels)
	w.bool(mr.Draft)
	w.int(mr.SourceProjectID)
	is := &e.Issue
	w.int(is.IID)
	w.str(is.Title)
	w.str(is.State)
	w.strs(is.Labels)
	w.strs(e.Labels)
	if e.Commands == nil {
		w.uint(0)
	} else {
		w.uint(uint64(len(e.Commands)) + 1)
		for _, c := range e.Commands {
			w.command(c)
		}
	}
	w.command(e.Command)
	return w.b
}

// readEnvelopeFields decodes what appendEnvelopeFields wrote into e and
// returns the bytes that follow.
func readEnvelopeFields(b []byte, e *envelope.Envelope) ([]byte, error) {
	d := dec{s: string(b)} // one copy: every string below shares it
	e.ID, e.Kind, e.Event, e.Action, e.Instance = d.str(), d.str(), d.str(), d.str(), d.str()
	e.Project = envelope.Project{ID: d.int(), Path: d.str(), URL: d.str()}
	e.User = envelope.User{ID: d.int(), Username: d.str(), Name: d.str()}
	e.Ref, e.Branch, e.Tag, e.SHA = d.str(), d.str(), d.str(), d.str()
	e.Note, e.NoteableType, e.NoteID, e.System = d.str(), d.str(), d.int(), d.bool()
	e.MergeRequest = envelope.MergeRequest{
		IID: d.int(), Title: d.str(), State: d.str(), SourceBranch: d.str(), TargetBranch: d.str(),
		Labels: d.strs(), Draft: d.bool(), SourceProjectID: d.int(),
	}
	e.Issue = envelope.Issue{IID: d.int(), Title: d.str(), State: d.str(), Labels: d.strs()}
	e.Labels = d.strs()
	e.Commands = nil
	if n := d.uint(); n > 0 && d.err == nil {
		if n-1 > uint64(len(d.s)-d.i) {
			d.fail()
		} else {
			e.Commands = make([]command.Command, n-1)
			for i := range e.Commands {
				e.Commands[i] = d.command()
			}
		}
	}
	e.Command = d.command()
	if d.err != nil {
		return nil, d.err
	}
	return b[d.i:], nil
}
