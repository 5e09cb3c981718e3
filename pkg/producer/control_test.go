package producer

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// producer pause|resume|cancel on the real broker: the decision is
// recorded durably, resume and cancel publish the campaign's parked jobs
// again (to the lane they came from), other campaigns' parked jobs stay,
// and cancel is final.
func TestRealPauseResumeCancel(t *testing.T) {
	brokers := testenv.Kafka(t)
	prefix := testenv.Name(t, "ctl")
	topics := kafka.Topics{Prefix: prefix}
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: brokers})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cmd := ControlCommand{Common: config.Common{TopicPrefix: prefix}, Campaign: "a", SweepDelay: 0, Timeout: time.Minute}
	var out bytes.Buffer
	require.NoError(t, RunControl(ctx, cmd, control.Paused, cl, &out, nil))
	require.Contains(t, out.String(), "campaign a paused")
	states, err := control.Read(ctx, cl, topics)
	require.NoError(t, err)
	require.Equal(t, control.Paused, states["a"])

	// What senders parked meanwhile: two jobs of a (one from the priority
	// lane) and one of b.
	park := func(campaign, user, lane string) {
		r, err := job.Record(topics.Parked(), &job.Job{Version: job.SchemaVersion, Campaign: campaign, UserID: user, Email: user + "@example.com", Template: "t", From: "f@example.com"})
		require.NoError(t, err)
		job.SetHeader(r, job.HeaderOrigTopic, lane)
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	park("a", "u1", topics.Jobs())
	park("a", "u2", topics.PriorityJobs())
	park("b", "u3", topics.Jobs())

	out.Reset()
	require.NoError(t, RunControl(ctx, cmd, control.Active, cl, &out, nil))
	require.Contains(t, out.String(), "2 parked jobs published again")
	require.Equal(t, []string{"u1"}, usersOn(t, ctx, cl, topics.Jobs()))
	require.Equal(t, []string{"u2"}, usersOn(t, ctx, cl, topics.PriorityJobs()))
	states, err = control.Read(ctx, cl, topics)
	require.NoError(t, err)
	require.NotContains(t, states, "a", "resumed is active")

	out.Reset()
	require.NoError(t, RunControl(ctx, cmd, control.Cancelled, cl, &out, nil))
	require.Contains(t, out.String(), "cancelled (final)")
	require.ErrorIs(t, RunControl(ctx, cmd, control.Active, cl, &out, nil), control.ErrCancelled)
}

func usersOn(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) []string {
	t.Helper()
	var users []string
	require.NoError(t, kafka.ReadToEnd(ctx, cl, []string{topic}, func(r *kgo.Record) error {
		users = append(users, string(r.Key))
		return nil
	}))
	return users
}

func TestControlCommandNamesEveryMissingFlag(t *testing.T) {
	c := ControlCommand{Common: config.Common{Brokers: "k:1", RedisURL: "redis://x:1/0", TopicPrefix: "p", RedisTimeout: time.Second, StartupTimeout: time.Second}, SweepDelay: -time.Second}
	err := c.Validate()
	require.ErrorContains(t, err, "--campaign is required")
	require.ErrorContains(t, err, "--sweep-delay must not be negative")
	require.ErrorContains(t, err, "--timeout must be positive")
}
