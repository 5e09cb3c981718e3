package sender

import (
	"testing"
)

// BenchmarkPolicyCheck is the cost the policy step adds to every job.
func BenchmarkPolicyCheck(b *testing.B) {
	cfg := DefaultConfig()
	cfg.JobPolicy = testPolicy
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	j := testJob("c1", 1, "example.com")
	j.Headers = map[string]string{"List-Unsubscribe": "<https://u.example.com/u?c=c1&u=u00001&t=abc>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
	b.ReportAllocs()
	for b.Loop() {
		if err := cfg.policy.check(j); err != nil {
			b.Fatal(err)
		}
	}
}
