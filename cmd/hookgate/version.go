package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version may be set at build time with -ldflags "-X main.Version=v1.2.3";
// otherwise the module version recorded by the Go toolchain is printed
// (the tag for `go install ...@v1.2.3`, "(devel)" for a build from a
// checkout).
var Version = ""

// version prints the version, the Go toolchain and, when the binary was
// built from a VCS checkout, its revision.
func version(w io.Writer) int {
	bi, ok := debug.ReadBuildInfo()
	v := Version
	if v == "" {
		v = "(unknown)"
		if ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	fmt.Fprintf(w, "hookgate %s\n", v)
	if ok {
		fmt.Fprintf(w, "module: %s\n", bi.Main.Path)
	}
	fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if !ok {
		return 0
	}
	vcs := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "CGO_ENABLED":
			fmt.Fprintf(w, "%s: %s\n", s.Key, s.Value)
			vcs = vcs || s.Key == "vcs.revision"
		}
	}
	if !vcs && bi.Main.Version == "(devel)" {
		fmt.Fprintln(w, "vcs: not recorded (built outside a git checkout, or with -buildvcs=false)")
	}
	return 0
}
