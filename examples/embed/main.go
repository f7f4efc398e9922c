// Command embed runs hookgate inside another program and gives its Lua
// plugins an extra module, "company", whose company.ticket(title) opens a
// ticket in the company's internal ticket service (an HTTP API at
// --tickets-url) and returns {id = ..., url = ...}.
//
//	go run ./examples/embed --config examples/embed/setup/hookgate.toml --tickets-url http://tickets.internal
//
// The setup in setup/ answers "/ticket TITLE" comments with a link to the
// new ticket. Everything else is hookgate as usual: the same configuration,
// rules, reloads, queue and delivery log.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/sdk"
)

func main() { os.Exit(run(context.Background(), os.Args[1:])) }

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hookgate configuration file (default: embedded defaults)")
	ticketsURL := fs.String("tickets-url", os.Getenv("COMPANY_TICKETS_URL"), "base URL of the internal ticket service (default $COMPANY_TICKETS_URL)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *ticketsURL == "" {
		fmt.Fprintln(os.Stderr, "embed: --tickets-url (or COMPANY_TICKETS_URL) is required")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		for _, l := range diag.Lines(err) {
			fmt.Fprintln(os.Stderr, l)
		}
		return 1
	}
	log := gateway.NewLogger(cfg.Log, os.Stderr)
	if err := gateway.ExtractBundled(cfg); err != nil {
		log.Error("startup failed", "err", err)
		return 1
	}
	g, err := newGateway(cfg, log, &Tickets{URL: *ticketsURL})
	if err != nil {
		for _, l := range diag.Lines(err) {
			fmt.Fprintln(os.Stderr, l)
		}
		return 1
	}
	if err := g.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// newGateway is hookgate with the company module added: the only line an
// embedding program needs beyond what `hookgate serve` does.
func newGateway(cfg *config.Config, log *slog.Logger, tickets *Tickets) (*gateway.Gateway, error) {
	return gateway.New(cfg, log, gateway.WithModules(CompanyModule(tickets)))
}

// CompanyModule is the "company" Lua module:
//
//	company.ticket(title) -> {id = 42, url = "https://tickets.internal/42"}
//
// The ticket records the project and delivery it came from. A service
// that is down or answers 5xx makes the run retried with backoff; any other
// failure fails it.
func CompanyModule(t *Tickets) plugins.Module {
	return sdk.NewModule("company", map[string]sdk.Func{
		"ticket": func(ctx context.Context, args []any) (any, error) {
			title, _ := argString(args, 0)
			if strings.TrimSpace(title) == "" {
				return nil, errors.New("title (a non-empty string) expected")
			}
			req := TicketRequest{Title: title}
			if info, ok := plugins.RunInfoFrom(ctx); ok {
				req.Project = info.Envelope.Project.Path
				req.Delivery = info.Envelope.ID
				req.Requester = info.Envelope.User.Username
			}
			return t.Create(ctx, req)
		},
	})
}

func argString(args []any, i int) (string, bool) {
	if i >= len(args) {
		return "", false
	}
	s, ok := args[i].(string)
	return s, ok
}

// Tickets is a client of the internal ticket service: POST URL/tickets
// with a TicketRequest answers 201 with a Ticket.
type Tickets struct {
	URL string
	// Client is the HTTP client (nil: one with a 10s timeout). Calls also
	// end with the plugin run's deadline.
	Client *http.Client
}

// TicketRequest is what the service is sent.
type TicketRequest struct {
	Title     string `json:"title"`
	Project   string `json:"project,omitempty"`
	Delivery  string `json:"delivery,omitempty"`
	Requester string `json:"requester,omitempty"`
}

// Ticket is what the service answers, and what company.ticket returns.
type Ticket struct {
	ID  int64  `json:"id"`
	URL string `json:"url"`
}

// Create opens a ticket.
func (t *Tickets) Create(ctx context.Context, r TicketRequest) (Ticket, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Ticket{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(t.URL, "/")+"/tickets", bytes.NewReader(body))
	if err != nil {
		return Ticket{}, fmt.Errorf("tickets: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := t.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Unreachable or timed out: worth another attempt later.
		return Ticket{}, plugins.Retry(fmt.Sprintf("tickets: %v", err), 0)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return Ticket{}, plugins.Retry(fmt.Sprintf("tickets: service answered %s", resp.Status), 0)
	case resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK:
		return Ticket{}, fmt.Errorf("tickets: service answered %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var tk Ticket
	if err := json.Unmarshal(raw, &tk); err != nil {
		return Ticket{}, fmt.Errorf("tickets: bad answer: %w", err)
	}
	return tk, nil
}
