package gateway

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// replyID's hand-built answer must be byte for byte what c.JSON writes,
// and fall back to it for ids that need escaping.
func TestReplyIDMatchesJSON(t *testing.T) {
	ids := []string{
		"0193a6f0-7c1e-7cc4-9d2a-5a1d2f3e4b5c",
		"",
		`quote"d`,
		`back\slash`,
		"<script>&",
		"tab\there",
		"caf\u00e9",
	}
	app := fiber.New()
	app.Get("/fast", func(c *fiber.Ctx) error { return replyID(c, fiber.StatusAccepted, c.Query("id"), "queued") })
	app.Get("/json", func(c *fiber.Ctx) error {
		return reply(c, fiber.StatusAccepted, fiber.Map{"id": c.Query("id"), "status": "queued"})
	})
	get := func(path, id string) (int, string, string) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		q := req.URL.Query()
		q.Set("id", id)
		req.URL.RawQuery = q.Encode()
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	for _, id := range ids {
		fc, ft, fb := get("/fast", id)
		jc, jt, jb := get("/json", id)
		if fc != jc || ft != jt || fb != jb {
			t.Errorf("id %q: replyID answered %d %q %s, c.JSON %d %q %s", id, fc, ft, fb, jc, jt, jb)
		}
	}
}
