package fence_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
)

// TestClusterEraseFindsEveryCampaign: a user's records in many campaigns
// (so on every master) are all found by Campaigns, which scans every
// primary, and erased one by one.
func TestClusterEraseFindsEveryCampaign(t *testing.T) {
	ctx := context.Background()
	rdb := clusterClient(t)
	f := clusterFence(t, rdb)
	var want []string
	for i := range 30 {
		c := fmt.Sprintf("c%02d", i)
		want = append(want, c)
		for _, u := range []string{"erase-me", "keep-me"} {
			_, err := f.Restore(ctx, c, u, fence.Record{State: fence.Sent, MessageID: "m"})
			require.NoError(t, err)
		}
	}
	got, err := f.Campaigns(ctx, "erase-me")
	require.NoError(t, err)
	require.Equal(t, want, got)
	for _, c := range got {
		ok, err := f.Erase(ctx, c, "erase-me")
		require.NoError(t, err)
		require.True(t, ok, c)
		_, kept, err := f.Get(ctx, c, "keep-me")
		require.NoError(t, err)
		require.True(t, kept, c)
	}
	got, err = f.Campaigns(ctx, "erase-me")
	require.NoError(t, err)
	require.Empty(t, got)
	t.Cleanup(func() {
		for _, c := range want {
			_, _ = f.Erase(ctx, c, "keep-me")
		}
	})
}
