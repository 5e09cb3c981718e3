package producer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/source"
)

func TestAthenaReadFlags(t *testing.T) {
	base := []string{"--campaign", "2026-11", "--source", "athena", "--athena-query", "SELECT 1", "--template", "news", "--from", "news@example.com"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		err      string
		mode     source.ReadMode
		parallel int
	}{
		{name: "defaults: auto, one GET", mode: source.ReadAuto, parallel: 1},
		{name: "flags", args: []string{"--athena-read", "s3", "--athena-s3-parallel", "8"}, mode: source.ReadS3, parallel: 8},
		{name: "environment", env: map[string]string{"SENDONCE_ATHENA_READ": "api", "SENDONCE_ATHENA_S3_PARALLEL": "4"}, mode: source.ReadAPI, parallel: 4},
		{name: "the flag wins", args: []string{"--athena-read", "auto"}, env: map[string]string{"SENDONCE_ATHENA_READ": "api"}, mode: source.ReadAuto, parallel: 1},
		{name: "bad mode", args: []string{"--athena-read", "S3"}, err: "--athena-read must be s3, api or auto"},
		{name: "parallel 0 is one GET", args: []string{"--athena-s3-parallel", "0"}, mode: source.ReadAuto, parallel: 0},
		{name: "parallel negative", args: []string{"--athena-s3-parallel", "-1"}, err: "--athena-s3-parallel must be 1 to 64"},
		{name: "parallel too high", args: []string{"--athena-s3-parallel", "65"}, err: "--athena-s3-parallel must be 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parsePublish(t, append(append([]string{}, base...), tt.args...), tt.env)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			a, err := c.Source.Athena(c.Campaign)
			require.NoError(t, err)
			require.Equal(t, tt.mode, a.Read)
			require.Equal(t, tt.parallel, a.S3Parallel)
		})
	}
}
