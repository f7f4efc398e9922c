package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// StartExecFloor serves the fork/exec floor on a loopback port: for each
// delivery it runs argv with the body on stdin and answers 202 once the
// process exited with status 0 (500 otherwise, with the first bytes of its
// standard error). It is the glue script the gateway replaces (a process
// per event, nothing stored, no rule run), measured with the same load;
// the end-to-end target is 10 times its rate. Concurrent requests
// run concurrent processes, one per connection at most.
func StartExecFloor(argv []string) (*Floor, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("loadgen: exec floor: no command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("loadgen: exec floor: %w", err)
	}
	app := newFloorApp()
	app.Post(HookPath, func(c *fiber.Ctx) error {
		cmd := exec.Command(path, argv[1:]...)
		cmd.Stdin = bytes.NewReader(c.Request().Body())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 200 {
				msg = msg[:200]
			}
			return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": err.Error(), "stderr": msg})
		}
		c.Status(fiber.StatusAccepted).Response().Header.SetContentType(fiber.MIMEApplicationJSON)
		return c.Send(floorAnswer)
	})
	return serveFloor(app, nil)
}
