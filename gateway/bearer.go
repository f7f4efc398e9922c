package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// bearer checks "Authorization: Bearer <token>" against one token. Both
// sides are hashed first, so the comparison takes the same time whatever
// the lengths, and is constant-time. The token itself is not kept.
type bearer struct {
	want [sha256.Size]byte
}

func newBearer(token string) *bearer {
	return &bearer{want: sha256.Sum256([]byte(token))}
}

// ok reports whether the request carries the token.
func (b *bearer) ok(c *fiber.Ctx) bool {
	got, found := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], b.want[:]) == 1 && found
}

// guard is a handler that answers 401 with {"error": msg} to requests
// without the token and passes the others on.
func (b *bearer) guard(msg string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !b.ok(c) {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="hookgate"`)
			return reply(c, fiber.StatusUnauthorized, fiber.Map{"error": msg})
		}
		return c.Next()
	}
}
