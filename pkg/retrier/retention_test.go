package retrier

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestIntegrationDLQRetentionCheck: on the real broker, a DLQ kept longer
// than the fence (or forever) is reported with the command that fixes it; a
// DLQ within the fence retention, or none, is fine.
func TestIntegrationDLQRetentionCheck(t *testing.T) {
	seeds := testenv.Kafka(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const fenceRetention = 62 * 24 * time.Hour
	tests := []struct {
		name      string
		retention time.Duration // 0: no topic
		err       string
	}{
		{name: "no topic"},
		{name: "equal", retention: fenceRetention},
		{name: "shorter", retention: 7 * 24 * time.Hour},
		{name: "longer", retention: 90 * 24 * time.Hour, err: "keeps records 2160h0m0s, longer than --fence-retention 1488h0m0s"},
		{name: "forever", retention: -time.Millisecond, err: "keeps records forever"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dlq := testenv.Name(t, "retention") + ".dlq"
			if tt.retention != 0 {
				ms := strconv.FormatInt(tt.retention.Milliseconds(), 10)
				resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"retention.ms": &ms}, dlq)
				require.NoError(t, err)
				require.NoError(t, resp.Err)
				// The broker knows a new topic's configs a moment later.
				require.Eventually(t, func() bool {
					d, ok, err := TopicRetention(ctx, adm, dlq)
					return err == nil && ok && d == tt.retention
				}, 10*time.Second, 20*time.Millisecond)
			}
			err := CheckDLQRetention(ctx, adm, dlq, fenceRetention)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrRetention)
			require.ErrorContains(t, err, tt.err)
			require.ErrorContains(t, err, "retention.ms=5356800000")
		})
	}
}
