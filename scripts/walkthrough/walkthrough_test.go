package walkthrough

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// shellBlocks returns the body of every ```sh block of a markdown page.
func shellBlocks(md string) []string {
	var blocks []string
	var cur *strings.Builder
	for _, l := range strings.Split(md, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(l + "\n")
		}
	}
	return blocks
}

func TestShellBlocks(t *testing.T) {
	md := "# x\n```sh\necho a\necho b\n```\ntext\n```text\nnot run\n```\n```sh\necho c\n```\n"
	require.Equal(t, []string{"echo a\necho b\n", "echo c\n"}, shellBlocks(md))
}

// TestWalkthrough runs docs/WALKTHROUGH.md as written, against the services
// of the environment. The topic prefix (and so the Redis keys) is the
// test's own, through SENDONCE_TOPIC_PREFIX, which the page does not set;
// every command is the page's.
func TestWalkthrough(t *testing.T) {
	testenv.Kafka(t)
	testenv.RedisURL(t)
	endpoint := testenv.SESEndpoint(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	md, err := os.ReadFile(filepath.Join(root, "docs", "WALKTHROUGH.md"))
	require.NoError(t, err)
	blocks := shellBlocks(string(md))
	require.GreaterOrEqual(t, len(blocks), 8, "the walkthrough's sh blocks")

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// Whatever happens, no background sender outlives the script.
	script.WriteString("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	for i, b := range blocks {
		script.WriteString("echo '>>> block " + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "' >&2\n")
		script.WriteString(b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = root
	// The page's `scripts/services.sh up` gets a state dir of its own on
	// free ports: the services of the environment (the shared ones, or
	// make test's) are then external to it, so it uses them and never
	// starts, restarts or stops one.
	cmd.Env = append(os.Environ(), "SENDONCE_TOPIC_PREFIX="+testenv.Name(t, "walk"),
		"SENDONCE_SERVICES_DIR="+t.TempDir(), "SENDONCE_FREE_PORTS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now().Add(-time.Second)
	err = cmd.Run()
	out := stdout.String()
	require.NoError(t, err, "the walkthrough failed\nstdout:\n%s\nstderr:\n%s", out, stderr.String())
	t.Logf("the walkthrough's output:\n%s", out)

	// What the page promises, checked on what the commands printed.
	for _, want := range []string{
		"dry run: nothing was published",
		"would publish  3",
		`row 4, line 5, user "u-4", invalid_email`,
		"sent to me@walkthrough.example, tagged test=true",
		"published     3",
		"complete true",
		"token of u-2 verified",
	} {
		require.Contains(t, out, want, "stdout:\n%s\nstderr:\n%s", out, stderr.String())
	}

	// And on what SES accepted: each valid user once, the test address
	// once, the rejected row never.
	emails, err := testenv.SESStore(ctx, endpoint)
	require.NoError(t, err)
	got := map[string]int{}
	for _, e := range emails {
		for _, to := range e.Destination.To {
			if strings.HasSuffix(to, "@walkthrough.example") && e.At >= start.Unix() {
				got[to]++
			}
		}
	}
	require.Equal(t, map[string]int{"ada@walkthrough.example": 1, "grace@walkthrough.example": 1,
		"linus@walkthrough.example": 1, "me@walkthrough.example": 1}, got)
}
