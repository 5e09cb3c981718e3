package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// WaitReachable fails fast at start: it returns nil as soon as a broker
// answers (after TLS and SASL, when configured), or, after timeout, an error
// that says what to check. franz-go itself would retry forever in the
// background while the service looks alive. Refused SASL credentials end the
// wait at once: retrying cannot fix them.
func WaitReachable(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		err := cl.Ping(ctx)
		if err == nil {
			return nil
		}
		if isAuthError(err) {
			return fmt.Errorf("kafka at %v refused the SASL credentials: check --kafka-sasl, --kafka-username and the password (--kafka-password-file or SENDONCE_KAFKA_PASSWORD): %w", brokers, err)
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka unreachable at %v after --startup-timeout %s: check --brokers (KAFKA_BROKERS) and that --kafka-tls/--kafka-sasl match the listener's port (MSK: 9094 TLS, 9096 SASL/SCRAM, 9098 IAM): %w", brokers, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// isAuthError reports whether err is a broker's refusal of the client's
// credentials or mechanism.
func isAuthError(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState)
}
