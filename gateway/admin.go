package gateway

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
)

// Snapshotter is implemented by queue backends that can stream a
// consistent copy of their store (GET /api/v1/backup).
type Snapshotter interface {
	Snapshot() (*local.Snapshot, error)
}

// DeliveryLog is what the admin API needs from the queue.
type DeliveryLog interface {
	Get(ctx context.Context, id string) (*queue.Delivery, error)
	List(ctx context.Context, f queue.Filter) ([]*queue.Delivery, error)
	Requeue(ctx context.Context, id, rule string) error
}

// mountAdmin serves the admin API under /api/v1 on app, guarded by a
// bearer token compared in constant time.
func (g *Gateway) mountAdmin(app *fiber.App, token string) {
	api := app.Group("/api/v1", newBearer(token).guard("missing or wrong admin token"))
	var log DeliveryLog = g.store
	api.Get("/deliveries", func(c *fiber.Ctx) error {
		limit, _ := strconv.Atoi(c.Query("limit"))
		f := queue.Filter{
			Status:  queue.Status(c.Query("status")),
			Kind:    c.Query("kind"),
			Project: c.Query("project"),
			Rule:    c.Query("rule"),
			Before:  c.Query("before"),
			Limit:   limit,
		}
		ds, err := log.List(c.UserContext(), f)
		if err != nil {
			return reply(c, fiber.StatusInternalServerError, fiber.Map{"error": err.Error()})
		}
		if ds == nil {
			ds = []*queue.Delivery{}
		}
		next := ""
		if len(ds) > 0 && f.Limit > 0 && len(ds) == f.Limit {
			next = ds[len(ds)-1].ID
		}
		return c.JSON(fiber.Map{"deliveries": ds, "next": next})
	})
	api.Get("/deliveries/:id", func(c *fiber.Ctx) error {
		d, err := log.Get(c.UserContext(), c.Params("id"))
		if errors.Is(err, queue.ErrNotFound) {
			return reply(c, fiber.StatusNotFound, fiber.Map{"error": "no such delivery"})
		} else if err != nil {
			return reply(c, fiber.StatusInternalServerError, fiber.Map{"error": err.Error()})
		}
		return c.JSON(d)
	})
	api.Post("/deliveries/:id/replay", func(c *fiber.Ctx) error {
		id := strings.Clone(c.Params("id"))
		err := log.Requeue(c.UserContext(), id, c.Query("rule"))
		switch {
		case errors.Is(err, queue.ErrNotFound):
			return reply(c, fiber.StatusNotFound, fiber.Map{"error": "no such delivery"})
		case errors.Is(err, queue.ErrNotFinal):
			return reply(c, fiber.StatusConflict, fiber.Map{"error": "delivery is still queued or running"})
		case err != nil:
			return reply(c, fiber.StatusInternalServerError, fiber.Map{"error": err.Error()})
		}
		return reply(c, fiber.StatusAccepted, fiber.Map{"id": id, "status": "queued"})
	})
	api.Post("/reload", func(c *fiber.Ctx) error {
		if err := g.Reload(); err != nil {
			return reply(c, fiber.StatusUnprocessableEntity, fiber.Map{"status": "failed", "errors": diag.Lines(err)})
		}
		return c.JSON(fiber.Map{"status": "reloaded"})
	})
	api.Get("/backup", func(c *fiber.Ctx) error {
		snap, ok := any(g.store).(Snapshotter)
		if !ok {
			return reply(c, fiber.StatusNotImplemented, fiber.Map{"error": "this queue backend has no hot backup"})
		}
		sn, err := snap.Snapshot()
		if err != nil {
			return reply(c, fiber.StatusServiceUnavailable, fiber.Map{"error": err.Error()})
		}
		size := sn.Size()
		// The copy streams from a read transaction through a pipe; if the
		// client goes away, fasthttp closes the reader and the copy stops.
		pr, pw := io.Pipe()
		go func() {
			_, err := sn.WriteTo(pw)
			_ = sn.Close()
			pw.CloseWithError(err)
		}()
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="hookgate-`+time.Now().UTC().Format("20060102T150405Z")+`.db"`)
		c.Response().SetBodyStream(pr, int(size))
		return nil
	})
	api.Get("/rules", func(c *fiber.Ctx) error {
		b := g.bundle.Load()
		type ruleInfo struct {
			Name        string   `json:"name"`
			Description string   `json:"description,omitempty"`
			Plugin      string   `json:"plugin"`
			File        string   `json:"file"`
			Line        int      `json:"line"`
			On          []string `json:"on"`
			When        string   `json:"when"`
			Enabled     bool     `json:"enabled"`
		}
		out := []ruleInfo{}
		for _, r := range b.Rules.Rules() {
			out = append(out, ruleInfo{Name: r.Name, Plugin: r.Plugin, File: r.File, Line: r.Line,
				Description: r.Description, On: r.On, When: r.When, Enabled: r.Enabled})
		}
		var last []string
		if p := g.lastErrors.Load(); p != nil {
			last = diag.Lines(*p)
		}
		return c.JSON(fiber.Map{"rules": out, "plugins": b.Plugins.Names(), "last_reload_errors": last})
	})
}
