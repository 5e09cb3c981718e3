package sender

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/sesfake"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// A 1,000-user campaign published behind a 200,000-user one on the
// priority lane (producer publish --priority high) is not starved: it is
// sent while the big one has barely started. On the real broker and Redis;
// SES is the in-process fake (GetAccount 1,000/s), so the big campaign
// alone would take minutes.
func TestRealSmallPriorityCampaignIsNotStarvedByABigOne(t *testing.T) {
	brokers := testenv.Kafka(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	srv := fakeSES(t, sesfake.Config{})
	e := newEnv(t, brokers, rdb, srv.URL(), testenv.Name(t, "prio"))
	t.Cleanup(func() { e.deleteTopics() })

	const big, small = 200_000, 1_000
	e.publishJobs(jobsOf("big", big, "big.example", nil)...)
	smallJobs := jobsOf("small", small, "small.example", func(j *job.Job) { j.UserID = "s-" + j.UserID })
	e.publishTo(e.topics.PriorityJobs(), smallJobs...)

	start := time.Now()
	r := e.start(nil)
	waitFor(t, 90*time.Second, "the small campaign sent", func() bool { return len(recipientsAt(srv, "small.example")) == small })
	took := time.Since(start)
	bigSent := len(recipientsAt(srv, "big.example"))
	r.stop(t)
	t.Logf("small campaign (priority lane) sent in %s, while the big one had %d of %d", took.Round(100*time.Millisecond), bigSent, big)
	require.Less(t, bigSent, big/4, "the small campaign went first, not after the big one's backlog")
	requireOnceEach(t, recipientsAt(srv, "small.example"), small)
}

// publishTo produces jobs to topic.
func (e *env) publishTo(topic string, jobs ...*job.Job) {
	cl := e.client()
	defer cl.Close()
	recs := make([]*kgo.Record, 0, len(jobs))
	for _, j := range jobs {
		r, err := job.Record(topic, j)
		require.NoError(e.t, err)
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(e.t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// deleteTopics removes the test's topics from the shared broker.
func (e *env) deleteTopics() {
	cl := e.client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return
	}
	var mine []string
	for _, name := range topics.Names() {
		if len(name) > len(e.topics.Prefix) && name[:len(e.topics.Prefix)+1] == e.topics.Prefix+"." {
			mine = append(mine, name)
		}
	}
	_, _ = adm.DeleteTopics(ctx, mine...)
}
