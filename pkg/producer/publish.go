package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/source"
)

// Errors returned by Publish.
var (
	// ErrTooManyRejects is returned when more rows were rejected than
	// --max-rejects allows. Every valid row was published and the campaign
	// record says published: the error is a signal to look at the data.
	ErrTooManyRejects = errors.New("too many rejected rows")
	// ErrInterrupted is returned when the context ended (SIGTERM) before
	// the source was read to the end. What was buffered is flushed, nothing
	// claims completion; rerun the same command to finish.
	ErrInterrupted = errors.New("publish interrupted")
)

// ClientOpts are the kgo options the producer wants on its client, for
// throughput: short linger so batches fill, lz4 compression, a large buffer
// (Produce blocks when it is full, which bounds memory), and a delivery
// timeout so that a broker outage fails the run instead of hanging it.
// Idempotence and acks=all are franz-go's and kafka.NewClient's defaults.
func ClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(100_000),
		kgo.MaxBufferedBytes(64 << 20),
		kgo.RecordDeliveryTimeout(2 * time.Minute),
	}
}

// Deps are the dependencies of a publish run.
type Deps struct {
	// Client produces the jobs; build it with ClientOpts for throughput.
	Client *kgo.Client
	// Source yields the rows; Publish does not close it.
	Source  source.Reader
	Log     *slog.Logger // nil: discard
	Metrics *Metrics     // nil: unregistered collectors
	// RejectsFile receives the rejects report as JSON lines; nil: only the
	// rejects topic.
	RejectsFile io.Writer
	// Progress, when set (a terminal), gets a progress line repainted at
	// most every 200ms; otherwise progress is logged every ProgressEvery.
	Progress io.Writer
	Now      func() time.Time // nil: time.Now
}

// Summary is what a run did.
type Summary struct {
	Campaign  string
	Rows      int64 // rows read, including rejects and duplicates
	Published int64 // jobs acknowledged by Kafka
	Rejected  int64 // rows rejected (duplicates not included)
	// RejectedBy counts rejects per reason (duplicates not included).
	RejectedBy map[Reason]int64
	Duplicates int64
	// AlreadySent is how many users of the campaign the ledger records as
	// sent, read at the end of the run; -1 when unknown.
	AlreadySent int64
	// Previous is the campaign record found at the start (a rerun), nil on
	// a first run.
	Previous    *CampaignRecord
	Started     time.Time
	Elapsed     time.Duration
	Interrupted bool
}

// Publish reads every row of d.Source, validates it and publishes one job per
// valid, not yet seen user to the jobs topic, then flushes and writes the
// campaign record. The topics must exist (see EnsureTopics).
//
// It returns a non-nil error (with the summary so far) when the source
// fails, Kafka fails, the context ends (ErrInterrupted) or rejects exceed
// MaxRejects (ErrTooManyRejects, after publishing everything valid).
func Publish(ctx context.Context, cfg PublishConfig, d Deps) (Summary, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	if d.Client == nil || d.Source == nil {
		return Summary{}, errors.New("producer.Publish: Client and Source are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	p := &publisher{cfg: &cfg, d: d, failed: make(chan struct{}), jobsTopic: cfg.jobsTopic(), membersTopic: MembersTopic(cfg.Topics)}
	return p.run(ctx)
}

type publisher struct {
	cfg          *PublishConfig
	d            Deps
	jobsTopic    string
	membersTopic string

	rows, produced, published, rejected, duplicates atomic.Int64
	byReason                                        [len(Reasons)]atomic.Int64

	failMu  sync.Mutex
	failed  chan struct{} // closed by the first fatal error
	failErr error
}

func reasonIndex(r Reason) int {
	for i, x := range Reasons {
		if x == r {
			return i
		}
	}
	return 0
}

// fail records the first fatal error and stops the read loop.
func (p *publisher) fail(err error) {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	if p.failErr == nil {
		p.failErr = err
		close(p.failed)
	}
}

// fatal returns the first fatal error of a callback.
func (p *publisher) fatal() error {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	return p.failErr
}

func (p *publisher) onJobAck(r *kgo.Record, err error) {
	if err != nil {
		p.fail(fmt.Errorf("publishing the job of user %q to %s: %w", truncateID(string(r.Key)), r.Topic, err))
		return
	}
	p.published.Add(1)
	p.d.Metrics.Published.Inc()
	p.d.Metrics.PublishSeconds.Observe(time.Since(r.Timestamp).Seconds())
}

func (p *publisher) onMemberAck(r *kgo.Record, err error) {
	if err != nil {
		p.fail(fmt.Errorf("recording that user %q belongs to the campaign, in %s: %w", truncateID(userOfKey(r.Key)), r.Topic, err))
	}
}

func (p *publisher) onRejectAck(r *kgo.Record, err error) {
	if err != nil {
		p.fail(fmt.Errorf("writing the rejects report to %s: %w", r.Topic, err))
	}
}

func truncateID(s string) string {
	if len(s) > maxReportedUserID {
		return s[:maxReportedUserID] + "…"
	}
	return s
}

func (p *publisher) run(ctx context.Context) (Summary, error) {
	cfg, d, log := p.cfg, p.d, p.d.Log.With("campaign", p.cfg.Campaign)
	started := d.Now()
	sum := Summary{Campaign: cfg.Campaign, Started: started, AlreadySent: -1}
	finish := func(err error) (Summary, error) {
		sum.Rows, sum.Published = p.rows.Load(), p.published.Load()
		sum.Rejected, sum.Duplicates = p.rejected.Load(), p.duplicates.Load()
		sum.RejectedBy = map[Reason]int64{}
		for i, r := range Reasons {
			if n := p.byReason[i].Load(); n > 0 && r != ReasonDuplicateUser {
				sum.RejectedBy[r] = n
			}
		}
		sum.Elapsed = d.Now().Sub(started)
		return sum, err
	}

	// Callers that create the topics with kafka.EnsureTopics alone (the
	// demo, tests) lack the membership topic: create it rather than let
	// the broker auto-create it uncompacted.
	if err := ensureMembersTopic(ctx, d.Client, cfg.Topics, 0, -1, log); err != nil {
		return finish(err)
	}
	prev, err := ReadCampaign(ctx, d.Client, cfg.Topics, cfg.Campaign)
	if err != nil {
		return finish(err)
	}
	sum.Previous = prev
	if prev != nil {
		log.Info("campaign has an earlier publish run: publishing every job of this source; the sender's fence keeps anyone from being emailed twice, and status counts the users of every run",
			"previous_status", prev.Status, "previous_started_at", prev.StartedAt, "previous_total", prev.Total)
	}
	rec := CampaignRecord{Campaign: cfg.Campaign, Template: cfg.Template, Source: cfg.Source, StartedAt: started.UTC(), Status: StatusPublishing}
	if prev != nil && prev.Status == StatusPublished {
		rec.Total = prev.Total // the campaigns published before the membership topic count from it
	}
	if err := writeCampaign(ctx, d.Client, cfg.Topics, rec); err != nil {
		return finish(err)
	}

	// Jobs are produced with a context that outlives ctx, so that an
	// interrupt stops reading but still flushes what is buffered; it ends
	// FlushTimeout after ctx does, to bound that flush.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(cfg.FlushTimeout, pcancel) })
	defer stopAfter()

	rejects := newRejectReport(d.Client, cfg.Topics.Rejects(), d.RejectsFile, p.onRejectAck)
	prog := startProgress(p, d, cfg.ProgressEvery, log)
	complete, readErr := p.loop(ctx, pctx, rejects, newBuilder(cfg, started))
	interrupted := !complete && readErr == nil

	fctx, fcancel := context.WithTimeout(pctx, cfg.FlushTimeout)
	flushErr := d.Client.Flush(fctx)
	fcancel()
	prog.stop()
	fileErr := rejects.close()

	fatal := p.fatal()
	switch {
	case fatal != nil:
		return finish(fatal)
	case flushErr != nil:
		return finish(fmt.Errorf("waiting for Kafka to acknowledge %d buffered jobs: %w", p.produced.Load()-p.published.Load(), flushErr))
	case readErr != nil:
		return finish(readErr)
	case interrupted:
		sum.Interrupted = true
		s, _ := finish(nil)
		return s, fmt.Errorf("%w after %d rows: %d jobs published and flushed, the campaign is not marked published; rerun the same command to finish (users already emailed are not emailed again)",
			ErrInterrupted, s.Rows, s.Published)
	case fileErr != nil:
		return finish(fileErr)
	}

	fin := d.Now().UTC()
	rec.Total, rec.Rejected, rec.Duplicates = p.published.Load(), p.rejected.Load(), p.duplicates.Load()
	rec.FinishedAt, rec.Status = &fin, StatusPublished
	if err := writeCampaign(ctx, d.Client, cfg.Topics, rec); err != nil {
		return finish(err)
	}

	sctx, scancel := context.WithTimeout(ctx, cfg.SentCountTimeout)
	sent, err := alreadySent(sctx, d.Client, cfg.Topics, cfg.Campaign)
	scancel()
	if err != nil {
		log.Warn("could not count the users already sent", "err", err)
	} else {
		sum.AlreadySent = sent
	}

	s, _ := finish(nil)
	log.Info("campaign published", "rows", s.Rows, "published", s.Published, "rejected", s.Rejected,
		"duplicates", s.Duplicates, "already_sent", s.AlreadySent, "elapsed", s.Elapsed.Round(time.Millisecond).String())
	if cfg.MaxRejects >= 0 && s.Rejected > int64(cfg.MaxRejects) {
		return s, fmt.Errorf("%w: %d rows rejected, --max-rejects is %d; every valid row was published — fix the source (see the rejects report in %s) and rerun",
			ErrTooManyRejects, s.Rejected, cfg.MaxRejects, cfg.Topics.Rejects())
	}
	return s, nil
}

// loop reads the source until its end (complete), an interrupt or a fatal
// error.
func (p *publisher) loop(ctx, pctx context.Context, rejects *rejectReport, b *builder) (complete bool, err error) {
	members, err := newMemberEncoder(p.membersTopic, p.cfg.Campaign, b.created)
	if err != nil {
		return false, err
	}
	var (
		done = ctx.Done()
		seen = newUserSet()
		src  = p.d.Source
		m    = p.d.Metrics
		cl   = p.d.Client
	)
	reject := func(row *source.Row, reason Reason, detail string) {
		i := reasonIndex(reason)
		p.byReason[i].Add(1)
		if reason == ReasonDuplicateUser {
			p.duplicates.Add(1)
			m.Duplicates.Inc()
		} else {
			p.rejected.Add(1)
			m.rejected[reason].Inc()
		}
		rejects.add(pctx, newReject(p.cfg.Campaign, row, reason, detail, p.d.Now().UTC()))
	}
	for {
		select {
		case <-done:
			return false, nil
		case <-p.failed:
			return false, nil
		default:
		}
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("reading source %s: %w", p.cfg.Source, err)
		}
		p.rows.Add(1)
		m.Rows.Inc()
		if reason, detail := CheckRow(&row); reason != "" {
			reject(&row, reason, detail)
			continue
		}
		if !seen.add(row.UserID) {
			reject(&row, ReasonDuplicateUser, "user_id was already published from an earlier row of this source")
			continue
		}
		rec, err := job.Record(p.jobsTopic, b.build(&row))
		if err != nil {
			reject(&row, ReasonMalformedRow, err.Error())
			continue
		}
		mrec := members.record(row.UserID)
		p.produced.Add(1)
		// A run is marked published only once both records of every user
		// are acknowledged; a failed run is rerun (see ErrInterrupted).
		cl.Produce(pctx, mrec, p.onMemberAck)
		cl.Produce(pctx, rec, p.onJobAck)
	}
}
