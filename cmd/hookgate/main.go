// Command hookgate is the GitLab webhook gateway. It parses the command
// line and hands over to the gateway package; see `hookgate help`.
package main

import (
	"fmt"
	"os"
)

const usage = `hookgate: a pluggable gateway for GitLab webhooks

Usage:
  hookgate serve [--config FILE]        run the gateway (embedded defaults without --config)
  hookgate check [--config FILE]        check config, rules and plugins; print file:line:col problems
  hookgate test  [--config FILE] --event FILE [--event-type "Note Hook"]
                                        dry-run one payload; print what would happen as JSON
  hookgate test  [--config FILE] --dir DIR [--update]
                                        check DIR/events/*.json against DIR/expected/*.json
  hookgate bench (--target URL | --self [--config FILE]) [--floors] [--conns 32] [--duration 10s]
                                        load-test a gateway on this machine; see docs/performance.md
  hookgate enroll [--config FILE] [--gitlab URL] [--events note,merge_requests,...] group/project
                                        create or update the project's webhook with a fresh secret
  hookgate secret rotate|list|remove [--config FILE] [group/project]
                                        rotate (--grace 24h), list or forget enrolled secrets
  hookgate deliveries [--status failed] [--project P] [--kind K] [--rule R] [--limit N] [--json]
                                        list recent deliveries from the running gateway's admin API
  hookgate deliveries show ID [--json]  one delivery: envelope, rule outcomes, plugin logs, API calls
  hookgate replay ID [--rule NAME]      run a finished delivery again (every rule, or one)
  hookgate version                      print version and build information
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest)
	case "check":
		return check(rest)
	case "test":
		return testEvent(rest)
	case "bench":
		return bench(rest)
	case "enroll":
		return enrollCmd(rest)
	case "secret", "secrets":
		return secretCmd(rest)
	case "deliveries", "delivery":
		return deliveries(rest, os.Stdout, os.Stderr)
	case "replay":
		return replay(rest, os.Stdout, os.Stderr)
	case "version", "--version", "-v":
		return version(os.Stdout)
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "hookgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
