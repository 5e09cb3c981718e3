package ses

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// Classification runs once per failed send; message building once per send.

func BenchmarkClassify(b *testing.B) {
	for _, tc := range []struct {
		name    string
		err     error
		written bool
	}{
		{"throttle", apiErr(429, "TooManyRequestsException", "Maximum sending rate exceeded."), true},
		{"rejected", apiErr(400, "MessageRejected", "Email address is not verified."), true},
		{"5xx", apiErr(503, "", "Service Unavailable"), true},
		{"refused", transportErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), false},
		{"plain", errors.New("boom"), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if Classify(tc.err, tc.written) == "" {
					b.Fatal("unclassified")
				}
			}
		})
	}
}

// BenchmarkMessageInput is the SDK input built for every SendEmail.
func BenchmarkMessageInput(b *testing.B) {
	m := Message{
		From: "news@example.com", To: "user-000123@example.org", Template: "usage", ConfigurationSet: "cs",
		TemplateData: `{"name":"Ann","kwh":"42"}`,
		Headers:      map[string]string{"List-Unsubscribe": "<https://example.com/u/123>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		Tags:         map[string]string{"campaign": "2026-11", "user": "3f2a9c1b7d"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if m.input() == nil {
			b.Fatal("nil input")
		}
	}
}

func BenchmarkTagValue(b *testing.B) {
	for _, tc := range []struct{ name, v string }{
		{"fits", "2026-11"},
		{"rewritten", "campaign 2026/11 (spring)"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = TagValue(tc.v)
			}
		})
	}
}

// BenchmarkBulkInput builds one SendBulkEmail of 50 entries (two headers,
// four tags each); BenchmarkSendInput50 builds 50 SendEmail inputs of the
// same emails, for comparison.
func BenchmarkBulkInput(b *testing.B) {
	m := testBulk(MaxBulkEntries)
	for i := range m.Entries {
		m.Entries[i].Tags["user_ref"] = "r1"
	}
	results := make([]BulkResult, len(m.Entries))
	b.ReportAllocs()
	for b.Loop() {
		in, _ := m.input(results)
		if len(in.BulkEmailEntries) != MaxBulkEntries {
			b.Fatal("entries missing")
		}
	}
}

func BenchmarkSendInput50(b *testing.B) {
	bm := testBulk(MaxBulkEntries)
	msgs := make([]Message, len(bm.Entries))
	for i, e := range bm.Entries {
		e.Tags["user_ref"] = "r1"
		msgs[i] = Message{From: bm.From, To: e.To, Template: bm.Template, ConfigurationSet: bm.ConfigurationSet, TemplateData: e.TemplateData, Headers: e.Headers, Tags: e.Tags}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range msgs {
			if msgs[i].input() == nil {
				b.Fatal("no input")
			}
		}
	}
}
