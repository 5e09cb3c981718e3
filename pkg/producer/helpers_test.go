package producer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/source"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// hookSource wraps a reader and calls hook after each row it hands out.
type hookSource struct {
	source.Reader
	n    int
	hook func(n int)
}

func (h *hookSource) Next(ctx context.Context) (source.Row, error) {
	row, err := h.Reader.Next(ctx)
	if err == nil {
		h.n++
		if h.hook != nil {
			h.hook(h.n)
		}
	}
	return row, err
}

// errSource fails after its rows.
type errSource struct {
	rows []source.Row
	err  error
}

func (e *errSource) Next(context.Context) (source.Row, error) {
	if len(e.rows) == 0 {
		return source.Row{}, e.err
	}
	r := e.rows[0]
	e.rows = e.rows[1:]
	return r, nil
}
func (e *errSource) Close() error { return nil }

// csvSource is a CSV of users u0..u(n-1) plus extra lines.
func csvSource(t *testing.T, n int, extra ...string) source.Reader {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("user_id,email,first_name\n")
	for i := range n {
		fmt.Fprintf(&b, "u%d,u%d@example.com,Name %d\n", i, i, i)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	r, err := source.NewCSV(&b)
	require.NoError(t, err)
	return r
}

type env struct {
	cl     *kgo.Client
	topics kafka.Topics
	fake   *kfake.Cluster
}

func layout(topics kafka.Topics) kafka.Layout {
	return kafka.Layout{Topics: topics, Partitions: 3, ReplicationFactor: -1, Tiers: []time.Duration{time.Second}}
}

// fakeEnv is a kfake cluster with the topics created.
func fakeEnv(t *testing.T) env {
	t.Helper()
	c, seeds := kafkatest.Cluster(t, kfake.SeedTopics(-1))
	return newEnv(t, seeds, kafka.Topics{Prefix: "t"}, c)
}

// realEnv is the real broker with topics of a unique prefix.
func realEnv(t testing.TB) env {
	t.Helper()
	return newEnv(t, testenv.Kafka(t), kafka.Topics{Prefix: testenv.Name(t, "producer")}, nil)
}

func newEnv(t testing.TB, seeds []string, topics kafka.Topics, fake *kfake.Cluster) env {
	t.Helper()
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds, ClientID: "producer-test"}, ClientOpts()...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	require.NoError(t, EnsureTopics(context.Background(), cl, layout(topics), 30*time.Second, nil))
	return env{cl: cl, topics: topics, fake: fake}
}

// readJobs returns every job record of the jobs topic by key.
func readJobs(t *testing.T, e env) (records int, byKey map[string]*job.Job) {
	t.Helper()
	byKey = map[string]*job.Job{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, kafka.ReadToEnd(ctx, e.cl, []string{e.topics.Jobs()}, func(r *kgo.Record) error {
		records++
		j, err := job.Decode(r.Value)
		require.NoError(t, err)
		require.Equal(t, string(r.Key), j.UserID)
		byKey[string(r.Key)] = j
		return nil
	}))
	return records, byKey
}

func readValues(t *testing.T, e env, topic string) []string {
	t.Helper()
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, kafka.ReadToEnd(ctx, e.cl, []string{topic}, func(r *kgo.Record) error { out = append(out, string(r.Value)); return nil }))
	return out
}

func lines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}
