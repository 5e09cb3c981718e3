package chaos

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sendonce/sendonce/pkg/sesfault"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// The knobs of every run. The emulator takes ~4–7k calls/s on a 2-core
// box; the cap stays well below so that the faults, not the emulator, shape
// the run.
const (
	defaultUsers = 3000
	parallelUpTo = 5000 // runs of at most this many users run both modes at once
	maxUsers     = 1_000_000
	numSenders   = 3
	partitions   = 12
	sendRate     = 500 // sender --max-send-rate, shared by all senders
	rateCap      = 600 // the proxy answers 429 above this many SendEmail/s
	retryTiers   = "1s,2s,4s,8s"
	maxAttempts  = 8
	fenceLease   = 20 * time.Second
	sesTimeout   = 10 * time.Second // at most half the lease (sender run refuses more)
	drainTimeout = 10 * time.Second
	concurrency  = 32
	// redisFsync is the private Redis's appendfsync: the Redis default,
	// which docker-compose.yml runs too (see docs/RELIABILITY.md).
	redisFsync = "everysec"
)

// mode is one way of stopping things.
type mode struct {
	name string
	sig  syscall.Signal
	// err503 and err503After are the proxy's shares of 503 answers
	// without and after forwarding. Any 5xx after the request was written
	// is ambiguous by design (SES may have accepted the email), so a run
	// that must end with 0 ambiguous users injects none.
	err503, err503After float64
}

var modes = []mode{
	{name: "graceful", sig: syscall.SIGTERM},
	{name: "hard", sig: syscall.SIGKILL, err503: 0.005, err503After: 0.005},
}

func (m mode) faults(target string) sesfault.Config {
	return sesfault.Config{
		Target:           target,
		ThrottleRatio:    0.10,
		RateCap:          rateCap,
		Err503Ratio:      m.err503,
		Err503AfterRatio: m.err503After,
		MinLatency:       5 * time.Millisecond,
		MaxLatency:       30 * time.Millisecond,
		RejectRecipient:  isRejected,
		Seed:             int64(len(m.name)),
	}
}

// users is SENDONCE_CHAOS_USERS, or the reduced size of `make test`.
func users(t *testing.T) int {
	v := os.Getenv("SENDONCE_CHAOS_USERS")
	if v == "" {
		return defaultUsers
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n < 100 || n > maxUsers {
		t.Fatalf("SENDONCE_CHAOS_USERS=%q: want a number of users from 100 to %d", v, maxUsers)
	}
	return n
}

// TestChaos runs a campaign through the real binaries under faults, once
// per mode, and judges every user by the emulator's store.
//
// Demanded: graceful mode 0 duplicates, 0 lost, 0 ambiguous; hard mode 0
// duplicates and 0 silently lost (every valid user without an email is
// reported ambiguous); in both, rejected recipients get no email and end
// failed or dead_lettered, invalid rows are reported and never sent, and
// every service stops on SIGTERM with exit 0.
func TestChaos(t *testing.T) {
	// The services env says scripts/services.sh provisioned what the
	// private instances run from (broker jars, redis-server, the emulator).
	testenv.Kafka(t)
	testenv.SESEndpoint(t) // and AWS_REGION and test credentials
	n := users(t)
	root := repoRoot(t)
	bins := build(t, root)

	// The reduced run (make test) runs both modes side by side: most of a
	// run is spent waiting out the group's session timeout after a
	// fault, so overlapping them halves CI time. Full-size runs go one
	// after the other, so that each has the machine to itself.
	parallel := n <= parallelUpTo
	var (
		mu     sync.Mutex
		tables = map[string]string{}
	)
	t.Cleanup(func() { // after every subtest, parallel ones included
		path := os.Getenv("SENDONCE_CHAOS_REPORT")
		if path == "" || len(tables) == 0 {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# sendonce chaos report, %s\n\n", time.Now().UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "SENDONCE_CHAOS_USERS=%d go test -count=1 -run TestChaos -v ./scripts/chaos/ (modes in parallel: %v)\n\n", n, parallel)
		for _, m := range modes {
			b.WriteString(tables[m.name] + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("writing SENDONCE_CHAOS_REPORT: %v", err)
		}
	})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			r := newRun(t, root, bins, m, n)
			rep := r.execute()
			t.Log("\n" + rep.table(50))
			mu.Lock()
			tables[m.name] = rep.table(0)
			mu.Unlock()
			rep.judge(t)
		})
	}
}
