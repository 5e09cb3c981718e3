package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// ErrNoTopic is returned by CheckTopics when the ledger or DLQ topic is
// missing: the reconciler would only retry its writes forever.
var ErrNoTopic = errors.New("topic missing: sender run and producer publish create them; check --topic-prefix (it must be the senders')")

// CheckTopics makes sure the topics the reconciler writes exist, so that a
// wrong --topic-prefix stops it at start instead of leaving every event in
// the queue.
func CheckTopics(ctx context.Context, cl *kgo.Client, topics kafka.Topics) error {
	want := []string{topics.Ledger(), topics.DLQ()}
	details, err := kadm.NewClient(cl).ListTopics(ctx, want...)
	if err != nil {
		return fmt.Errorf("listing the ledger and DLQ topics: %w", err)
	}
	var missing []string
	for _, t := range want {
		if !details.Has(t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrNoTopic, strings.Join(missing, ", "))
	}
	return nil
}
