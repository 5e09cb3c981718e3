package ratelimit

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{Rate: 14},
			want: Config{Key: "sendonce:rate", Rate: 14, Burst: 1, MaxAhead: 2 * time.Second, Timeout: 2 * time.Second, Pace: 0.98, MaxLate: 15 * time.Millisecond}},
		{name: "unlimited", cfg: Config{Rate: -1},
			want: Config{Key: "sendonce:rate", Rate: -1, Burst: 1, MaxAhead: 2 * time.Second, Timeout: 2 * time.Second, Pace: 0.98, MaxLate: 15 * time.Millisecond}},
		{name: "kept", cfg: Config{Key: "k", Rate: 1, Burst: 3, MaxAhead: time.Second, Timeout: time.Second, Pace: 1, MaxLate: time.Second},
			want: Config{Key: "k", Rate: 1, Burst: 3, MaxAhead: time.Second, Timeout: time.Second, Pace: 1, MaxLate: time.Second}},
		{name: "nan rate", cfg: Config{Rate: math.NaN()}, wantErr: "rate must be a finite number"},
		{name: "infinite rate", cfg: Config{Rate: math.Inf(1)}, wantErr: "rate must be a finite number"},
		{name: "negative burst", cfg: Config{Burst: -1}, wantErr: "burst must be at least 1 (got -1)"},
		{name: "negative max ahead", cfg: Config{MaxAhead: -time.Second}, wantErr: "max ahead must be at least 1ms"},
		{name: "negative timeout", cfg: Config{Timeout: -time.Second}, wantErr: "timeout must be at least 1ms"},
		{name: "negative max late", cfg: Config{MaxLate: -time.Second}, wantErr: "max late must be at least 1ms"},
		{name: "pace above 1", cfg: Config{Pace: 1.01}, wantErr: "pace must be in (0, 1] (got 1.01)"},
		{name: "negative pace", cfg: Config{Pace: -0.5}, wantErr: "pace must be in (0, 1]"},
		{name: "nan pace", cfg: Config{Pace: math.NaN()}, wantErr: "pace must be in (0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrConfig)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, tt.cfg)
		})
	}
}

func TestNewNeedsClientOnlyWhenLimited(t *testing.T) {
	_, err := New(nil, Config{Rate: 10}, nil)
	require.ErrorIs(t, err, ErrConfig)
	l, err := New(nil, Config{}, nil)
	require.NoError(t, err)
	waited, err := l.Wait(t.Context())
	require.NoError(t, err)
	require.Zero(t, waited)
}
