package sender

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestIntegrationReplayReportsOldAndNewOffsets: on the real broker, a
// replay says, per partition, the group's offset before and after and the
// end, and how many jobs already read will be read again.
func TestIntegrationReplayReportsOldAndNewOffsets(t *testing.T) {
	seeds := testenv.Kafka(t)
	topics := kafka.Topics{Prefix: testenv.Name(t, "replayreport")}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := adm.CreateTopic(ctx, 2, -1, nil, topics.Jobs())
	require.NoError(t, err)
	require.NoError(t, created.Err)
	// 4 jobs on partition 0, 3 on partition 1.
	for i := range 7 {
		rec := &kgo.Record{Topic: topics.Jobs(), Partition: int32(i % 2), Key: []byte{'u', byte('0' + i)}, Value: []byte("{}")}
		require.NoError(t, cl.ProduceSync(ctx, rec).FirstErr())
	}

	// A group that had read 3 jobs of partition 0 and all 3 of partition 1.
	group := testenv.Name(t, "group")
	var commit kadm.Offsets
	commit.AddOffset(topics.Jobs(), 0, 3, -1)
	commit.AddOffset(topics.Jobs(), 1, 3, -1)
	resp, err := adm.CommitOffsets(ctx, group, commit)
	require.NoError(t, err)
	require.NoError(t, resp.Error())

	rep, err := ReplayWithReport(ctx, adm, group, topics.Jobs(), ReplayTarget{Earliest: true})
	require.NoError(t, err)
	require.Equal(t, []PartitionReplay{
		{Partition: 0, Old: 3, New: 0, End: 4},
		{Partition: 1, Old: 3, New: 0, End: 3},
	}, rep.Partitions)
	require.EqualValues(t, 6, rep.Replayed())
	require.EqualValues(t, 7, rep.ToRead())
	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	require.Contains(t, out.String(), "reset on "+topics.Jobs())
	require.Regexp(t, `(?m)^0\s+3\s+0\s+4\s+3$`, out.String())
	require.Regexp(t, `(?m)^1\s+3\s+0\s+3\s+3$`, out.String())
	require.Contains(t, out.String(), "6 jobs already read will be read again (7 jobs from the new offsets to the end)")

	// A group that never committed: old "none", nothing read again.
	fresh := testenv.Name(t, "fresh")
	rep, err = ReplayWithReport(ctx, adm, fresh, topics.Jobs(), ReplayTarget{Earliest: true})
	require.NoError(t, err)
	require.Len(t, rep.Partitions, 2)
	for _, p := range rep.Partitions {
		require.EqualValues(t, -1, p.Old)
	}
	require.EqualValues(t, 0, rep.Replayed())
	out.Reset()
	require.NoError(t, rep.WriteText(&out))
	require.Regexp(t, `(?m)^0\s+none\s+0\s+4\s+0$`, out.String())
}
