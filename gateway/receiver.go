package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// Enqueuer is what the receiver needs from the queue.
type Enqueuer interface {
	// Enqueue must return only once the delivery is durable, and keep
	// neither d nor memory d refers to once it returns: the envelope's
	// Payload is the request's body, which the server reuses for the
	// next request (both backends encode the delivery before returning).
	Enqueue(ctx context.Context, d *queue.Delivery) (queue.Receipt, error)
	// Ping reports whether the queue can take writes.
	Ping(ctx context.Context) error
}

// Verifier authenticates a delivery for an instance and a project.
type Verifier interface {
	Verify(instance, projectPath string, h auth.Headers, rawBody []byte, now time.Time) (auth.Result, error)
	// NeedsProject reports whether the secret that applies depends on the
	// project; when not, the body is not read before it is authenticated.
	NeedsProject() bool
}

// ReceiverOptions configure the webhook receiver.
type ReceiverOptions struct {
	Queue    Enqueuer
	Verifier Verifier
	// Wants reports whether any loaded rule can act on an event kind; an
	// event no rule wants is answered 202 "ignored" and not stored. Nil
	// means every kind is wanted.
	Wants func(kind string) bool

	// Instances are the configured GitLab instances' URLs: a delivery must
	// come from one of them (X-Gitlab-Instance, or the only one when the
	// header is absent). None: any instance (nothing is ever sent).
	Instances []string
	// Projects gives GitLab's id of a project when already known, to
	// refuse a body that claims another; nil: only the verifier's.
	Projects ProjectIDs

	MaxBodyBytes int
	// MaxConnections bounds the connections served at once (each costs
	// about 30 KiB of buffers): past it new ones are answered 503 and
	// closed. Default 4096. MaxConnsPerIP bounds them per client address
	// (0: no bound; behind a proxy every connection has its address).
	MaxConnections int
	MaxConnsPerIP  int
	// MaxInflightBytes bounds the request bytes held at once, before
	// authentication; past it a delivery is answered 503 with
	// Retry-After. Default 4 × MaxBodyBytes.
	MaxInflightBytes int64
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	IdleTimeout      time.Duration
	// EnqueueTimeout bounds how long a request waits for the store before
	// answering 503 (give or take 100 ms: requests share their deadlines,
	// see sharedDeadline). Default 8s (GitLab gives up after 10s).
	EnqueueTimeout time.Duration

	Logger *slog.Logger
	Now    func() time.Time
	// Metrics counts every answer and serves GET /metrics; nil means none.
	Metrics *Metrics
	// TrustedProxies are IPs or CIDRs of reverse proxies: for their
	// connections the client address logged is the X-Forwarded-For one.
	TrustedProxies []string
}

// NewReceiver builds the fiber app serving POST /hooks/gitlab, /healthz,
// /readyz and, with Metrics set, /metrics. Mount further routes on the
// returned app before listening.
func NewReceiver(o ReceiverOptions) *fiber.App {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.EnqueueTimeout <= 0 {
		o.EnqueueTimeout = 8 * time.Second
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 4096
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = 4 * int64(o.MaxBodyBytes)
	}
	proxyHeader := ""
	if len(o.TrustedProxies) > 0 {
		proxyHeader = fiber.HeaderXForwardedFor
	}
	app := fiber.New(fiber.Config{
		// X-Forwarded-For is believed only from the trusted proxies.
		EnableTrustedProxyCheck: len(o.TrustedProxies) > 0,
		TrustedProxies:          o.TrustedProxies,
		ProxyHeader:             proxyHeader,
		EnableIPValidation:      true,
		BodyLimit:               o.MaxBodyBytes,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		IdleTimeout:             o.IdleTimeout,
		DisableStartupMessage:   true,
		// The handler reads bodies itself, within the in-flight budget
		// (receiver_body.go): fasthttp passes at most 8 KiB with the
		// headers.
		StreamRequestBody: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			var fe *fiber.Error
			if errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge && c.Path() == "/hooks/gitlab" {
				o.Metrics.delivery("", AnswerTooLarge)
			}
			return jsonError(c, err)
		},
		// Deliveries are small and must not be decompressed; keep fasthttp's
		// header size default, which answers 431 past 4 KiB... per header buffer.
		ReadBufferSize: 16 * 1024,
		Concurrency:    o.MaxConnections,
	})
	app.Server().MaxConnsPerIP = o.MaxConnsPerIP
	// fasthttp's errors before routing (malformed request line or header)
	// quote the request bytes, secrets included: answer them without
	// their text. fiber maps the rest (413, 431, 408) as before.
	fiberServerErrors := app.Server().ErrorHandler
	app.Server().ErrorHandler = func(fc *fasthttp.RequestCtx, err error) {
		if isMalformed(err) {
			fc.Response.Reset()
			fc.SetStatusCode(fiber.StatusBadRequest)
			fc.SetContentType(fiber.MIMEApplicationJSON)
			fc.SetBodyString(`{"error":"malformed HTTP request"}`)
			fc.SetConnectionClose()
			return
		}
		fiberServerErrors(fc, err)
	}
	app.Use(refuseAmbiguousFraming(o.Metrics))
	r := &receiver{ReceiverOptions: o, deadline: sharedDeadline{timeout: o.EnqueueTimeout},
		instances: newInstances(o.Instances), budget: &inflight{max: o.MaxInflightBytes, small: o.MaxInflightBytes / 4}}
	// A client that asks before sending its body (Expect: 100-continue, as
	// curl does for large bodies) is answered from the headers when the
	// body could not be taken; others are answered once the first 8 KiB
	// arrived (see receiver_body.go).
	app.Server().ExpectHandler = r.expect
	o.Metrics.watchInflight(r.budget)
	app.Post("/hooks/gitlab", r.hook)
	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := o.Queue.Ping(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "queue not writable: " + err.Error()})
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})
	o.Metrics.mount(app)
	return app
}

type receiver struct {
	ReceiverOptions
	deadline  sharedDeadline
	instances instances
	budget    *inflight
}

// MaxKeyBytes bounds Idempotency-Key and webhook-id: GitLab sends UUIDs.
const MaxKeyBytes = 1024

// hook receives one delivery. Nothing it does before the delivery is
// authenticated costs more than the body's bytes (reserved from the
// in-flight budget) and a scan of them: the envelope is built only for an
// authenticated delivery.
func (r *receiver) hook(c *fiber.Ctx) error {
	var in headers
	in.read(&c.Request().Header)
	// fiber's c.Body() would inflate a compressed body past BodyLimit;
	// GitLab never compresses deliveries, so refuse any encoding.
	if enc := in.contentEncoding; enc != "" && !strings.EqualFold(enc, "identity") {
		r.Metrics.delivery("", AnswerUnsupportedEncoding)
		return reply(c, fiber.StatusUnsupportedMediaType, fiber.Map{"error": "content-encoding is not accepted; send the body uncompressed"})
	}
	event := in.kept[hEvent]
	if event == "" {
		r.Metrics.delivery("", AnswerBadRequest)
		return reply(c, fiber.StatusBadRequest, fiber.Map{"error": "missing X-Gitlab-Event header"})
	}
	if len(in.kept[hIdempotencyKey]) > MaxKeyBytes || len(in.kept[hWebhookID]) > MaxKeyBytes {
		r.Metrics.delivery("", AnswerBadRequest)
		return reply(c, fiber.StatusBadRequest, fiber.Map{"error": "Idempotency-Key or webhook-id longer than " + strconv.Itoa(MaxKeyBytes) + " bytes"})
	}
	inst, err := r.instances.resolve(in.kept[hInstance])
	if err != nil {
		return r.refuse(c, event, "", IdentityInstance, err)
	}

	// The raw bytes on the wire (what GitLab signed), shared with the
	// envelope's payload: Enqueue keeps none of it.
	raw, release, rerr := r.body(c)
	if rerr != nil {
		r.Metrics.delivery("", rerr.answer)
		c.Context().SetConnectionClose() // the rest of the body, if any, is not read
		if rerr.status == fiber.StatusServiceUnavailable {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return reply(c, rerr.status, fiber.Map{"error": rerr.msg})
	}
	defer release()

	// The secret to check depends on the project only the body names:
	// locate it without building anything per value.
	var loc *envelope.Location
	if r.Verifier.NeedsProject() {
		l, err := envelope.Locate(raw, inst)
		if err != nil {
			r.Metrics.delivery("", AnswerBadRequest)
			return reply(c, fiber.StatusBadRequest, fiber.Map{"error": err.Error()})
		}
		loc = &l
	}
	h := auth.Headers{
		Token:            in.token,
		WebhookID:        in.kept[hWebhookID],
		WebhookTimestamp: in.kept[hWebhookTimestamp],
		WebhookSignature: in.signature,
	}
	path := ""
	if loc != nil {
		path = loc.Path
	}
	res, err := r.Verifier.Verify(inst, path, h, raw, r.Now())
	if err != nil {
		r.Logger.Warn("delivery refused", "event", short(event), "instance", inst, "project", short(path), "ip", c.IP(), "err", err)
		r.Metrics.delivery("", AnswerUnauthorized)
		return reply(c, fiber.StatusUnauthorized, fiber.Map{"error": err.Error()})
	}

	// Authenticated: build the envelope (its parser has a budget of values
	// for the body's size) and check it says what was authenticated.
	env, err := envelope.NormalizeShared(event, raw, inst)
	if err != nil {
		r.Metrics.delivery("", AnswerBadRequest)
		return reply(c, fiber.StatusBadRequest, fiber.Map{"error": err.Error()})
	}
	if err := r.checkIdentity(env, inst, loc, res); err != nil {
		var ie *identityError
		errors.As(err, &ie)
		return r.refuse(c, event, env.Project.Path, ie.reason, err)
	}
	if !envelope.KnownEvent(event) {
		r.Metrics.delivery(env.Kind, AnswerIgnored)
		return reply(c, fiber.StatusAccepted, fiber.Map{"status": "ignored", "reason": "event type " + quote(event) + " is not handled"})
	}
	if r.Wants != nil && !r.Wants(env.Kind) {
		r.Metrics.delivery(env.Kind, AnswerIgnored)
		return reply(c, fiber.StatusAccepted, fiber.Map{"status": "ignored", "reason": "no rule handles kind " + quote(env.Kind)})
	}

	d := &queue.Delivery{
		ReceivedAt: r.Now().UTC(),
		Headers:    in.keep(),
		Envelope:   *env,
		Status:     queue.StatusQueued,
	}
	// GitLab's Idempotency-Key, or the signing scheme's webhook-id (the
	// same value when both are sent). A verified signature covers only
	// webhook-id: then it is the key, whatever Idempotency-Key says, so a
	// captured signed delivery cannot be run again under a fresh key.
	d.Key = d.Headers[keptHeaders[hIdempotencyKey]]
	if d.Key == "" || res.Signed {
		d.Key = d.Headers[keptHeaders[hWebhookID]]
	}
	ctx := r.deadline.context()
	rc, err := r.Queue.Enqueue(ctx, d)
	if err != nil {
		r.Logger.Error("enqueue failed", "event", event, "project", env.Project.Path, "err", err)
		r.Metrics.delivery(env.Kind, AnswerUnavailable)
		return reply(c, fiber.StatusServiceUnavailable, fiber.Map{"error": "queue unable to store the event"})
	}
	debug := r.Logger.Enabled(ctx, slog.LevelDebug) // spare the arguments' boxing otherwise
	if rc.Duplicate {
		if debug {
			r.Logger.Debug("duplicate delivery", "delivery", rc.ID, "key", d.Key)
		}
		r.Metrics.delivery(env.Kind, AnswerDuplicate)
		return replyID(c, fiber.StatusOK, rc.ID, "duplicate")
	}
	if debug {
		r.Logger.Debug("delivery queued", "delivery", rc.ID, "kind", env.Kind, "project", env.Project.Path)
	}
	r.Metrics.delivery(env.Kind, AnswerQueued)
	return replyID(c, fiber.StatusAccepted, rc.ID, "queued")
}

// refuse answers 401 to a delivery whose identity does not hold, with the
// reason in the log and the metrics.
func (r *receiver) refuse(c *fiber.Ctx, event, project, reason string, err error) error {
	r.Logger.Warn("delivery refused: identity", "reason", reason, "event", short(event), "project", short(project), "ip", c.IP(), "err", err)
	r.Metrics.delivery("", AnswerUnauthorized)
	r.Metrics.identityRefused(reason)
	c.Context().SetConnectionClose() // the body may not have been read
	return reply(c, fiber.StatusUnauthorized, fiber.Map{"error": err.Error()})
}

// replyID answers {"id": id, "status": status}, the answer to nearly every
// delivery, without encoding/json's reflection when id needs no escaping
// (the store's ids are UUIDs); the bytes are those c.JSON would write.
func replyID(c *fiber.Ctx, code int, id, status string) error {
	for i := 0; i < len(id); i++ {
		if b := id[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			return reply(c, code, fiber.Map{"id": id, "status": status})
		}
	}
	body := make([]byte, 0, len(`{"id":"","status":""}`)+len(id)+len(status))
	body = append(body, `{"id":"`...)
	body = append(body, id...)
	body = append(body, `","status":"`...)
	body = append(body, status...)
	body = append(body, `"}`...)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Status(code).Send(body)
}

func reply(c *fiber.Ctx, status int, body fiber.Map) error {
	return c.Status(status).JSON(body)
}

// jsonError answers errors raised outside handlers (413 body too large,
// 404, 405, 431) as JSON.
func jsonError(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	return c.Status(code).JSON(fiber.Map{"error": strings.ToLower(err.Error())})
}

// isMalformed reports whether fasthttp refused a request as malformed
// (what fiber would answer 400 with fasthttp's message), rather than as too
// large, too slow or cut off.
func isMalformed(err error) bool {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small), errors.As(err, &netErr), errors.Is(err, fasthttp.ErrBodyTooLarge),
		errors.Is(err, fasthttp.ErrGetOnly), strings.Contains(err.Error(), "timeout"):
		return false
	}
	return true
}

// short cuts a value from an unauthenticated request to 256 bytes for a
// log line: a log must not grow by what a client chose to send.
func short(s string) string {
	if len(s) > 256 {
		return s[:256] + "..."
	}
	return s
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}
