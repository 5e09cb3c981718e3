package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	built     *Reference
	buildErr  error
)

// reference builds the binaries once per test run and reads them.
func reference(t *testing.T) *Reference {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clidoc-test-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		if buildErr = Build(dir); buildErr == nil {
			built, buildErr = Read(dir)
		}
	})
	require.NoError(t, buildErr)
	return built
}

// TestCLIDocUpToDate fails when docs/CLI.md is not what the flag
// definitions of this tree generate.
func TestCLIDocUpToDate(t *testing.T) {
	var want bytes.Buffer
	require.NoError(t, reference(t).WriteMarkdown(&want))
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "CLI.md"))
	require.NoError(t, err, "docs/CLI.md is missing: run go run ./scripts/clidoc > docs/CLI.md")
	if bytes.Equal(got, want.Bytes()) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(want.String(), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("docs/CLI.md is stale (a flag or command changed): regenerate it with\n\n\tgo run ./scripts/clidoc > docs/CLI.md\n\nfirst difference, line %d:\n\tdocs/CLI.md: %q\n\tgenerated:   %q", i+1, gl, wl)
		}
	}
}

// TestContractKept: every command and knob of the operator contract that
// this project had before stays, with every flag the contract names.
func TestContractKept(t *testing.T) {
	ref := reference(t)
	for _, c := range Contract {
		if c.Baseline {
			require.Empty(t, ref.Missing(c.Commands, c.Flags), "contract row %q", c.Synopsis)
		}
	}
	for _, k := range Knobs {
		if k.Baseline {
			require.Empty(t, ref.Missing(k.On, []string{k.Flag}), "contract knob --%s", k.Flag)
		}
	}
}

func TestParseCommands(t *testing.T) {
	usage := `usage: producer <command> [flags]

commands:
  publish   read the source
  status    count users;
            percent, rate
  test-send render and send
  pause     park

Run "producer <command> --help".
`
	require.Equal(t, [][2]string{
		{"publish", "read the source"},
		{"status", "count users; percent, rate"},
		{"test-send", "render and send"},
		{"pause", "park"},
	}, parseCommands(usage))
	require.Empty(t, parseCommands("usage: x\n"))

	fl := parseFlags("usage:\n  -brokers string\n    \tseed brokers ($KAFKA_BROKERS)\n  -json\n    \tprint JSON\n")
	require.Equal(t, map[string]bool{"brokers": true, "json": true}, fl)
}

func TestMissing(t *testing.T) {
	ref := &Reference{Commands: []Command{{Binary: "producer", Name: "status", Flags: map[string]bool{"campaign": true}}}}
	require.Empty(t, ref.Missing([]string{"producer status"}, []string{"campaign"}))
	require.Equal(t, []string{"producer status --user", "producer report"}, ref.Missing([]string{"producer status", "producer report"}, []string{"user"}))
	require.Equal(t, "not in this build (missing: `a`, `b`)", status([]string{"b", "a"}))
}
