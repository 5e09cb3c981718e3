package retrier

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TopicRetention returns a topic's retention.ms as a duration; ok is false
// when the topic does not exist or has no readable setting. Infinite
// retention (-1) is returned as a negative duration.
func TopicRetention(ctx context.Context, adm *kadm.Client, topic string) (d time.Duration, ok bool, err error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, false, fmt.Errorf("describing the configs of %s: %w", topic, err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return 0, false, nil
		}
		for _, c := range rc.Configs {
			if c.Key != "retention.ms" || c.Value == nil {
				continue
			}
			ms, err := strconv.ParseInt(*c.Value, 10, 64)
			if err != nil {
				return 0, false, nil
			}
			return time.Duration(ms) * time.Millisecond, true, nil
		}
	}
	return 0, false, nil
}

// CheckDLQRetention compares the retention of an existing dead-letter topic
// with the fence retention: it returns an error wrapping ErrRetention,
// saying what to run, when the DLQ keeps records longer (or forever). A
// missing topic or setting is not an error.
func CheckDLQRetention(ctx context.Context, adm *kadm.Client, dlq string, fenceRetention time.Duration) error {
	d, ok, err := TopicRetention(ctx, adm, dlq)
	if err != nil || !ok {
		return err
	}
	if d >= 0 && d <= fenceRetention {
		return nil
	}
	have := "forever"
	if d >= 0 {
		have = d.String()
	}
	return fmt.Errorf("%w: topic %s keeps records %s, longer than --fence-retention %s; redrive skips its records older than the fence retention unless --force. Lower it: kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config retention.ms=%d",
		ErrRetention, dlq, have, fenceRetention, dlq, fenceRetention.Milliseconds())
}
