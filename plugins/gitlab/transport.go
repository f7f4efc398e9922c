package gitlab

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// MaxResponseBytes caps every API response body (file contents included);
// a larger answer fails the call with ErrResponseTooLarge.
const MaxResponseBytes = 8 << 20

// maxErrorBody is how much of an error answer is kept for its message.
const maxErrorBody = 8 << 10

// ErrResponseTooLarge is returned when an answer exceeds MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response too large (over 8 MiB)")

// captureKey carries a *capture in a request context.
type captureKey struct{}

// capture receives the start of an error answer's body. client-go drops the
// body of a 404 before returning, so the transport keeps it here.
type capture struct {
	body []byte
}

// captureTransport copies the start of every error answer into the
// request's capture (if any) and caps every body at MaxResponseBytes.
type captureTransport struct {
	base  http.RoundTripper
	limit int64 // MaxResponseBytes; smaller in tests
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body := resp.Body
	if resp.StatusCode >= 400 {
		if c, ok := req.Context().Value(captureKey{}).(*capture); ok {
			head, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
			c.body = head
			resp.Body = &cappedBody{r: io.MultiReader(bytes.NewReader(head), body), c: body, left: t.limit}
			return resp, nil
		}
	}
	resp.Body = &cappedBody{r: body, c: body, left: t.limit}
	return resp, nil
}

// cappedBody fails reads past its limit instead of truncating silently.
type cappedBody struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Allow EOF exactly at the limit.
		var one [1]byte
		if n, _ := io.ReadFull(b.r, one[:]); n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.c.Close() }
