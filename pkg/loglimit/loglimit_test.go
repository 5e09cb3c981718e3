package loglimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOneLinePerKeyPerInterval(t *testing.T) {
	var l Limiter
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	steps := []struct {
		key       string
		at        time.Duration
		ok        bool
		suppessed int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", time.Second, true, 0}, // keys are apart
		{"a", 5 * time.Second, false, 0},
		{"a", Every, true, 2},
		{"a", Every + time.Second, false, 0},
		{"a", 3 * Every, true, 1},
	}
	for i, s := range steps {
		ok, n := l.Allow(s.key, t0.Add(s.at))
		require.Equal(t, s.ok, ok, "step %d", i)
		require.Equal(t, s.suppessed, n, "step %d", i)
	}
}
