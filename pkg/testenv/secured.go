package testenv

import (
	"os"
	"testing"
)

// KafkaSASLSSL is the real broker's SASL_SSL listener (TLS with the test CA,
// SCRAM-SHA-512) that scripts/services.sh starts beside the plaintext one.
type KafkaSASLSSL struct {
	Brokers      string
	CAFile       string
	Username     string
	PasswordFile string
}

// SecuredKafka returns the SASL_SSL listener of the real broker.
func SecuredKafka(t testing.TB) KafkaSASLSSL {
	t.Helper()
	const what = "the real Kafka broker's SASL_SSL listener (services.sh starts it; a broker started by an older services.sh needs `scripts/services.sh down && scripts/services.sh up`)"
	return KafkaSASLSSL{
		Brokers:      need(t, "KAFKA_BROKERS_SASL_SSL", what),
		CAFile:       needFile(t, "SENDONCE_TEST_KAFKA_CA_FILE", what),
		Username:     need(t, "SENDONCE_TEST_KAFKA_USERNAME", what),
		PasswordFile: needFile(t, "SENDONCE_TEST_KAFKA_PASSWORD_FILE", what),
	}
}

// RedisTLS is the real Redis's TLS port and its password-protected user.
type RedisTLS struct {
	URL          string // rediss://user@host:port/db, no password
	CAFile       string
	PasswordFile string
}

// SecuredRedis returns the TLS port of the real Redis.
func SecuredRedis(t testing.TB) RedisTLS {
	t.Helper()
	const what = "the real Redis's TLS port (services.sh starts it; a Redis started by an older services.sh needs `scripts/services.sh down && scripts/services.sh up`)"
	return RedisTLS{
		URL:          need(t, "REDIS_TLS_URL", what),
		CAFile:       needFile(t, "SENDONCE_TEST_REDIS_CA_FILE", what),
		PasswordFile: needFile(t, "SENDONCE_TEST_REDIS_PASSWORD_FILE", what),
	}
}

// needFile is need for a variable naming a file that must exist.
func needFile(t testing.TB, name, what string) string {
	t.Helper()
	p := need(t, name, what)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v (needed for %s)", name, p, err, what)
	}
	return p
}
