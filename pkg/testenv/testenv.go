// Package testenv gives integration tests the addresses of the real
// services that scripts/services.sh starts (or that the caller already runs,
// such as the docker compose stack).
//
// Under `go test -short` an integration test is skipped. Otherwise a missing
// service fails the test with a message naming it: `make test` never skips
// silently.
package testenv

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

var seq atomic.Int64

func need(t testing.TB, name, what string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test skipped under -short (needs %s)", what)
	}
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: this integration test needs %s. Run it through `make test` (which starts the services with scripts/services.sh), or `eval \"$(scripts/services.sh up)\"` first, or use -short to skip integration tests", name, what)
	}
	return v
}

// Kafka returns the seed brokers of the real Kafka broker.
func Kafka(t testing.TB) []string {
	t.Helper()
	return strings.Split(need(t, "KAFKA_BROKERS", "a real Kafka broker"), ",")
}

// RedisURL returns the URL of the real Redis.
func RedisURL(t testing.TB) string {
	t.Helper()
	return need(t, "REDIS_URL", "a real Redis")
}

// SESEndpoint returns the base URL of the SES v2 emulator (aws-ses-v2-local).
// It also makes sure the AWS SDK's default chain has a region and
// credentials, as services.sh exports.
func SESEndpoint(t testing.TB) string {
	t.Helper()
	ep := need(t, "AWS_ENDPOINT_URL_SESV2", "the SES v2 emulator (aws-ses-v2-local)")
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		if os.Getenv(k) == "" {
			t.Setenv(k, v)
		}
	}
	return ep
}

// Name returns a name unique to this test run, for topic prefixes,
// campaigns and Redis key prefixes, so that tests sharing one broker and one
// Redis never see each other's data.
func Name(t testing.TB, kind string) string {
	t.Helper()
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return fmt.Sprintf("t%d-%d-%s-%s", os.Getpid(), seq.Add(1), kind, clean)
}
