package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Reading a delivery's body within budgets. The receiver streams request
// bodies (fiber's StreamRequestBody): fasthttp hands the handler the
// headers and at most 8 KiB, and the handler reads the rest itself. Every
// byte of buffer it holds is first reserved from a budget shared by every
// request in flight, as the bytes arrive (a client that declares 25 MiB
// and sends nothing holds nothing), so the memory bodies take at once is
// bounded whatever arrives, before anyone is authenticated. Bodies of
// ordinary size (smallBody) may use a margin beyond the budget that large
// ones cannot, so large bodies, however many, never starve GitLab's
// ordinary deliveries.

// smallBody is the size up to which a body may use the small margin.
const smallBody = 256 << 10

// inflight is a budget of request bytes held at once.
type inflight struct {
	max   int64 // for any body
	small int64 // more, for bodies of at most smallBody
	used  atomic.Int64
}

// limit is the budget for a body that holds total bytes.
func (b *inflight) limit(total int64) int64 {
	if total <= smallBody {
		return b.max + b.small
	}
	return b.max
}

// take reserves n more bytes for a body that will then hold total bytes;
// false when that would pass the budget.
func (b *inflight) take(n, total int64) bool {
	if b.used.Add(n) > b.limit(total) {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *inflight) give(n int64) { b.used.Add(-n) }

// bodyPool keeps the buffers of ordinary deliveries (GitLab's are a few
// KiB); larger buffers are dropped after use.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// readError is why a body was not read: the status and the answer.
type readError struct {
	status int
	msg    string
	answer string // metrics label
}

var (
	errTooLarge = errors.New("body too large")
	errBudget   = errors.New("too many request bytes in flight; retry later")
)

// body reads the request body, at most r.MaxBodyBytes, reserving its
// buffer from the in-flight budget as it grows. It returns the bytes and a
// release function to call once nothing refers to them any more.
func (r *receiver) body(c *fiber.Ctx) ([]byte, func(), *readError) {
	req := c.Request()
	limit := int64(r.MaxBodyBytes)
	if n := int64(req.Header.ContentLength()); n > limit { // -1: chunked, -2: none
		return nil, nil, &readError{fiber.StatusRequestEntityTooLarge, "body larger than " + strconv.FormatInt(limit, 10) + " bytes", AnswerTooLarge}
	}
	rb := &reservedBuf{budget: r.budget, buf: bodyPool.Get().(*[]byte), limit: limit}
	if n := int64(req.Header.ContentLength()); n >= 0 {
		rb.limit = n // the buffer never grows past the declared length
	}
	*rb.buf = (*rb.buf)[:0]
	var err error
	if s := req.BodyStream(); s != nil {
		err = rb.readFrom(s, limit)
	} else {
		err = rb.append(req.Body(), limit)
	}
	switch {
	case err == nil:
		return *rb.buf, rb.release, nil
	case errors.Is(err, errTooLarge):
		rb.release()
		return nil, nil, &readError{fiber.StatusRequestEntityTooLarge, "body larger than " + strconv.FormatInt(limit, 10) + " bytes", AnswerTooLarge}
	case errors.Is(err, errBudget):
		rb.release()
		return nil, nil, &readError{fiber.StatusServiceUnavailable, errBudget.Error(), AnswerUnavailable}
	}
	rb.release()
	return nil, nil, &readError{fiber.StatusBadRequest, "reading the body: " + err.Error(), AnswerBadRequest}
}

// reservedBuf is a body buffer whose capacity is reserved from a budget.
type reservedBuf struct {
	budget *inflight
	buf    *[]byte
	held   int64 // bytes reserved: the buffer's capacity once grown
	limit  int64 // the most the buffer grows to: the declared length, else the body limit
}

// grow makes room for at least n more bytes (doubling the buffer), with
// the buffer's whole capacity reserved.
func (rb *reservedBuf) grow(n int) error {
	b := *rb.buf
	want := cap(b)
	if want-len(b) < n {
		// Double, but not past the declared length (plus one byte, to
		// see a body longer than declared).
		want = max(min(2*cap(b), int(rb.limit)+1), len(b)+n)
	}
	if int64(want) > rb.held {
		if !rb.budget.take(int64(want)-rb.held, int64(want)) {
			return errBudget
		}
		rb.held = int64(want)
	}
	if cap(b) < want {
		nb := make([]byte, len(b), want)
		copy(nb, b)
		*rb.buf = nb
	}
	return nil
}

// readFrom appends what s yields, failing with errTooLarge past limit
// bytes and errBudget when the budget cannot hold the next part. The
// buffer grows only as data fills it.
func (rb *reservedBuf) readFrom(s io.Reader, limit int64) error {
	for {
		if err := rb.grow(1); err != nil {
			return err
		}
		b := *rb.buf
		m, err := s.Read(b[len(b):cap(b)])
		*rb.buf = b[:len(b)+m]
		if int64(len(*rb.buf)) > limit {
			return errTooLarge
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// append appends p (a body fasthttp already read).
func (rb *reservedBuf) append(p []byte, limit int64) error {
	if int64(len(p)) > limit {
		return errTooLarge
	}
	if err := rb.grow(len(p)); err != nil {
		return err
	}
	*rb.buf = append(*rb.buf, p...)
	return nil
}

// release gives the reservation back and the buffer to the pool.
func (rb *reservedBuf) release() {
	rb.budget.give(rb.held)
	rb.held = 0
	if cap(*rb.buf) <= smallBody {
		*rb.buf = (*rb.buf)[:0]
		bodyPool.Put(rb.buf)
	}
}

// expect answers Expect: 100-continue for deliveries: 413 for a body over
// the limit and 503 when the in-flight budget cannot hold it now, from the
// headers, before the body is sent.
func (r *receiver) expect(fc *fasthttp.RequestCtx) int {
	if string(fc.Path()) != "/hooks/gitlab" {
		return fasthttp.StatusContinue
	}
	n := int64(fc.Request.Header.ContentLength())
	var e *readError
	switch {
	case n > int64(r.MaxBodyBytes):
		e = &readError{fiber.StatusRequestEntityTooLarge, "body larger than " + strconv.Itoa(r.MaxBodyBytes) + " bytes", AnswerTooLarge}
	case n > 0 && r.budget.used.Load()+n > r.budget.limit(n):
		e = &readError{fiber.StatusServiceUnavailable, "too many request bytes in flight; retry later", AnswerUnavailable}
		fc.Response.Header.Set(fiber.HeaderRetryAfter, "1")
	default:
		return fasthttp.StatusContinue
	}
	r.Metrics.delivery("", e.answer)
	fc.SetContentType(fiber.MIMEApplicationJSON)
	b, _ := json.Marshal(map[string]string{"error": e.msg})
	fc.SetBody(b)
	return e.status
}

// readAtMost appends what s yields to dst, failing with errTooLarge past
// limit bytes.
func readAtMost(dst []byte, s io.Reader, limit int64) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		m, err := s.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if int64(len(dst)) > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// refuseAmbiguousFraming returns the middleware that refuses, on every route, a request
// whose framing a proxy in front could read differently than fasthttp
// does (request smuggling): a Transfer-Encoding other than exactly
// "chunked" (fasthttp reads "identity" as no body, leaving the body to be
// read as the next request), or one together with Content-Length. It
// answers 400 and closes the connection, so nothing after the headers is
// ever read as a request. (fasthttp itself refuses repeated or unknown
// codings and conflicting lengths.)
func refuseAmbiguousFraming(m *Metrics) fiber.Handler {
	return func(c *fiber.Ctx) error {
		te, cl := framingHeaders(c.Request().Header.RawHeaders())
		if te == nil || (!cl && bytes.EqualFold(bytes.TrimSpace(te), []byte("chunked"))) {
			return c.Next()
		}
		if c.Path() == "/hooks/gitlab" {
			m.delivery("", AnswerBadRequest)
		}
		c.Context().SetConnectionClose()
		return reply(c, fiber.StatusBadRequest, fiber.Map{"error": "ambiguous request framing: Transfer-Encoding must be exactly chunked, without Content-Length"})
	}
}

// framingHeaders returns the value of the Transfer-Encoding line of raw
// request headers (nil when there is none) and whether a Content-Length
// line is there too.
func framingHeaders(raw []byte) (te []byte, cl bool) {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch name = bytes.TrimSpace(name); len(name) {
		case len("Transfer-Encoding"):
			if bytes.EqualFold(name, []byte("Transfer-Encoding")) {
				te = bytes.TrimRight(value, "\r")
			}
		case len("Content-Length"):
			cl = cl || bytes.EqualFold(name, []byte("Content-Length"))
		}
	}
	return te, cl
}
