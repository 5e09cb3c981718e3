package job

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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

// BenchmarkEncodeMarshal is the encoding/json reference Encode replaced
// (json.Marshal of the same job, byte-identical output): run both in one
// go to compare on a busy machine.
func BenchmarkEncodeMarshal(b *testing.B) {
	j := validJob()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(j); err != nil {
			b.Fatal(err)
		}
	}
}

// rowJob is a job as the producer builds it from a row of the Athena bench
// (template data of two columns, no unsubscribe headers).
func rowJob() *Job {
	return &Job{
		Version: SchemaVersion, Campaign: "bench-1130", UserID: "u0001234567", Email: "u0001234567@example.com",
		Template: "usage", Data: json.RawMessage(`{"kwh":"1234","name":"User 1234567"}`), From: "no-reply@example.com",
		CreatedAt: time.Date(2026, 11, 30, 6, 0, 0, 123456789, time.UTC),
	}
}

// BenchmarkRecordRow is the producer's per-row encode and record, for a
// row of the Athena bench.
func BenchmarkRecordRow(b *testing.B) {
	j := rowJob()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Record("sendonce.jobs", j); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordRowMarshal is BenchmarkRecordRow the way Record was
// before the hand-written encoder: json.Marshal, two SetHeader calls and
// fmt.Sprint for the attempt.
func BenchmarkRecordRowMarshal(b *testing.B) {
	j := rowJob()
	b.ReportAllocs()
	for b.Loop() {
		v, err := json.Marshal(j)
		if err != nil {
			b.Fatal(err)
		}
		r := &kgo.Record{Topic: "sendonce.jobs", Key: j.Key(), Value: v}
		SetHeader(r, HeaderCampaign, j.Campaign)
		SetHeader(r, HeaderAttempt, fmt.Sprint(j.Attempt))
	}
}
