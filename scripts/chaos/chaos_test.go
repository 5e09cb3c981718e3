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
	rateCap      = 600 // the proxy answers 429 above this many emails/s
	// eventsRateCap is the proxy's cap in the modes with SES events: every
	// accepted email becomes an SNS publish and an SQS message in moto,
	// whose receive takes time in proportion to the queue's length
	// (measured here under load: 15 ms with 20 messages queued, 700 ms
	// with 400), so that once it falls behind it stays behind: one moto
	// followed two streams of 30 events/s with a lag under 2 s and fell
	// behind for good at 120/s. The cap keeps each run (one moto each)
	// within that, and the senders' AIMD meets it as SES's throttling.
	// At 50/s two event runs side by side on the 2-core box lost events
	// to a stalled moto and saw events 100 s late (duplicates after
	// --resolve-after): 30/s, one event run at a time (hardMu).
	eventsRateCap = 30
	// reconcilePollers is the reconciler's --pollers: two receives at
	// once are enough here, and each is a scan of the queue in moto.
	reconcilePollers = 2
	retryTiers       = "1s,2s,4s,8s"
	maxAttempts      = 8
	fenceLease       = 20 * time.Second
	sesTimeout       = 10 * time.Second // at most half the lease (sender run refuses more)
	drainTimeout     = 10 * time.Second
	concurrency      = 32
	// redisFsync is the private Redis's appendfsync: the Redis default,
	// which docker-compose.yml runs too (see docs/RELIABILITY.md).
	redisFsync = "everysec"
)

// resolveAfter is the --resolve-after of the senders and of `sender
// reconcile` in the modes with SES events: shortened from the 30m default
// so that a run sees ambiguous sends declared not sent and sent again, and
// still far above how late an event can come here (the publisher's delay
// of at most eventMaxDelay, plus a reconciler restart, a Redis outage or
// stall, and the queue's visibility timeout after a SIGKILLed receive).
// One run on a busy box saw an event 60 s late; an event that comes after
// the window but before the resend armed still wins (the fence), one that
// comes after the resend left is the duplicate the window risks.
const (
	resolveAfter    = 60 * time.Second
	eventMinDelay   = 100 * time.Millisecond
	eventMaxDelay   = 2 * time.Second
	eventDuplicates = 0.1 // share of the events published twice
	// queueVisibility is the events queue's visibility timeout and the
	// reconciler's --visibility-timeout (it extends a slow batch every
	// half of it).
	queueVisibility = 6 * time.Second
)

// mode is one way of stopping things, on one batch path.
type mode struct {
	name string
	sig  syscall.Signal
	// batch is the senders' --batch-size: 50 sends with SendBulkEmail,
	// 1 with one SendEmail per user.
	batch int
	// err503 and err503After are the proxy's shares of 503 answers
	// without and after forwarding. Any 5xx after the request was written
	// is ambiguous by design (SES may have accepted the email), so a run
	// that must end with 0 ambiguous users without SES's events injects
	// none.
	err503, err503After float64
	// events: the proxy publishes SES's events (SNS topic, SQS queue in
	// moto), one `sender reconcile` settles sends from them (restarted
	// with the mode's signal like the others), and senders and reconciler
	// run with --resolve-after. The run must end with 0 unsettled
	// ambiguous users.
	events bool
	// rawEvents: the queue gets the bare event (raw message delivery)
	// rather than SNS's envelope; the reconciler must read both.
	rawEvents bool
	// rateCap is the proxy's cap in emails/s; plannedRate the mean send
	// rate the fault schedule is planned for (see faults_test.go).
	rateCap, plannedRate int
	// share is the run's share of SENDONCE_CHAOS_USERS: the event modes,
	// capped at a twentieth of the rate, run about a third as many users, so that all
	// runs take about as long.
	share float64
	seed  int64
}

var modes = []mode{
	{name: "graceful-50", sig: syscall.SIGTERM, batch: 50, rateCap: rateCap, plannedRate: 60, share: 1, seed: 1},
	{name: "hard-50", sig: syscall.SIGKILL, batch: 50, err503: 0.005, err503After: 0.005, events: true,
		rateCap: eventsRateCap, plannedRate: 15, share: 0.35, seed: 2},
	{name: "hard-1", sig: syscall.SIGKILL, batch: 1, err503: 0.005, err503After: 0.005, events: true, rawEvents: true,
		rateCap: eventsRateCap, plannedRate: 15, share: 0.35, seed: 3},
}

func (m mode) hard() bool { return m.sig == syscall.SIGKILL }

func (m mode) faults(target string) sesfault.Config {
	return sesfault.Config{
		Target:           target,
		ThrottleRatio:    0.10,
		RateCap:          float64(m.rateCap),
		Err503Ratio:      m.err503,
		Err503AfterRatio: m.err503After,
		MinLatency:       5 * time.Millisecond,
		MaxLatency:       30 * time.Millisecond,
		RejectRecipient:  isRejected,
		Seed:             m.seed,
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

// hardMu keeps the runs with SES events (each with its own moto) apart.
var hardMu sync.Mutex

// TestChaos runs a campaign through the real binaries under faults, once
// per mode, and judges every user by the emulator's store.
//
// Demanded: graceful mode (SIGTERM, batches of 50) 0 duplicates, 0 lost,
// 0 ambiguous; hard modes (SIGKILL, batches of 50 and of 1, with SES's
// events and `sender reconcile`) 0 duplicates, 0 lost and 0 ambiguous
// after settlement: every user in doubt during the run ends sent (settled
// by its SES event, or declared not sent after --resolve-after and sent
// again) or failed, and its latest ledger entry names the reason. In all,
// rejected recipients get no email and end failed or dead_lettered,
// invalid rows are reported and never sent, and every service stops on
// SIGTERM with exit 0.
func TestChaos(t *testing.T) {
	// The services env says scripts/services.sh provisioned what the
	// private instances run from (broker jars, redis-server, the emulator).
	testenv.Kafka(t)
	testenv.SESEndpoint(t) // and AWS_REGION and test credentials
	n := users(t)
	root := repoRoot(t)
	bins := build(t, root)
	requireFlags(t, bins.sender, "run", "batch-size", "resolve-after", "user-hash-key-file", "require-configuration-set")
	requireFlags(t, bins.sender, "reconcile", "events-queue-url", "resolve-after", "user-hash-key-file", "visibility-timeout", "drain-timeout", "summary-interval")
	requireFlags(t, bins.producer, "publish", "configuration-set")

	// The reduced run (make test) runs the modes side by side: most of a
	// run is spent waiting out the group's session timeout after a
	// fault, or an event's delay, so overlapping them cuts CI time. Full-size runs go one
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
		fmt.Fprintf(&b, "SENDONCE_CHAOS_USERS=%d go test -count=1 -run TestChaos -v ./scripts/chaos/ (modes in parallel: %v; the event modes run half the users)\n\n", n, parallel)
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
			if m.events {
				// One moto-backed run at a time: two of them on a
				// 2-core box starve each other's moto.
				hardMu.Lock()
				defer hardMu.Unlock()
			}
			r := newRun(t, root, bins, m, max(100, int(float64(n)*m.share)))
			rep := r.execute()
			t.Log("\n" + rep.table(50))
			mu.Lock()
			tables[m.name] = rep.table(0)
			mu.Unlock()
			rep.judge(t)
		})
	}
}
