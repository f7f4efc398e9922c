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
	case "version", "--version", "-v":
		return version()
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "hookgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
