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
