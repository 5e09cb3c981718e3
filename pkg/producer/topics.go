package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// EnsureTopics creates the missing topics of the layout (and warns about
// existing ones that differ), and the campaign membership topic
// (MembersTopic), within timeout, which also bounds how long an unreachable
// broker is waited for.
func EnsureTopics(ctx context.Context, cl *kgo.Client, l kafka.Layout, timeout time.Duration, log *slog.Logger) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := kafka.EnsureTopics(tctx, cl, l, log); err != nil {
		seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
		var netErr *net.OpError
		if (tctx.Err() != nil && ctx.Err() == nil) || errors.As(err, &netErr) {
			return fmt.Errorf("could not reach Kafka at %s within %s (check --brokers / KAFKA_BROKERS and that the broker is up): %w", strings.Join(seeds, ","), timeout, err)
		}
		return fmt.Errorf("preparing topics on Kafka at %s: %w", strings.Join(seeds, ","), err)
	}
	if err := ensureMembersTopic(tctx, cl, l.Topics, l.Partitions, l.ReplicationFactor, log); err != nil {
		return fmt.Errorf("preparing topics on Kafka: %w", err)
	}
	return nil
}
