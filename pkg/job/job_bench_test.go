package job

import (
	"testing"
)

// The job codec is on the hot path twice per email: the producer encodes
// every job, the sender decodes every record it consumes.

func BenchmarkEncode(b *testing.B) {
	j := validJob()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	raw, err := validJob().Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecord is what the producer does per row after validation: encode
// and wrap in a Kafka record with headers.
func BenchmarkRecord(b *testing.B) {
	j := validJob()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Record("sendonce.jobs", j); err != nil {
			b.Fatal(err)
		}
	}
}
