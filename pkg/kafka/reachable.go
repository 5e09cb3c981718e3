package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WaitReachable fails fast at start: it returns nil as soon as a broker
// answers (after TLS and SASL, when configured), or, after timeout, an error
// that says what to check. franz-go itself would retry forever in the
// background while the service looks alive.
func WaitReachable(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	for {
		if err = cl.Ping(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka unreachable at %v after --startup-timeout %s: check --brokers (KAFKA_BROKERS) and that --kafka-tls/--kafka-sasl match the listener's port (MSK: 9094 TLS, 9096 SASL/SCRAM, 9098 IAM): %w", brokers, timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
