package loadgen

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fastjson"
)

// A Floor is a minimal server the gateway is measured against, on the same
// machine, in the same run, with the same load:
//
//   - the bare floor answers 202 and does nothing else: what the HTTP
//     stack and the load generator cost;
//   - the durable floor decodes the JSON, appends the body to one file and
//     answers 202 only after fdatasync, with concurrent requests sharing
//     one write and one fdatasync (group commit): nothing that
//     acknowledges after fsync can beat it on the same disk.
type Floor struct {
	// URL is the floor's base URL; it serves POST HookPath.
	URL string

	app    *fiber.App
	served chan error
	commit *committer // durable floor only
}

// floorAnswer is the body both floors answer with, shaped like hookgate's.
var floorAnswer = []byte(`{"id":"floor","status":"queued"}`)

// newFloorApp configures fiber as the receiver does.
func newFloorApp() *fiber.App {
	return fiber.New(fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             25 << 20,
		ReadBufferSize:        16 * 1024,
	})
}

// StartBareFloor serves the bare floor on a loopback port.
func StartBareFloor() (*Floor, error) {
	app := newFloorApp()
	app.Post(HookPath, func(c *fiber.Ctx) error {
		c.Status(fiber.StatusAccepted).Response().Header.SetContentType(fiber.MIMEApplicationJSON)
		return c.Send(floorAnswer)
	})
	return serveFloor(app, nil)
}

// StartDurableFloor serves the durable floor on a loopback port, appending
// to a file in dir.
func StartDurableFloor(dir string) (*Floor, error) {
	f, err := os.OpenFile(filepath.Join(dir, "durable-floor.log"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("loadgen: durable floor: %w", err)
	}
	cm := newCommitter(f)
	var parsers fastjson.ParserPool
	app := newFloorApp()
	app.Post(HookPath, func(c *fiber.Ctx) error {
		body := c.Request().Body()
		p := parsers.Get()
		v, err := p.ParseBytes(body)
		isObject := err == nil && v.Type() == fastjson.TypeObject
		parsers.Put(p)
		if !isObject {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "body is not a JSON object"})
		}
		// body stays valid: the handler waits for the commit.
		if err := cm.append(body); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": err.Error()})
		}
		c.Status(fiber.StatusAccepted).Response().Header.SetContentType(fiber.MIMEApplicationJSON)
		return c.Send(floorAnswer)
	})
	fl, err := serveFloor(app, cm)
	if err != nil {
		cm.close()
	}
	return fl, err
}

func serveFloor(app *fiber.App, cm *committer) (*Floor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadgen: floor: %w", err)
	}
	fl := &Floor{URL: "http://" + ln.Addr().String(), app: app, served: make(chan error, 1), commit: cm}
	go func() { fl.served <- app.Listener(ln) }()
	return fl, nil
}

// Close stops the floor and closes its file.
func (f *Floor) Close() error {
	err := f.app.Shutdown()
	err = errors.Join(err, <-f.served)
	if f.commit != nil {
		err = errors.Join(err, f.commit.close())
	}
	return err
}

// floorRotate is the size at which the durable floor's file starts over,
// so a long run does not fill the disk. Truncating costs one more
// metadata update every few hundred MiB: noise.
const floorRotate = 256 << 20

// committer is the durable floor's group commit: one goroutine takes every
// waiting body, writes them with one write, fdatasyncs, then answers all.
type committer struct {
	f    *os.File
	reqs chan *appendReq
	done chan struct{}
	size int64

	closeOnce sync.Once
	closeErr  error
}

type appendReq struct {
	body []byte
	err  chan error
}

func newCommitter(f *os.File) *committer {
	c := &committer{f: f, reqs: make(chan *appendReq, 4096), done: make(chan struct{})}
	go c.run()
	return c
}

var reqPool = sync.Pool{New: func() any { return &appendReq{err: make(chan error, 1)} }}

// append returns once body is on disk.
func (c *committer) append(body []byte) error {
	r := reqPool.Get().(*appendReq)
	r.body = body
	c.reqs <- r
	err := <-r.err
	r.body = nil
	reqPool.Put(r)
	return err
}

func (c *committer) run() {
	defer close(c.done)
	var buf []byte
	batch := make([]*appendReq, 0, 1024)
	for first := range c.reqs {
		batch = append(batch[:0], first)
	fill:
		for {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		buf = buf[:0]
		for _, r := range batch {
			buf = append(buf, r.body...)
			buf = append(buf, '\n')
		}
		err := c.write(buf)
		for _, r := range batch {
			r.err <- err
		}
	}
}

func (c *committer) write(buf []byte) error {
	if c.size+int64(len(buf)) > floorRotate {
		if err := c.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
		if _, err := c.f.Seek(0, 0); err != nil {
			return fmt.Errorf("seek: %w", err)
		}
		c.size = 0
	}
	if _, err := c.f.Write(buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	c.size += int64(len(buf))
	if err := fdatasync(c.f); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	return nil
}

func (c *committer) close() error {
	c.closeOnce.Do(func() {
		close(c.reqs)
		<-c.done
		c.closeErr = c.f.Close()
	})
	return c.closeErr
}
