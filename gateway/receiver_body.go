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
// headers and at most 8 KiB, and the handler decides whether to take the
// rest. A body is read only after the bytes it declares are reserved from
// a budget shared by every request in flight, so the memory bodies can
// take at once is bounded whatever arrives, before anyone is
// authenticated.

// inflight is a budget of request bytes held at once.
type inflight struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes; false when that would pass the budget.
func (b *inflight) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *inflight) give(n int64) { b.used.Add(-n) }

// bodyPool keeps the buffers of ordinary deliveries (GitLab's are a few
// KiB); larger bodies get a buffer of their own, dropped after use.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const pooledBody = 256 << 10

// readError is why a body was not read: the status and the answer.
type readError struct {
	status int
	msg    string
	answer string // metrics label
}

// body reads the request body, at most r.MaxBodyBytes, after reserving it
// from the in-flight budget. It returns the bytes and a release function
// to call once nothing refers to them any more.
func (r *receiver) body(c *fiber.Ctx) ([]byte, func(), *readError) {
	req := c.Request()
	limit := int64(r.MaxBodyBytes)
	n := int64(req.Header.ContentLength()) // -1: chunked, -2: none
	switch {
	case n > limit:
		return nil, nil, &readError{fiber.StatusRequestEntityTooLarge, "body larger than " + strconv.FormatInt(limit, 10) + " bytes", AnswerTooLarge}
	case n == -1 && framedTwice(req.Header.RawHeaders()):
		// Transfer-Encoding and Content-Length: a proxy in front may
		// have read the body by the other one (request smuggling).
		return nil, nil, &readError{fiber.StatusBadRequest, "both Transfer-Encoding and Content-Length are set", AnswerBadRequest}
	}
	reserve := n
	switch n {
	case -1:
		reserve = limit // chunked: the length is known only at the end
	case -2:
		reserve = 0 // no body
	}
	if !r.budget.take(reserve) {
		return nil, nil, &readError{fiber.StatusServiceUnavailable, "too many request bytes in flight; retry later", AnswerUnavailable}
	}
	var buf *[]byte
	if n <= pooledBody { // chunked bodies too: they grow as they come
		buf = bodyPool.Get().(*[]byte)
	} else {
		b := make([]byte, 0, n)
		buf = &b
	}
	release := func() {
		r.budget.give(reserve)
		if cap(*buf) <= pooledBody {
			*buf = (*buf)[:0]
			bodyPool.Put(buf)
		}
	}
	var err error
	if s := req.BodyStream(); s != nil {
		*buf, err = readAtMost((*buf)[:0], s, limit)
	} else {
		*buf = append((*buf)[:0], req.Body()...)
		if int64(len(*buf)) > limit {
			err = errTooLarge
		}
	}
	switch {
	case errors.Is(err, errTooLarge):
		release()
		return nil, nil, &readError{fiber.StatusRequestEntityTooLarge, "body larger than " + strconv.FormatInt(limit, 10) + " bytes", AnswerTooLarge}
	case err != nil:
		release()
		return nil, nil, &readError{fiber.StatusBadRequest, "reading the body: " + err.Error(), AnswerBadRequest}
	}
	return *buf, release, nil
}

var errTooLarge = errors.New("body too large")

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
	case n > 0 && r.budget.used.Load()+n > r.budget.max:
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

// framedTwice reports whether raw request headers hold a Content-Length
// line besides the Transfer-Encoding fasthttp framed the body by.
func framedTwice(raw []byte) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			return true
		}
	}
	return false
}
