package sender

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// RestoreSummary counts what RestoreFence did.
type RestoreSummary struct {
	Entries  int // ledger entries of the campaign read
	Terminal int // users whose latest entry is terminal
	Restored int // fence keys written (they were missing)
	Present  int // fence keys already present, left alone
}

// RestoreFence rebuilds a campaign's fence from the ledger after Redis lost
// data: every user whose latest ledger state is terminal gets that state
// back, unless the fence already has a key for it.
func RestoreFence(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string, f *fence.Fence) (RestoreSummary, error) {
	var sum RestoreSummary
	latest := map[string]ledger.Entry{}
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Ledger()}, func(r *kgo.Record) error {
		if r.Value == nil { // a tombstone of producer erase: the user is gone
			if c, u, ok := strings.Cut(string(r.Key), ":"); ok && c == campaign {
				delete(latest, u)
			}
			return nil
		}
		e, err := ledger.Decode(r.Value)
		if err != nil || e.Campaign != campaign {
			return nil
		}
		sum.Entries++
		latest[e.UserID] = e
		return nil
	})
	if err != nil {
		return sum, err
	}
	for u, e := range latest {
		if !e.State.Terminal() {
			continue
		}
		sum.Terminal++
		ok, err := f.Restore(ctx, campaign, u, fence.Record{State: fence.State(e.State), MessageID: e.MessageID, At: e.At, Reason: e.Reason})
		if err != nil {
			return sum, fmt.Errorf("restoring the fence of user %q: %w", u, err)
		}
		if ok {
			sum.Restored++
		} else {
			sum.Present++
		}
	}
	return sum, nil
}
