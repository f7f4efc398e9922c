package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/queue"
)

// The deliveries and replay commands talk to a running gateway's admin API
// (the server holds the queue file's lock, so they cannot open it).

const deliveriesUsage = `usage:
  hookgate deliveries [--status S] [--kind K] [--project P] [--rule R] [--limit N] [--before ID] [--json]
  hookgate deliveries show ID [--json]
  hookgate replay ID [--rule NAME] [--json]

Each also takes --config FILE, --url URL and --token TOKEN. The admin API's
address is --url, else the config's [admin] listen, else its [server] listen;
the token is --token, else $HOOKGATE_ADMIN_TOKEN, else the config's [admin] token.
`

// adminEnv is the environment variable holding the admin token.
const adminEnv = "HOOKGATE_ADMIN_TOKEN"

// adminFlags are the flags every admin API command takes.
type adminFlags struct {
	config, url, token *string
	json               *bool
}

func newAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		config: fs.String("config", "", "configuration file of the running gateway (for its address and admin token)"),
		url:    fs.String("url", "", "admin API base URL, e.g. http://127.0.0.1:8081 (default: from the config)"),
		token:  fs.String("token", "", "admin token (default: $"+adminEnv+", else the config's [admin] token)"),
		json:   fs.Bool("json", false, "print JSON"),
	}
}

// client resolves the address and token (see deliveriesUsage). The config
// is read only when a flag or the environment does not already say.
func (f adminFlags) client() (*adminClient, error) {
	base, token := *f.url, *f.token
	if token == "" {
		token = os.Getenv(adminEnv)
	}
	if base == "" || token == "" {
		listen, cfgToken, err := readAdminConfig(*f.config)
		if err != nil {
			return nil, fmt.Errorf("%w\n(reading the config for the admin address and token; or pass --url and --token)", err)
		}
		if base == "" {
			base = listenURL(listen)
		}
		if token == "" {
			token = cfgToken
		}
	}
	if token == "" {
		return nil, errors.New("no admin token: set [admin] token in the config (the admin API is off without it), $" + adminEnv + " or --token")
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &adminClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// adminConfig is the part of the configuration the admin commands need.
type adminConfig struct {
	Server struct {
		Listen string `toml:"listen"`
	} `toml:"server"`
	Admin struct {
		Token  config.Secret `toml:"token"`
		Listen string        `toml:"listen"`
	} `toml:"admin"`
}

// readAdminConfig reads the admin API's address ([admin] listen, else
// [server] listen) and token from the config at path ("" means the
// embedded defaults). Unlike config.Load it looks at nothing else, so the
// commands work where the gateway's other secrets (its "env:" GitLab
// token, say) are not available.
func readAdminConfig(path string) (listen, token string, err error) {
	var c adminConfig
	if path == "" {
		_, err = toml.Decode(config.DefaultTOML(), &c)
	} else {
		_, err = toml.DecodeFile(path, &c)
	}
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return "", "", fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	listen = cmp.Or(c.Admin.Listen, c.Server.Listen, config.DefaultListen)
	token = c.Admin.Token.Value()
	src := c.Admin.Token.Source()
	if name, ok := strings.CutPrefix(src, "env:"); ok {
		if token = os.Getenv(name); token == "" {
			return "", "", fmt.Errorf("%s: environment variable %s for admin.token is not set", path, name)
		}
	} else if file, ok := strings.CutPrefix(src, "file:"); ok {
		if !filepath.IsAbs(file) && path != "" {
			file = filepath.Join(filepath.Dir(path), file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("%s: admin.token: %w", path, err)
		}
		token = strings.TrimRight(string(b), "\r\n")
	}
	return listen, token, nil
}

// listenURL turns a listen address into a URL to reach it on this host:
// an unspecified host ("", 0.0.0.0, ::) becomes loopback.
func listenURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// adminClient calls the admin API.
type adminClient struct {
	base, token string
	http        *http.Client
}

// apiError is a non-2xx answer of the admin API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("admin API answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// do sends method path and returns the body of a 2xx answer.
func (c *adminClient) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s (is hookgate serve running there? see --url): %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin API: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(msg, "cannot ") {
			msg += " (is the admin API on? it needs [admin] token, and may listen on [admin] listen)"
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: msg}
	}
	return body, nil
}

// deliveries runs `hookgate deliveries ...`.
func deliveries(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "show" {
		return showDelivery(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("deliveries", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliveriesUsage) }
	af := newAdminFlags(fs)
	status := fs.String("status", "", "only deliveries with this status: queued, running, done, failed, dead")
	kind := fs.String("kind", "", "only events of this kind (note, push, merge_request, ...)")
	project := fs.String("project", "", "only events of this project (path_with_namespace)")
	rule := fs.String("rule", "", "only deliveries with an outcome of this rule")
	limit := fs.Int("limit", 20, "at most this many (newest first)")
	before := fs.String("before", "", "only deliveries older than this id (the next page)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "hookgate deliveries: unexpected argument %q\n\n%s", pos[0], deliveriesUsage)
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookgate deliveries:", err)
		return 1
	}
	q := url.Values{}
	for k, v := range map[string]string{"status": *status, "kind": *kind, "project": *project, "rule": *rule, "before": *before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	body, err := c.do(context.Background(), "GET", "/deliveries?"+q.Encode())
	if err != nil {
		fmt.Fprintln(stderr, "hookgate deliveries:", err)
		return 1
	}
	if *af.json {
		return printJSON(stdout, stderr, body)
	}
	var page struct {
		Deliveries []queue.Delivery `json:"deliveries"`
		Next       string           `json:"next"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		fmt.Fprintln(stderr, "hookgate deliveries: unexpected answer:", err)
		return 1
	}
	printDeliveryTable(stdout, page.Deliveries)
	if page.Next != "" {
		fmt.Fprintf(stderr, "more: add --before %s\n", page.Next)
	}
	return 0
}

// printDeliveryTable prints one line per delivery.
func printDeliveryTable(w io.Writer, ds []queue.Delivery) {
	if len(ds) == 0 {
		fmt.Fprintln(w, "no deliveries")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSTATUS\tKIND\tPROJECT\tATTEMPTS\tRULES\tERROR")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.ReceivedAt.Local().Format(time.DateTime),
			d.Status, dash(d.Envelope.Kind), dash(d.Envelope.Project.Path), d.Attempts, dash(ruleSummary(d.Outcomes)), clip(d.Error, 60))
	}
	tw.Flush()
}

// ruleSummary is "rule:status" for each outcome.
func ruleSummary(outs []queue.Outcome) string {
	parts := make([]string, 0, len(outs))
	for _, o := range outs {
		parts = append(parts, o.Rule+":"+o.Status)
	}
	return strings.Join(parts, " ")
}

// showDelivery runs `hookgate deliveries show ID`.
func showDelivery(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliveries show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliveriesUsage) }
	af := newAdminFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, "hookgate deliveries show: want one delivery id\n\n"+deliveriesUsage)
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookgate deliveries show:", err)
		return 1
	}
	body, err := c.do(context.Background(), "GET", "/deliveries/"+url.PathEscape(pos[0]))
	if err != nil {
		fmt.Fprintln(stderr, "hookgate deliveries show:", err)
		return 1
	}
	if *af.json {
		return printJSON(stdout, stderr, body)
	}
	var d queue.Delivery
	if err := json.Unmarshal(body, &d); err != nil {
		fmt.Fprintln(stderr, "hookgate deliveries show: unexpected answer:", err)
		return 1
	}
	printDelivery(stdout, &d)
	return 0
}

// printDelivery prints a delivery for a person: its facts, a table of rule
// outcomes, then each outcome's logs, API calls and result.
func printDelivery(w io.Writer, d *queue.Delivery) {
	e := &d.Envelope
	tw := newTable(w)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	field("id", d.ID)
	field("status", fmt.Sprintf("%s (attempts %d, finished %d)", d.Status, d.Attempts, d.Finished))
	field("error", d.Error)
	field("received", d.ReceivedAt.Local().Format(time.DateTime))
	field("updated", d.UpdatedAt.Local().Format(time.DateTime))
	if !d.NotBefore.IsZero() {
		field("next run", d.NotBefore.Local().Format(time.DateTime))
	}
	field("key", d.Key)
	field("event", strings.TrimSpace(fmt.Sprintf("%s (%s) %s", e.Event, e.Kind, e.Action)))
	field("event uuid", d.Headers["X-Gitlab-Event-UUID"])
	field("instance", e.Instance)
	field("project", e.Project.Path)
	if e.User.Username != "" {
		field("user", fmt.Sprintf("%s (id %d)", e.User.Username, e.User.ID))
	}
	field("ref", e.Ref)
	field("sha", e.SHA)
	if e.MergeRequest.IID != 0 {
		field("merge request", fmt.Sprintf("!%d %s", e.MergeRequest.IID, clip(e.MergeRequest.Title, 60)))
	}
	if e.Issue.IID != 0 {
		field("issue", fmt.Sprintf("#%d %s", e.Issue.IID, clip(e.Issue.Title, 60)))
	}
	field("note", clip(e.Note, 80))
	tw.Flush()

	if len(d.Outcomes) == 0 {
		fmt.Fprintln(w, "\nno rule outcomes")
		return
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "RULE\tPLUGIN\tSTATUS\tATTEMPTS\tTOOK\tERROR")
	for _, o := range d.Outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", o.Rule, dash(o.Plugin), o.Status, o.Attempts,
			o.Duration.Round(time.Microsecond), clip(o.Error, 80))
	}
	tw.Flush()
	for _, o := range d.Outcomes {
		if len(o.Logs) == 0 && len(o.Calls) == 0 && len(o.Result) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", o.Rule)
		tw = newTable(w)
		for _, l := range o.Logs {
			fields := ""
			if len(l.Fields) > 0 {
				b, _ := json.Marshal(l.Fields)
				fields = string(b)
			}
			fmt.Fprintf(tw, "  log\t%s\t%s\t%s\n", l.Level, l.Message, fields)
		}
		for _, c := range o.Calls {
			status := fmt.Sprint(c.Status)
			if c.DryRun {
				status = "dry run"
			}
			if c.Error != "" {
				status += ": " + clip(c.Error, 80)
			}
			took := ""
			if c.Duration > 0 {
				took = c.Duration.Round(time.Microsecond).String()
			}
			fmt.Fprintf(tw, "  call\t%s %s\t%s\t%s\n", c.Method, c.Path, status, took)
		}
		if len(o.Result) > 0 {
			fmt.Fprintf(tw, "  result\t%s\n", clip(string(o.Result), 200))
		}
		tw.Flush()
	}
}

// replay runs `hookgate replay ID [--rule NAME]`.
func replay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliveriesUsage) }
	af := newAdminFlags(fs)
	rule := fs.String("rule", "", "re-run only this rule (default: every rule)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, "hookgate replay: want one delivery id\n\n"+deliveriesUsage)
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookgate replay:", err)
		return 1
	}
	path := "/deliveries/" + url.PathEscape(pos[0]) + "/replay"
	if *rule != "" {
		path += "?rule=" + url.QueryEscape(*rule)
	}
	body, err := c.do(context.Background(), "POST", path)
	if err != nil {
		fmt.Fprintln(stderr, "hookgate replay:", err)
		return 1
	}
	if *af.json {
		return printJSON(stdout, stderr, body)
	}
	what := "every rule"
	if *rule != "" {
		what = "rule " + *rule
	}
	fmt.Fprintf(stdout, "%s queued again (%s); follow it with: hookgate deliveries show %s\n", pos[0], what, pos[0])
	return 0
}

// table aligns tab-separated cells in columns two spaces apart and drops
// the padding an empty last cell leaves at the end of a line.
type table struct {
	*tabwriter.Writer
	buf bytes.Buffer
	out io.Writer
}

func newTable(out io.Writer) *table {
	t := &table{out: out}
	t.Writer = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

// Flush writes the aligned lines.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(t.buf.String()) {
		if _, err := io.WriteString(t.out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	t.buf.Reset()
	return nil
}

// printJSON prints an API answer indented.
func printJSON(stdout, stderr io.Writer, body []byte) int {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		fmt.Fprintln(stderr, "hookgate: unexpected answer:", err)
		return 1
	}
	buf.WriteByte('\n')
	_, _ = stdout.Write(buf.Bytes())
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens s to n runes on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
