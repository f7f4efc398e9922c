package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/enroll"
)

const secretUsage = `usage:
  hookgate secret rotate [--config FILE] [--gitlab URL] [--grace 24h] [--json] group/project
  hookgate secret list   [--config FILE] [--json] [group/project]
  hookgate secret remove [--config FILE] group/project
`

// secretCmd is `hookgate secret rotate|list|remove`.
func secretCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, secretUsage)
		return 2
	}
	switch args[0] {
	case "rotate":
		return secretRotate(args[1:])
	case "list", "ls":
		return secretList(args[1:])
	case "remove", "rm":
		return secretRemove(args[1:])
	default:
		fmt.Fprintf(os.Stderr, "hookgate secret: unknown command %q\n%s", args[0], secretUsage)
		return 2
	}
}

func secretRotate(args []string) int {
	fs := flag.NewFlagSet("secret rotate", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	instance := fs.String("gitlab", "", "URL of the [[gitlab]] instance (default: the one the project was enrolled on)")
	grace := fs.Duration("grace", enroll.DefaultRotateGrace, "how long the current secrets stay valid")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(os.Stderr, secretUsage)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	recorded := ""
	if infos, err := enroll.List(cfg.EnrolledSecretsFile(), pos[0], time.Now()); err == nil && len(infos) == 1 {
		recorded = infos[0].Instance
	}
	e, inst, err := newEnroller(cfg, *instance, recorded)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate secret rotate:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := e.Rotate(ctx, pos[0], *grace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate secret rotate:", err)
		return 1
	}
	printEnrolled(os.Stdout, res, inst, cfg, *asJSON)
	return 0
}

func secretList(args []string) int {
	fs := flag.NewFlagSet("secret list", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 1 {
		fmt.Fprint(os.Stderr, secretUsage)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	project := ""
	if len(pos) == 1 {
		project = pos[0]
	}
	file := cfg.EnrolledSecretsFile()
	infos, err := enroll.List(file, project, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate secret list:", err)
		return 1
	}
	if *asJSON {
		if infos == nil {
			infos = []enroll.ProjectInfo{}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(infos)
		return 0
	}
	if len(infos) == 0 {
		fmt.Printf("no enrolled projects in %s\n", file)
		return 0
	}
	printSecretTable(os.Stdout, infos)
	return 0
}

// printSecretTable lists projects and their secrets' ids and lifetimes;
// nothing it prints is, or is derived from, a secret.
func printSecretTable(w io.Writer, infos []enroll.ProjectInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tINSTANCE\tHOOK\tEVENTS\tSECRET ID\tCREATED\tEXPIRES")
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
	for _, p := range infos {
		head := fmt.Sprintf("%s\t%s\t%d\t%s", p.Project, p.Instance, p.HookID, strings.Join(p.Events, ","))
		if len(p.Secrets) == 0 {
			fmt.Fprintf(tw, "%s\t(none: every delivery refused)\t\t\n", head)
		}
		for i, s := range p.Secrets {
			if i > 0 {
				head = "\t\t\t"
			}
			expires := "never"
			if s.NotAfter != nil {
				expires = stamp(*s.NotAfter)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", head, s.ID, stamp(s.CreatedAt), expires)
		}
		if p.FallbackUntil != nil {
			fmt.Fprintf(tw, "\t\t\t\t([[secret]] blocks)\t\t%s\n", stamp(*p.FallbackUntil))
		}
	}
	tw.Flush()
}

func secretRemove(args []string) int {
	fs := flag.NewFlagSet("secret remove", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(os.Stderr, secretUsage)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	found, err := enroll.Remove(cfg.EnrolledSecretsFile(), pos[0], time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookgate secret remove:", err)
		return 1
	}
	if !found {
		fmt.Fprintf(os.Stderr, "hookgate secret remove: %s is not enrolled\n", pos[0])
		return 1
	}
	fmt.Printf("%s: enrolled secrets removed; the [[secret]] blocks apply to it again.\n"+
		"Its webhook in GitLab is unchanged: set its secret token to one of those, or delete it.\n", pos[0])
	return 0
}
