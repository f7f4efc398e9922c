package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/enroll"
)

// enrollCmd is `hookgate enroll [flags] group/project`.
func enrollCmd(args []string) int {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	instance := fs.String("gitlab", "", "URL of the [[gitlab]] instance (default: the only one)")
	events := fs.String("events", strings.Join(enroll.DefaultEvents, ","), "hook events, comma-separated: "+strings.Join(enroll.EventNames(), ","))
	grace := fs.Duration("grace", enroll.DefaultEnrollGrace, "how long secrets the project had stay valid")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(os.Stderr, "usage: hookgate enroll [--config FILE] [--gitlab URL] [--events note,merge_requests,...] [--grace 5m] [--json] group/project")
		return 2
	}
	evs, err := enroll.ParseEvents(strings.Split(*events, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate enroll:", err)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	e, inst, err := newEnroller(cfg, *instance, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate enroll:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := e.Enroll(ctx, pos[0], evs, *grace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate enroll:", err)
		return 1
	}
	printEnrolled(os.Stdout, res, inst, cfg, *asJSON)
	return 0
}

// parseInterleaved parses flags placed before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newEnroller picks the GitLab instance (want, else the only one, else
// the one the project was enrolled on) and builds an Enroller for it.
func newEnroller(cfg *config.Config, want, recorded string) (*enroll.Enroller, string, error) {
	if cfg.Server.PublicURL == "" {
		return nil, "", fmt.Errorf("set [server] public_url in the config: GitLab needs to know where to deliver")
	}
	same := func(a, b string) bool { return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/")) }
	var urls []string
	var pick *config.GitLab
	for i := range cfg.GitLab {
		g := &cfg.GitLab[i]
		urls = append(urls, g.URL)
		if want != "" && same(g.URL, want) || want == "" && recorded != "" && same(g.URL, recorded) {
			pick = g
		}
	}
	switch {
	case pick != nil:
	case want != "":
		return nil, "", fmt.Errorf("no [[gitlab]] block has url %s (configured: %s)", want, strings.Join(urls, ", "))
	case len(cfg.GitLab) == 1:
		pick = &cfg.GitLab[0]
	case len(cfg.GitLab) == 0:
		return nil, "", fmt.Errorf("no [[gitlab]] instance is configured: enrolment needs its url and the bot's API token")
	default:
		return nil, "", fmt.Errorf("several [[gitlab]] instances; choose one with --gitlab (%s)", strings.Join(urls, ", "))
	}
	if !pick.Token.IsSet() {
		return nil, "", fmt.Errorf("[[gitlab]] %s has no token: enrolment calls the API as the bot", pick.URL)
	}
	e, err := enroll.New(enroll.Options{
		GitLabURL:   pick.URL,
		Token:       pick.Token.Value(),
		PublicURL:   cfg.Server.PublicURL,
		SecretsFile: cfg.EnrolledSecretsFile(),
		HTTPClient:  &http.Client{Timeout: time.Duration(pick.Timeout)},
	})
	return e, pick.URL, err
}

// enrolledJSON is the --json shape of enroll and secret rotate.
type enrolledJSON struct {
	Project       string     `json:"project"`
	ProjectID     int64      `json:"project_id"`
	Instance      string     `json:"instance"`
	HookID        int64      `json:"hook_id"`
	HookURL       string     `json:"hook_url"`
	Created       bool       `json:"created"`
	Events        []string   `json:"events"`
	SecretID      string     `json:"secret_id"`
	Token         string     `json:"token"`
	SecretsFile   string     `json:"secrets_file"`
	Previous      []any      `json:"previous_secrets"`
	FallbackUntil *time.Time `json:"fallback_until,omitempty"`
	Duplicates    []int64    `json:"duplicate_hooks,omitempty"`
}

// printEnrolled shows what enroll or rotate did, and the new secret, once.
func printEnrolled(w io.Writer, res *enroll.Result, instance string, cfg *config.Config, asJSON bool) {
	file := cfg.EnrolledSecretsFile()
	if asJSON {
		out := enrolledJSON{
			Project: res.Project, ProjectID: res.ProjectID, Instance: instance, HookID: res.HookID,
			HookURL: res.HookURL, Created: res.Created, Events: res.Events, SecretID: res.SecretID,
			Token: res.Token, SecretsFile: file, Previous: []any{}, FallbackUntil: res.FallbackUntil,
			Duplicates: res.Duplicates,
		}
		for _, p := range res.Previous {
			out.Previous = append(out.Previous, p)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return
	}
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	fmt.Fprintf(w, "project:  %s (id %d) on %s\n", res.Project, res.ProjectID, instance)
	fmt.Fprintf(w, "webhook:  %d %s: %s\n", res.HookID, verb, res.HookURL)
	fmt.Fprintf(w, "events:   %s\n", strings.Join(res.Events, ", "))
	fmt.Fprintf(w, "secret:   %s (id %s)\n\n", res.Token, res.SecretID)
	fmt.Fprintf(w, "The secret is shown only now: GitLab has it, and %s keeps only its hash.\n", file)
	for _, p := range res.Previous {
		if p.NotAfter != nil {
			fmt.Fprintf(w, "Secret %s stays valid until %s.\n", p.ID, p.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if res.FallbackUntil != nil {
		fmt.Fprintf(w, "Until %s the [[secret]] blocks still accept this project's deliveries.\n", res.FallbackUntil.UTC().Format(time.RFC3339))
	}
	if len(res.Duplicates) > 0 {
		fmt.Fprintf(w, "warning: hooks %v also deliver to %s with another secret and will be refused: delete them.\n", res.Duplicates, res.HookURL)
	}
	if strings.HasPrefix(res.HookURL, "http://") {
		fmt.Fprintln(w, "warning: public_url is not https: the secret travels in clear text.")
	}
}
