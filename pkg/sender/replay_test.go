package sender

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestIntegrationReplayRefusesTargetsOlderThanTheFenceRetention: on the
// real broker, a replay that would bring back jobs older than the fence
// retention (whose fence keys may have expired) is refused, names --force,
// and moves no offset; --force or a younger target goes through. Time is
// moved by ReplayTarget.Now rather than by writing old timestamps.
// replayTopic makes a 2-partition jobs topic on the real broker holding n
// jobs, alternately on partition 0 and 1, for the replay tests. The context
// lasts a minute.
func replayTopic(t *testing.T, name string, n int) (context.Context, *kadm.Client, kafka.Topics) {
	t.Helper()
	seeds := testenv.Kafka(t)
	topics := kafka.Topics{Prefix: testenv.Name(t, name)}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	created, err := adm.CreateTopic(ctx, 2, -1, nil, topics.Jobs())
	require.NoError(t, err)
	require.NoError(t, created.Err)
	for i := range n {
		rec := &kgo.Record{Topic: topics.Jobs(), Partition: int32(i % 2), Key: []byte{'u', byte('0' + i)}, Value: []byte("{}")}
		require.NoError(t, cl.ProduceSync(ctx, rec).FirstErr())
	}
	return ctx, adm, topics
}

func TestIntegrationReplayRefusesTargetsOlderThanTheFenceRetention(t *testing.T) {
	ctx, adm, topics := replayTopic(t, "replay", 6)
	now := time.Now()
	const retention = 62 * 24 * time.Hour

	tests := []struct {
		name    string
		target  ReplayTarget
		refused string // "" when the replay goes through
	}{
		{name: "earliest, jobs younger than the retention", target: ReplayTarget{Earliest: true, FenceRetention: retention, Now: now}},
		{name: "earliest, jobs older than the retention", target: ReplayTarget{Earliest: true, FenceRetention: retention, Now: now.Add(70 * 24 * time.Hour)},
			refused: "--to earliest would replay up to 6 jobs written"},
		{name: "earliest, default retention", target: ReplayTarget{Earliest: true, Now: now.Add(63 * 24 * time.Hour)},
			refused: "--fence-retention 1488h0m0s"},
		{name: "earliest, old jobs, forced", target: ReplayTarget{Earliest: true, FenceRetention: retention, Now: now.Add(70 * 24 * time.Hour), Force: true}},
		{name: "earliest, old jobs, longer retention", target: ReplayTarget{Earliest: true, FenceRetention: 100 * 24 * time.Hour, Now: now.Add(70 * 24 * time.Hour)}},
		{name: "time older than the retention", target: ReplayTarget{Time: now.Add(-63 * 24 * time.Hour), FenceRetention: retention, Now: now},
			refused: "--to-time"},
		{name: "time older than the retention, forced", target: ReplayTarget{Time: now.Add(-63 * 24 * time.Hour), FenceRetention: retention, Now: now, Force: true}},
		{name: "time within the retention", target: ReplayTarget{Time: now.Add(-time.Hour), FenceRetention: retention, Now: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := testenv.Name(t, "group")
			offs, err := Replay(ctx, adm, group, topics.Jobs(), tt.target)
			if tt.refused == "" {
				require.NoError(t, err)
				require.Equal(t, map[int32]int64{0: 0, 1: 0}, offs)
				return
			}
			require.ErrorIs(t, err, ErrReplayTooOld)
			require.ErrorContains(t, err, tt.refused)
			require.ErrorContains(t, err, "--force")
			committed, err := adm.FetchOffsets(ctx, group)
			require.NoError(t, err)
			require.Empty(t, committed.Offsets(), "a refused replay moves no offset")
		})
	}
}
