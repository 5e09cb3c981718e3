package job

import "testing"

func BenchmarkCheckAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckAddress("ann.lee+news@mail.example.co.uk"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedactAddresses(b *testing.B) {
	s := "ses send (permanent, MessageRejected): Email address is not verified. The following identities failed the check in region US-EAST-1: ann@example.com"
	b.ReportAllocs()
	for b.Loop() {
		_ = RedactAddresses(s)
	}
}
