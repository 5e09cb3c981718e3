package sender

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// realEnv wires a test to the real broker, Redis and SES emulator.
func realEnv(t *testing.T) (*env, string) {
	brokers := testenv.Kafka(t)
	url := testenv.RedisURL(t)
	endpoint := testenv.SESEndpoint(t)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	prefix := testenv.Name(t, "snd")
	e := newEnv(t, brokers, rdb, endpoint, prefix)
	mailer, err := ses.New(context.Background(), ses.Config{}, nil)
	require.NoError(t, err)
	require.NoError(t, mailer.CreateTemplate(context.Background(), "usage", "Your usage, {{name}}", "<p>{{kwh}} kWh</p>", "{{kwh}} kWh"))
	return e, prefix + ".test"
}

// TestRealTenThousandJobsEachRecipientOnce is the sender's acceptance test
// on the real broker, Redis and SES emulator: 10,000 jobs give 10,000 emails,
// each recipient exactly once (read back from the emulator's store); a
// replay of the same offsets gives no new email.
//
// It runs on both send paths: SendBulkEmail batches of 50 and one
// SendEmail per user.
func TestRealTenThousandJobsEachRecipientOnce(t *testing.T) {
	for _, size := range batchSizes {
		t.Run(fmt.Sprintf("batch=%d", size), func(t *testing.T) { tenThousandOnce(t, size) })
	}
}

// batchSizes are the two send paths every acceptance test runs on.
var batchSizes = []int{DefaultBatchSize, 1}

func tenThousandOnce(t *testing.T, batchSize int) {
	e, domain := realEnv(t)
	const n = 10000
	e.publish("c10k", n, domain)

	// Two senders in the group share the partitions.
	mod := func(c *Config) { c.Concurrency = 128; c.BatchSize = batchSize }
	if batchSize > 1 {
		mod = func(c *Config) { c.Concurrency = 8; c.BatchSize = batchSize }
	}
	r1 := e.start(mod)
	r2 := e.start(mod)
	waitFor(t, 3*time.Minute, "group lag 0", func() bool { return e.groupLag() == 0 })
	r1.stop(t)
	r2.stop(t)

	emails, err := testenv.SESStore(context.Background(), e.sesURL)
	require.NoError(t, err)
	counts := testenv.RecipientCounts(emails, "@"+domain)
	for _, o := range outcomes {
		if c := r1.outcome(o) + r2.outcome(o); c > 0 {
			t.Logf("outcome %s: %d", o, c)
		}
	}
	require.Equal(t, n, len(counts), "distinct recipients accepted by SES")
	for to, c := range counts {
		require.Equal(t, 1, c, "emails to %s", to)
	}
	require.Equal(t, n, r1.outcome(outSent)+r2.outcome(outSent))

	// Replay from the earliest offset: every job is consumed again and
	// no email is sent.
	cl := e.client()
	_, err = Replay(context.Background(), kadm.NewClient(cl), e.topics.SenderGroup(), e.topics.Jobs(), ReplayTarget{Earliest: true})
	cl.Close()
	require.NoError(t, err)
	r3 := e.start(mod)
	waitFor(t, 3*time.Minute, "replayed group lag 0", func() bool { return e.groupLag() == 0 })
	r3.stop(t)
	require.Equal(t, n, r3.outcome(outDuplicate))
	emails, err = testenv.SESStore(context.Background(), e.sesURL)
	require.NoError(t, err)
	require.Len(t, testenv.RecipientCounts(emails, "@"+domain), n)
	total := 0
	for _, c := range testenv.RecipientCounts(emails, "@"+domain) {
		total += c
	}
	require.Equal(t, n, total, "emails after the replay")
}

// TestRealRedisOutageSendsNothingAndResumes stops the fence's Redis under a
// running sender (a private Redis, so other tests keep theirs): nothing is
// sent or committed while it is away, and the campaign completes once it
// is back.
func TestRealRedisOutageSendsNothingAndResumes(t *testing.T) {
	priv := testenv.PrivateRedis(t)
	brokers := testenv.Kafka(t)
	endpoint := testenv.SESEndpoint(t)
	rdb := redis.NewClient(&redis.Options{Addr: priv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	prefix := testenv.Name(t, "rdo")
	e := newEnv(t, brokers, rdb, endpoint, prefix)
	domain := prefix + ".test"
	mailer, err := ses.New(context.Background(), ses.Config{}, nil)
	require.NoError(t, err)
	require.NoError(t, mailer.CreateTemplate(context.Background(), "usage", "Your usage, {{name}}", "<p>{{kwh}} kWh</p>", "{{kwh}} kWh"))

	priv.Stop(t)
	e.publish("outage", 200, domain)
	r := e.start(func(c *Config) { c.MaxSendRate = 1000 })
	// While Redis is away: no email, no commit.
	time.Sleep(2 * time.Second) // an absence can only be observed over time
	emails, err := testenv.SESStore(context.Background(), e.sesURL)
	require.NoError(t, err)
	require.Empty(t, testenv.RecipientCounts(emails, "@"+domain), "emails sent without a fence")
	require.Equal(t, int64(200), e.groupLag(), "offsets committed without a fence")
	require.Error(t, r.s.Ready(context.Background()))

	priv.Start(t)
	waitFor(t, time.Minute, "group lag 0 after Redis came back", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	emails, err = testenv.SESStore(context.Background(), e.sesURL)
	require.NoError(t, err)
	counts := testenv.RecipientCounts(emails, "@"+domain)
	require.Len(t, counts, 200)
	for to, c := range counts {
		require.Equal(t, 1, c, fmt.Sprintf("emails to %s", to))
	}
}
