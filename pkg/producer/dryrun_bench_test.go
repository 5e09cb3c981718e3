package producer

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sendonce/sendonce/pkg/source"
)

// BenchmarkDryRun validates a 100,000-row CSV (1% rejected) the way
// publish --dry-run does; rows/s is the number to read.
func BenchmarkDryRun(b *testing.B) {
	var csv bytes.Buffer
	csv.WriteString("user_id,email,first_name,hours\n")
	const rows = 100_000
	for i := range rows {
		if i%100 == 0 {
			fmt.Fprintf(&csv, "u%d,not-an-address,Name,%d\n", i, i)
			continue
		}
		fmt.Fprintf(&csv, "u%d,u%d@example.com,Name %d,%d\n", i, i, i, i%100)
	}
	cfg := testConfig()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		src, err := source.NewCSV(bytes.NewReader(csv.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		rep, err := DryRun(context.Background(), cfg, src, nil, nil)
		if err != nil || rep.Valid != rows-rows/100 {
			b.Fatalf("valid %d, err %v", rep.Valid, err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
