package gateway

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// The request headers the receiver reads: those stored with each
// delivery (keptHeaders, by index), and the secrets and the encoding,
// which are never stored.
const (
	hEvent = iota
	hInstance
	hEventUUID
	hWebhookUUID
	hIdempotencyKey
	hWebhookID
	hWebhookTimestamp
	hUserAgent
	numKept
)

// keptHeaders are the request headers stored with each delivery, under
// these names. The token and signature headers are never among them.
var keptHeaders = [numKept]string{
	hEvent:            "X-Gitlab-Event",
	hInstance:         "X-Gitlab-Instance",
	hEventUUID:        "X-Gitlab-Event-UUID",
	hWebhookUUID:      "X-Gitlab-Webhook-UUID",
	hIdempotencyKey:   "Idempotency-Key",
	hWebhookID:        "webhook-id",
	hWebhookTimestamp: "webhook-timestamp",
	hUserAgent:        "User-Agent",
}

// headers are the values of one request's headers the receiver reads,
// taken in one pass over them (looking up each by name cost 1.2 us a
// delivery). Values are views of the request's memory: valid during the
// handler only. The first of repeated headers wins, and an empty value
// counts as absent, as with fiber's Get.
type headers struct {
	kept            [numKept]string
	token           string // X-Gitlab-Token
	signature       string // webhook-signature
	contentEncoding string
}

func (in *headers) read(h *fasthttp.RequestHeader) {
	h.VisitAll(func(k, v []byte) {
		if len(v) == 0 {
			return
		}
		var dst *string
		switch len(k) {
		case 10:
			switch {
			case bytes.EqualFold(k, []byte("webhook-id")):
				dst = &in.kept[hWebhookID]
			case bytes.EqualFold(k, []byte("User-Agent")):
				dst = &in.kept[hUserAgent]
			}
		case 14:
			switch {
			case bytes.EqualFold(k, []byte("X-Gitlab-Event")):
				dst = &in.kept[hEvent]
			case bytes.EqualFold(k, []byte("X-Gitlab-Token")):
				dst = &in.token
			}
		case 15:
			if bytes.EqualFold(k, []byte("Idempotency-Key")) {
				dst = &in.kept[hIdempotencyKey]
			}
		case 16:
			if bytes.EqualFold(k, []byte("Content-Encoding")) {
				dst = &in.contentEncoding
			}
		case 17:
			switch {
			case bytes.EqualFold(k, []byte("X-Gitlab-Instance")):
				dst = &in.kept[hInstance]
			case bytes.EqualFold(k, []byte("webhook-timestamp")):
				dst = &in.kept[hWebhookTimestamp]
			case bytes.EqualFold(k, []byte("webhook-signature")):
				dst = &in.signature
			}
		case 19:
			if bytes.EqualFold(k, []byte("X-Gitlab-Event-UUID")) {
				dst = &in.kept[hEventUUID]
			}
		case 21:
			if bytes.EqualFold(k, []byte("X-Gitlab-Webhook-UUID")) {
				dst = &in.kept[hWebhookUUID]
			}
		}
		if dst != nil && *dst == "" {
			*dst = utils.UnsafeString(v)
		}
	})
}

// keep returns the kept headers present, as a map under keptHeaders'
// names, with their values copied out of the request (into one string).
func (in *headers) keep() map[string]string {
	n, size := 0, 0
	for _, v := range in.kept {
		if v != "" {
			n++
			size += len(v)
		}
	}
	var all strings.Builder
	all.Grow(size)
	for _, v := range in.kept {
		all.WriteString(v)
	}
	copied := all.String()
	m := make(map[string]string, n)
	off := 0
	for i, v := range in.kept {
		if v != "" {
			m[keptHeaders[i]] = copied[off : off+len(v)]
			off += len(v)
		}
	}
	return m
}

// sharedDeadline hands out contexts that end timeout after they were
// made, one shared by all the requests of a deadlineWindow: a context with
// a timer of its own cost every delivery 1.2 us. A request thus waits at
// most timeout, and at least timeout minus deadlineWindow.
type sharedDeadline struct {
	timeout time.Duration
	cur     atomic.Pointer[deadlineCtx]
}

const deadlineWindow = 100 * time.Millisecond

type deadlineCtx struct {
	ctx context.Context
	// cancel is never called: the context ends with its timer, while
	// requests may still hold it.
	cancel     context.CancelFunc
	reuseUntil time.Time
}

func (d *sharedDeadline) context() context.Context {
	now := time.Now()
	if c := d.cur.Load(); c != nil && now.Before(c.reuseUntil) {
		return c.ctx
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	d.cur.Store(&deadlineCtx{ctx: ctx, cancel: cancel, reuseUntil: now.Add(deadlineWindow)})
	return ctx
}
