package fence

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErase(t *testing.T) {
	for _, b := range []backend{miniBackend, realBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			f, _, _ := newFence(t, b, Config{Shards: 2, Buckets: 1})

			// Nothing fenced yet: nothing to find, nothing written.
			cs, err := f.Campaigns(ctx, "u1")
			require.NoError(t, err)
			require.Empty(t, cs)
			ok, err := f.Erase(ctx, "c1", "u1")
			require.NoError(t, err)
			require.False(t, ok)

			for _, cu := range [][2]string{{"c1", "u1"}, {"c:2", "u1"}, {"c1", "u2"}, {"c*3", "u1"}, {"c4", "u2"}} {
				_, err := f.Restore(ctx, cu[0], cu[1], Record{State: Sent, MessageID: "m"})
				require.NoError(t, err)
			}
			cs, err = f.Campaigns(ctx, "u1")
			require.NoError(t, err)
			require.Equal(t, []string{"c*3", "c1", "c:2"}, cs)

			ok, err = f.Erase(ctx, "c1", "u1")
			require.NoError(t, err)
			require.True(t, ok)
			ok, err = f.Erase(ctx, "c1", "u1")
			require.NoError(t, err)
			require.False(t, ok)
			_, found, err := f.Get(ctx, "c1", "u1")
			require.NoError(t, err)
			require.False(t, found)
			_, found, err = f.Get(ctx, "c1", "u2")
			require.NoError(t, err)
			require.True(t, found, "the other users stay")
			cs, err = f.Campaigns(ctx, "u1")
			require.NoError(t, err)
			require.Equal(t, []string{"c*3", "c:2"}, cs)

			_, err = f.Erase(ctx, "", "u1")
			require.ErrorIs(t, err, ErrKey)
			_, err = f.Campaigns(ctx, "")
			require.ErrorIs(t, err, ErrKey)
		})
	}
}
