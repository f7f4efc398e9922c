package loadgen

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The two HTTP clients the load generator can use. The load generator runs
// on the machine it measures, so its own CPU comes out of the servers'
// share: fasthttp's client costs a fraction of net/http's per request and
// is the default; net/http is there to compare.
const (
	ClientFast    = "fasthttp"
	ClientNetHTTP = "net/http"
)

// sender sends requests over one connection's worth of client; one per
// load goroutine.
type sender interface {
	// send posts the payload with headers h and returns the status and
	// up to 512 bytes of the answer (valid until the next send).
	send(ctx context.Context, h []header) (int, []byte, error)
	close()
}

// netHTTP sends with net/http, keeping exactly Conns connections.
type netHTTP struct {
	c    *http.Client
	url  string
	body []byte
	buf  [512]byte
}

func newNetHTTP(url string, o Options) *netHTTP {
	tr := &http.Transport{
		Proxy:               nil, // loopback only; never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      4 << 10,
	}
	return &netHTTP{c: &http.Client{Transport: tr, Timeout: o.Timeout}, url: url, body: o.Payload.Body}
}

func (n *netHTTP) send(ctx context.Context, h []header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(n.body))
	if err != nil {
		return 0, nil, err
	}
	for _, x := range h {
		req.Header[x.name] = []string{x.value} // sent as given
	}
	resp, err := n.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	k, _ := io.ReadFull(resp.Body, n.buf[:])
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n.buf[:k], nil
}

func (n *netHTTP) close() { n.c.CloseIdleConnections() }

// newHostClient is a fasthttp client for the host of url with at most
// o.Conns connections.
func newHostClient(url string, o Options) *fasthttp.HostClient {
	host := strings.TrimPrefix(url, "http://")
	host = host[:strings.IndexByte(host, '/')]
	return &fasthttp.HostClient{
		Addr:                          host,
		MaxConns:                      o.Conns,
		MaxConnWaitTimeout:            o.Timeout,
		MaxIdleConnDuration:           90 * time.Second,
		ReadTimeout:                   o.Timeout,
		WriteTimeout:                  o.Timeout,
		ReadBufferSize:                4 << 10,
		WriteBufferSize:               16 << 10,
		DisableHeaderNamesNormalizing: true, // headers go out as written
		NoDefaultUserAgentHeader:      false,
	}
}

// fast sends with a shared fasthttp client, reusing its request and
// response.
type fast struct {
	hc      *fasthttp.HostClient
	req     *fasthttp.Request
	resp    *fasthttp.Response
	timeout time.Duration
}

func newFast(hc *fasthttp.HostClient, url string, o Options) *fast {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetBodyRaw(o.Payload.Body)
	return &fast{hc: hc, req: req, resp: fasthttp.AcquireResponse(), timeout: o.Timeout}
}

func (f *fast) send(_ context.Context, h []header) (int, []byte, error) {
	for _, x := range h {
		f.req.Header.Set(x.name, x.value)
	}
	if err := f.hc.DoTimeout(f.req, f.resp, f.timeout); err != nil {
		return 0, nil, err
	}
	body := f.resp.Body()
	return f.resp.StatusCode(), body[:min(len(body), 512)], nil
}

func (f *fast) close() {
	fasthttp.ReleaseRequest(f.req)
	fasthttp.ReleaseResponse(f.resp)
}
