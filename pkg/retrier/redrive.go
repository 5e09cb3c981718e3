package retrier

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

// DLQReasons are the reasons the sender and the retrier dead-letter a job
// with (the sendonce-dlq-reason header): what `redrive --reason` accepts.
var DLQReasons = []string{retry.ReasonPermanent, retry.ReasonExhausted, retry.ReasonMalformed, retry.ReasonPolicy, retry.ReasonStopped}

// ErrReason is returned for a --reason that no job is dead-lettered with.
var ErrReason = fmt.Errorf("--reason must be one of %s", strings.Join(DLQReasons, ", "))

// ValidateReason accepts "" (every reason) and the DLQReasons.
func ValidateReason(reason string) error {
	if reason == "" || slices.Contains(DLQReasons, reason) {
		return nil
	}
	return fmt.Errorf("%w (got %q)", ErrReason, reason)
}

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
	// FenceRetention is how long the fence keeps a settled user (the
	// senders' --fence-retention); 0 is fence.DefaultRetention. A DLQ record
	// older than this is skipped unless Force: the user's fence key may
	// have expired, so the fence could no longer stop a second email.
	FenceRetention time.Duration
	// Force redrives records older than FenceRetention too (the ledger
	// check still applies).
	Force bool
	Clock Clock
	Log   *slog.Logger
}

// RedriveReport counts what a redrive did.
type RedriveReport struct {
	// Read is the records read from the DLQ.
	Read int `json:"read"`
	// Matched passed the campaign and reason filters.
	Matched int `json:"matched"`
	// Redriven were re-published to the jobs topic with attempt 0.
	Redriven int `json:"redriven"`
	// SkippedTooOld: dead-lettered longer ago than the fence retention,
	// and not --force.
	SkippedTooOld int `json:"skipped_too_old"`
	// SkippedLedger: the user's latest ledger state is not failed,
	// dead_lettered or sent (ambiguous, expired, retrying, redriven, or no
	// entry at all); SkippedLedgerStates counts them by that state ("none":
	// no entry).
	SkippedLedger       int            `json:"skipped_ledger"`
	SkippedLedgerStates map[string]int `json:"skipped_ledger_states,omitempty"`
	// SkippedLate: dead-lettered while the redrive ran (after its ledger
	// read); a next redrive takes it.
	SkippedLate int `json:"skipped_late"`
	// SkippedAlreadySent: the ledger or the fence says the email was sent.
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

// Redrive brings back dead-lettered jobs whose users the ledger still
// counts as not sent. It reads the dead-letter topic (to its end at the time
// of the call) once to collect the users it concerns, reads their latest
// state from the ledger, then reads the DLQ again and, for each matching
// job whose latest ledger state is failed or dead_lettered and that is not
// older than the fence retention (unless Force), reopens its fence (failed
// or dead_lettered only), resets its attempts, produces it to the jobs topic
// and writes a "redriven" ledger entry. A user the ledger or the fence says
// was sent is skipped, and a job redriven twice is sent once.
//
// cl reaches the cluster and produces; the DLQ and the ledger are read by
// kafka.ReadToEnd's own group-less reader.
func Redrive(ctx context.Context, cl *kgo.Client, f Fence, o RedriveOptions) (RedriveReport, error) {
	var rep RedriveReport
	if err := ValidateReason(o.Reason); err != nil {
		return rep, err
	}
	if o.Clock == nil {
		o.Clock = RealClock()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.FenceRetention <= 0 {
		o.FenceRetention = fence.DefaultRetention
	}
	d := &redriver{o: o, f: f, rep: &rep, cutoff: o.Clock.Now().Add(-o.FenceRetention), seen: map[string]bool{}}

	// Pass 1: the users concerned, then their latest ledger state.
	want := map[string]bool{}
	err := kafka.ReadToEnd(ctx, cl, []string{o.Topics.DLQ()}, func(r *kgo.Record) error {
		if j, ok := d.match(r); ok && j != nil {
			want[string(kafka.LedgerKey(j.Campaign, j.UserID))] = true
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reading the dead-letter topic: %w", err)
	}
	if len(want) > 0 {
		if d.latest, err = ledger.Latest(ctx, cl, o.Topics.Ledger(), want); err != nil {
			return rep, fmt.Errorf("reading the ledger: %w", err)
		}
	}
	d.want = want

	// Pass 2: decide and produce.
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
	err = kafka.ReadToEnd(ctx, cl, []string{o.Topics.DLQ()}, func(r *kgo.Record) error {
		rep.Read++
		recs, err := d.one(ctx, r)
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
	if err := flush(); err != nil {
		return rep, err
	}
	if rep.SkippedTooOld > 0 {
		o.Log.Warn("skipped dead-lettered jobs older than the fence retention: their fence keys may have expired, so the fence could not stop a second email; check the ledger, then redrive them with --force if they must go",
			"skipped", rep.SkippedTooOld, "fence_retention", o.FenceRetention, "dead_lettered_before", d.cutoff.UTC().Format(time.RFC3339))
	}
	return rep, nil
}

// redriveBatch is how many records a redrive produces together.
const redriveBatch = 500

// redriver decides about each DLQ record of one redrive.
type redriver struct {
	o      RedriveOptions
	f      Fence
	rep    *RedriveReport
	cutoff time.Time       // dead-lettered before: too old
	want   map[string]bool // ledger keys whose state was read
	latest map[string]ledger.Entry
	seen   map[string]bool
}

// match applies the reason and campaign filters. ok: the record matches;
// j is its job, nil when the record is not a job.
func (d *redriver) match(r *kgo.Record) (j *job.Job, ok bool) {
	if d.o.Reason != "" && job.Header(r, job.HeaderDLQReason) != d.o.Reason {
		return nil, false
	}
	j, decErr := job.Decode(r.Value)
	campaign := job.Header(r, job.HeaderCampaign)
	if decErr == nil {
		campaign = j.Campaign
	}
	if d.o.Campaign != "" && campaign != d.o.Campaign {
		return nil, false
	}
	if decErr != nil {
		return nil, true
	}
	return j, true
}

// deadLetteredAt is when the record was dead-lettered: its header, else its
// timestamp.
func deadLetteredAt(r *kgo.Record) time.Time {
	if ms, err := strconv.ParseInt(job.Header(r, job.HeaderDeadLettered), 10, 64); err == nil {
		return time.UnixMilli(ms)
	}
	return r.Timestamp
}

// one decides about one DLQ record and returns the records to produce for
// it (the job and its ledger entry), if any.
func (d *redriver) one(ctx context.Context, r *kgo.Record) ([]*kgo.Record, error) {
	j, ok := d.match(r)
	if !ok {
		return nil, nil
	}
	rep := d.rep
	rep.Matched++
	if j == nil {
		rep.SkippedMalformed++
		return nil, nil
	}
	if !d.o.Force && deadLetteredAt(r).Before(d.cutoff) {
		rep.SkippedTooOld++
		return nil, nil
	}
	key := string(kafka.LedgerKey(j.Campaign, j.UserID))
	if d.seen[key] {
		rep.SkippedDuplicate++
		return nil, nil
	}
	d.seen[key] = true
	if !d.want[key] {
		rep.SkippedLate++
		return nil, nil
	}
	e, ok := d.latest[key]
	if ok && e.State == ledger.Sent {
		rep.SkippedAlreadySent++
		return nil, nil
	}
	if !ok || (e.State != ledger.Failed && e.State != ledger.DeadLettered) {
		state := "none"
		if ok {
			state = string(e.State)
		}
		rep.SkippedLedger++
		if rep.SkippedLedgerStates == nil {
			rep.SkippedLedgerStates = map[string]int{}
		}
		rep.SkippedLedgerStates[state]++
		return nil, nil
	}
	reopened, err := d.f.Reopen(ctx, j.Campaign, j.UserID)
	if err != nil {
		return nil, fmt.Errorf("reopening the fence of a dead-lettered job: %w", err)
	}
	if !reopened {
		rec, ok, err := d.f.Get(ctx, j.Campaign, j.UserID)
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
	jr, err := job.Record(d.o.Topics.Jobs(), j)
	if err != nil {
		return nil, err
	}
	lr, err := ledger.Record(d.o.Topics.Ledger(), ledger.Entry{
		Campaign: j.Campaign, UserID: j.UserID, State: ledger.Redriven, At: d.o.Clock.Now().UTC(),
		Reason: job.Header(r, job.HeaderDLQReason),
	})
	if err != nil {
		return nil, err
	}
	return []*kgo.Record{jr, lr}, nil
}
