package sender

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestIntegrationReplayReportsOldAndNewOffsets: on the real broker, a
// replay says, per partition, the group's offset before and after and the
// end, and how many jobs already read will be read again.
func TestIntegrationReplayReportsOldAndNewOffsets(t *testing.T) {
	// 4 jobs on partition 0, 3 on partition 1.
	ctx, adm, topics := replayTopic(t, "replayreport", 7)

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
