package producer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCampaignFromDate(t *testing.T) {
	nov := time.Date(2026, 11, 30, 23, 30, 0, 0, time.FixedZone("UTC-2", -2*3600)) // 2026-12-01 01:30 UTC
	cases := []struct {
		layout, want, err string
	}{
		{layout: "2006-01", want: "2026-12"},
		{layout: "usage-2006-01", want: "usage-2026-12"},
		{layout: "2006-01-02", want: "2026-12-01"},
		{layout: "monthly", err: "has no date element"},
		{layout: "2006/01", err: "invalid --campaign"},
	}
	for _, tc := range cases {
		t.Run(tc.layout, func(t *testing.T) {
			got, err := CampaignFromDate(tc.layout, nov)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got, "the UTC date")
		})
	}
}

func TestPublishFlagsCampaignFromDate(t *testing.T) {
	base := []string{"--source", "csv:users.csv", "--template", "t", "--from", "a@example.com"}
	cmd, err := parsePublish(t, append([]string{"--campaign-from-date", "2006-01"}, base...), nil)
	require.NoError(t, err)
	require.Equal(t, time.Now().UTC().Format("2006-01"), cmd.Campaign)

	_, err = parsePublish(t, append([]string{"--campaign-from-date", "2006-01", "--campaign", "x"}, base...), nil)
	require.ErrorContains(t, err, "not both")
	_, err = parsePublish(t, append([]string{"--campaign-from-date", "2006-01"}, base...), map[string]string{"SENDONCE_CAMPAIGN": "x"})
	require.ErrorContains(t, err, "not both", "a CronJob that still sets SENDONCE_CAMPAIGN is told")

	before := time.Now()
	cmd, err = parsePublish(t, append([]string{"--campaign", "c", "--expires-after", "168h"}, base...), nil)
	require.NoError(t, err)
	require.WithinDuration(t, before.Add(168*time.Hour), cmd.PublishConfig.ExpiresAt, 2*time.Second)
	_, err = parsePublish(t, append([]string{"--campaign", "c", "--expires-after", "168h", "--expires-at", "2099-01-01T00:00:00Z"}, base...), nil)
	require.ErrorContains(t, err, "not given with --expires-at")
}
