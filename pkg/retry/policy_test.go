package retry

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPolicyTierAndExhausted(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		attempt   int
		tier      time.Duration
		exhausted bool
	}{
		{0, 30 * time.Second, false},
		{1, 30 * time.Second, false},
		{2, 2 * time.Minute, false},
		{3, 10 * time.Minute, false},
		{4, time.Hour, false},
		{7, time.Hour, false},
		{8, time.Hour, true},
		{9, time.Hour, true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.tier, p.Tier(tt.attempt), "attempt %d", tt.attempt)
		require.Equal(t, tt.exhausted, p.Exhausted(tt.attempt), "attempt %d", tt.attempt)
	}
}

func TestNotBeforeJitterBounds(t *testing.T) {
	p := DefaultPolicy()
	now := time.Unix(1000, 0)
	d, nb := p.NotBefore(now, 1, func() float64 { return 0 })
	require.Equal(t, 30*time.Second, d)
	require.Equal(t, now.Add(30*time.Second), nb)
	_, nb = p.NotBefore(now, 1, func() float64 { return 0.999 })
	require.True(t, nb.After(now.Add(32*time.Second)) && nb.Before(now.Add(33*time.Second)), "got %s", nb.Sub(now))
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		err  error
	}{
		{"default", DefaultPolicy(), nil},
		{"no tiers", Policy{MaxAttempts: 1}, ErrNoTiers},
		{"decreasing", Policy{Tiers: []time.Duration{time.Minute, time.Second}, MaxAttempts: 1}, ErrTierOrder},
		{"zero attempts", Policy{Tiers: []time.Duration{time.Second}}, ErrMaxAttempts},
		{"jitter", Policy{Tiers: []time.Duration{time.Second}, MaxAttempts: 1, Jitter: 1}, ErrJitter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.err)
		})
	}
}

func TestParseAndFormatTiers(t *testing.T) {
	ts, err := ParseTiers("30s, 2m,10m,1h,1500ms")
	require.NoError(t, err)
	require.Equal(t, "30s,2m,10m,1h,1500ms", FormatTiers(ts))
	_, err = ParseTiers("30s,soon")
	require.ErrorContains(t, err, `"soon"`)
	_, err = ParseTiers(" , ")
	require.ErrorIs(t, err, ErrNoTiers)
}

func TestEveryClassHasAnAction(t *testing.T) {
	for _, c := range []Class{Throttled, Quota, Ambiguous, NotSent, Permanent, Stop} {
		_, ok := Actions[c]
		require.True(t, ok, "class %s has no action", c)
	}
	require.Equal(t, ActionAmbiguous, ActionFor("something new"))
}
