package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/sendonce/sendonce/pkg/fence"
)

// FenceSettler is the Settler over the senders' fence.
type FenceSettler struct{ F *fence.Fence }

// Settle calls fence.Fence.Settle.
func (s FenceSettler) Settle(ctx context.Context, e SettleEvent) (Settlement, error) {
	fe := fence.Event{Campaign: e.Campaign, User: e.User, Attempt: e.Attempt, MessageID: e.MessageID, Reason: e.Reason, Fact: fence.Fact(e.Fact)}
	switch e.Verdict {
	case VerdictSent:
		fe.Verdict = fence.VerdictSent
	case VerdictFailed:
		fe.Verdict = fence.VerdictFailed
	default:
		return Settlement{}, fmt.Errorf("settling an event of verdict %d", e.Verdict)
	}
	fs, err := s.F.Settle(ctx, fe)
	switch {
	case err == nil:
	case errors.Is(err, fence.ErrUnavailable), ctx.Err() != nil:
		return Settlement{}, err
	default:
		return Settlement{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out := Settlement{Prev: fromFence(fs.Prev), Now: fromFence(fs.Now)}
	switch fs.Outcome {
	case fence.Settled:
		out.Outcome = Settled
	case fence.Already:
		out.Outcome = Already
	case fence.FactAdded:
		out.Outcome = FactAdded
	case fence.OtherAttempt:
		out.Outcome = OtherAttempt
	default:
		out.Outcome = Unknown
	}
	return out, nil
}

func fromFence(r fence.Record) Record {
	return Record{State: State(r.State), Attempt: r.Attempt, MessageID: r.MessageID, Reason: r.Reason, Fact: Fact(r.Fact), ByEvent: r.ByEvent, At: r.At}
}
