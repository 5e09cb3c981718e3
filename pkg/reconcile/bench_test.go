package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// BenchmarkReconcileRealRedisKafka: events per second through the
// in-memory queue, the real fence (Redis) and ledger writes to the real
// Kafka: Send and Delivery for each ambiguous user. Run with
// -benchtime=1x; the SQS round trips (receive, delete) are not in it.
func BenchmarkReconcileRealRedisKafka(b *testing.B) {
	for _, pollers := range []int{1, 4} {
		b.Run(fmt.Sprint("pollers=", pollers), func(b *testing.B) { benchReconcile(b, pollers) })
	}
}

func benchReconcile(b *testing.B, pollers int) {
	const users = 2000
	opt, err := redis.ParseURL(testenv.RedisURL(b))
	require.NoError(b, err)
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { _ = rdb.Close() })
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: testenv.Kafka(b)})
	require.NoError(b, err)
	b.Cleanup(cl.Close)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		prefix := testenv.Name(b, "bench")
		topics := kafka.Topics{Prefix: prefix}
		require.NoError(b, kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: topics, Partitions: 3, ReplicationFactor: -1}, nil))
		fnc, err := fence.New(rdb, fence.Config{Prefix: prefix}, nil)
		require.NoError(b, err)
		q := &Memory{Visibility: time.Minute, Wait: 50 * time.Millisecond}
		for u := 0; u < users; u++ {
			user := fmt.Sprintf("u%05d", u)
			c, err := fnc.Claim(ctx, "bench", user)
			require.NoError(b, err)
			require.NoError(b, fnc.Arm(ctx, "bench", user, c.Token))
			require.NoError(b, fnc.MarkAmbiguous(ctx, "bench", user, c.Token, "ses 503"))
			ref, err := pseudonym.SealUserRef(testKey, user)
			require.NoError(b, err)
			for _, typ := range []string{"Send", "Delivery"} {
				q.Put(snsWrap(b, sesJSON(b, evSpec{typ: typ, tags: map[string][]string{TagCampaign: {"bench"}, TagAttempt: {c.Token}, TagUserRef: {ref}}, user: user, attempt: c.Token})))
			}
		}
		r, err := New(Config{Topics: topics, Pollers: pollers}, Deps{Settler: FenceSettler{F: fnc}, Producer: cl, Source: q, UserKey: testKey})
		require.NoError(b, err)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- r.Run(rctx) }()
		for q.Len() > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		el := time.Since(start)
		b.StopTimer()
		stop()
		require.NoError(b, <-done)
		b.ReportMetric(float64(2*users)/el.Seconds(), "events/s")
	}
}
