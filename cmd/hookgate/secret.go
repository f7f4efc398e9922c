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
  hookgate secret remove [--config FILE] [--gitlab URL] group/project
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

// secretRun is what every secret subcommand starts from: its loaded
// configuration and its positional arguments.
type secretRun struct {
	name string // "secret rotate", as in its messages
	cfg  *config.Config
	pos  []string
}

// startSecret adds --config to fs (which holds the subcommand's own flags),
// parses args (flags and positionals in any order), checks that there are
// minPos to maxPos positionals and loads the configuration. When it returns
// a nil run, exit with its code: 2 after a flag error (already printed by fs)
// or the usage, 1 after printing the configuration's problems.
func startSecret(fs *flag.FlagSet, args []string, minPos, maxPos int) (*secretRun, int) {
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, 2
	}
	if len(pos) < minPos || len(pos) > maxPos {
		fmt.Fprint(os.Stderr, secretUsage)
		return nil, 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(err)
		return nil, 1
	}
	return &secretRun{name: fs.Name(), cfg: cfg, pos: pos}, 0
}

// fail prints err after the subcommand's name and returns exit code 1.
func (r *secretRun) fail(err error) int {
	fmt.Fprintf(os.Stderr, "hookgate %s: %v\n", r.name, err)
	return 1
}

func secretRotate(args []string) int {
	fs := flag.NewFlagSet("secret rotate", flag.ContinueOnError)
	instance := fs.String("gitlab", "", "URL of the [[gitlab]] instance (default: the one the project was enrolled on)")
	grace := fs.Duration("grace", enroll.DefaultRotateGrace, "how long the current secrets stay valid")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	r, code := startSecret(fs, args, 1, 1)
	if r == nil {
		return code
	}
	project := r.pos[0]
	recorded := ""
	if infos, err := enroll.List(r.cfg.EnrolledSecretsFile(), project, time.Now()); err == nil && len(infos) == 1 {
		recorded = infos[0].Instance
	}
	e, inst, err := newEnroller(r.cfg, *instance, recorded)
	if err != nil {
		return r.fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := e.Rotate(ctx, project, *grace)
	if err != nil {
		return r.fail(err)
	}
	printEnrolled(os.Stdout, res, inst, r.cfg, *asJSON)
	return 0
}

func secretList(args []string) int {
	fs := flag.NewFlagSet("secret list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	r, code := startSecret(fs, args, 0, 1)
	if r == nil {
		return code
	}
	project := ""
	if len(r.pos) == 1 {
		project = r.pos[0]
	}
	file := r.cfg.EnrolledSecretsFile()
	infos, err := enroll.List(file, project, time.Now())
	if err != nil {
		return r.fail(err)
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
	instance := fs.String("gitlab", "", "only the entry of this GitLab instance (base URL; default: every instance the project is enrolled on)")
	r, code := startSecret(fs, args, 1, 1)
	if r == nil {
		return code
	}
	project := r.pos[0]
	found, err := enroll.Remove(r.cfg.EnrolledSecretsFile(), project, *instance, time.Now())
	if err != nil {
		return r.fail(err)
	}
	if !found {
		return r.fail(fmt.Errorf("%s is not enrolled", project))
	}
	fmt.Printf("%s: enrolled secrets removed; the [[secret]] blocks apply to it again.\n"+
		"Its webhook in GitLab is unchanged: set its secret token to one of those, or delete it.\n", project)
	return 0
}
