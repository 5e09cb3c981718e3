// Command clidoc writes docs/CLI.md, the operator's command-line reference,
// from the binaries themselves: each binary's command list and each
// command's --help, so that the reference cannot drift from the flag
// definitions. It also checks the project's operator contract (the command
// table and the knob names every deployment relies on) against those flags
// and says, per contract row, whether this build has it.
//
//	go run ./scripts/clidoc > docs/CLI.md          # builds the binaries in a temporary folder
//	go run ./scripts/clidoc -bin bin > docs/CLI.md # or uses built ones (make build)
//
// Its test (scripts/clidoc) fails when docs/CLI.md is stale.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	bin := flag.String("bin", "", "folder holding producer, sender and retrier (empty: build them into a temporary folder)")
	flag.Parse()
	dir := *bin
	if dir == "" {
		tmp, err := os.MkdirTemp("", "clidoc-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(tmp)
		if err := Build(tmp); err != nil {
			fail(err)
		}
		dir = tmp
	}
	ref, err := Read(dir)
	if err != nil {
		fail(err)
	}
	if err := ref.WriteMarkdown(os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clidoc:", err)
	os.Exit(1)
}
