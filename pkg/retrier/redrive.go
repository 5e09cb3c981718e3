package retrier

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// Fence is what a redrive needs of the fence. *fence.Fence implements it.
type Fence interface {
	// Reopen deletes a failed or dead-lettered key so the job can be
	// claimed again; it never touches a sent key.
	Reopen(ctx context.Context, campaign, user string) (bool, error)
	// Get returns the key's record and whether there is one.
	Get(ctx context.Context, campaign, user string) (fence.Record, bool, error)
}

// RedriveOptions say which dead-lettered jobs to bring back.
type RedriveOptions struct {
	Topics kafka.Topics
	// Campaign keeps only this campaign's jobs; empty: every campaign.
	Campaign string
	// Reason keeps only records with this DLQ reason; empty: every reason.
	Reason string
	Clock  Clock
	Log    *slog.Logger
}

// RedriveReport counts what a redrive did.
type RedriveReport struct {
	// Read is the records read from the DLQ.
	Read int `json:"read"`
	// Matched passed the campaign and reason filters.
	Matched int `json:"matched"`
	// Redriven were re-published to the jobs topic with attempt 0.
	Redriven int `json:"redriven"`
	// SkippedAlreadySent: the fence says the email was sent.
	SkippedAlreadySent int `json:"skipped_already_sent"`
	// SkippedSettled: the fence holds another settled state that a
	// redrive must not reopen (ambiguous, expired).
	SkippedSettled int `json:"skipped_settled"`
	// SkippedDuplicate: the same user of the same campaign earlier in this
	// redrive.
	SkippedDuplicate int `json:"skipped_duplicate"`
	// SkippedMalformed: the record is not a job and cannot be re-sent.
	SkippedMalformed int `json:"skipped_malformed"`
}

// Redrive reads the dead-letter topic from its start up to its end at the
// time of the call, and for each matching job reopens its fence (failed or
// dead_lettered only), resets its attempts, produces it to the jobs topic
// and writes a "redriven" ledger entry. The fence keeps it safe: a user
// already sent is skipped, and a job redriven twice is sent once.
//
// cl reaches the cluster and produces; the DLQ is read by
// kafka.ReadToEnd's own group-less reader.
func Redrive(ctx context.Context, cl *kgo.Client, f Fence, o RedriveOptions) (RedriveReport, error) {
	var rep RedriveReport
	if o.Clock == nil {
		o.Clock = RealClock()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var (
		batch []*kgo.Record
		jobs  int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return fmt.Errorf("producing redriven jobs: %w", err)
		}
		rep.Redriven += jobs
		batch, jobs = batch[:0], 0
		return nil
	}
	seen := map[string]bool{}
	err := kafka.ReadToEnd(ctx, cl, []string{o.Topics.DLQ()}, func(r *kgo.Record) error {
		rep.Read++
		recs, err := redriveOne(ctx, f, o, r, seen, &rep)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			batch = append(batch, recs...)
			jobs++
		}
		if len(batch) >= redriveBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	return rep, flush()
}

// redriveBatch is how many records a redrive produces together.
const redriveBatch = 500

// redriveOne decides about one DLQ record and returns the records to
// produce for it (the job and its ledger entry), if any.
func redriveOne(ctx context.Context, f Fence, o RedriveOptions, r *kgo.Record, seen map[string]bool, rep *RedriveReport) ([]*kgo.Record, error) {
	if o.Reason != "" && job.Header(r, job.HeaderDLQReason) != o.Reason {
		return nil, nil
	}
	j, decErr := job.Decode(r.Value)
	campaign := job.Header(r, job.HeaderCampaign)
	if decErr == nil {
		campaign = j.Campaign
	}
	if o.Campaign != "" && campaign != o.Campaign {
		return nil, nil
	}
	rep.Matched++
	if decErr != nil {
		rep.SkippedMalformed++
		return nil, nil
	}
	key := j.Campaign + "\x00" + j.UserID
	if seen[key] {
		rep.SkippedDuplicate++
		return nil, nil
	}
	seen[key] = true
	reopened, err := f.Reopen(ctx, j.Campaign, j.UserID)
	if err != nil {
		return nil, fmt.Errorf("reopening the fence of a dead-lettered job: %w", err)
	}
	if !reopened {
		rec, ok, err := f.Get(ctx, j.Campaign, j.UserID)
		if err != nil {
			return nil, fmt.Errorf("reading the fence of a dead-lettered job: %w", err)
		}
		switch {
		case ok && rec.State == fence.Sent:
			rep.SkippedAlreadySent++
			return nil, nil
		case ok && rec.State.Terminal():
			// Ambiguous or expired: not for a redrive to undo.
			rep.SkippedSettled++
			return nil, nil
		}
		// Absent (never settled, or forgotten) or in flight: the sender's
		// claim decides.
	}
	j.Attempt = 0
	jr, err := job.Record(o.Topics.Jobs(), j)
	if err != nil {
		return nil, err
	}
	lr, err := ledger.Record(o.Topics.Ledger(), ledger.Entry{
		Campaign: j.Campaign, UserID: j.UserID, State: ledger.Redriven, At: o.Clock.Now().UTC(),
		Reason: job.Header(r, job.HeaderDLQReason),
	})
	if err != nil {
		return nil, err
	}
	return []*kgo.Record{jr, lr}, nil
}
