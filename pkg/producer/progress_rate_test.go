package producer

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/source"
)

// sizedSource is a source that knows its size (a file, an Athena result
// file on S3).
type sizedSource struct{ done, total int64 }

func (s sizedSource) Next(context.Context) (source.Row, error) { return source.Row{}, nil }
func (s sizedSource) Close() error                             { return nil }
func (s sizedSource) Progress() (int64, int64)                 { return s.done, s.total }

// Progress shows MB/s and an ETA from the source's size.
func TestProgressRateAndETA(t *testing.T) {
	p := &publisher{d: Deps{Source: sizedSource{done: 40 << 20, total: 100 << 20}}}
	p.rows.Store(1000)
	pr := &progress{p: p, started: time.Now().Add(-4 * time.Second)}
	s := pr.snapshot()
	require.InDelta(t, 10, s.mbps, 0.5, "40 MiB in 4 s")
	require.InDelta(t, 40, s.percent, 0.01)
	require.InDelta(t, 6*time.Second, s.eta, float64(500*time.Millisecond), "60 MiB left at 10 MiB/s")
	require.InDelta(t, 250, s.rate, 20)

	pr.p.d.Source = sizedSource{}
	s = pr.snapshot()
	require.Zero(t, s.mbps, "unknown size: no rate")
	require.Equal(t, float64(-1), s.percent)
}
