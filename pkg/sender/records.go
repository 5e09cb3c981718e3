package sender

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

func (s *Sender) ledgerRecord(j *job.Job, st ledger.State, msgID, reason string) *kgo.Record {
	return s.ledgerOf(j, "", st, msgID, reason)
}

// entryLedger is ledgerRecord for a batch entry: it names the attempt (the
// fence token, also the attempt EmailTag) that SES events refer to.
func (s *Sender) entryLedger(e *entry, st ledger.State, msgID, reason string) *kgo.Record {
	return s.ledgerOf(e.j, e.tok, st, msgID, reason)
}

func (s *Sender) ledgerOf(j *job.Job, attemptID string, st ledger.State, msgID, reason string) *kgo.Record {
	r, err := ledger.Record(s.cfg.Topics.Ledger(), ledger.Entry{
		Campaign: j.Campaign, UserID: j.UserID, State: st, At: s.clk.Now().UTC(),
		MessageID: msgID, Reason: job.Truncate(reason), Attempt: j.Attempt, AttemptID: attemptID,
	})
	if err != nil { // an Entry of strings always encodes
		panic(err)
	}
	return r
}

// ledgerFromFence re-reports a job the fence already settled, so that a
// ledger write lost in a crash is repaired by the redelivery.
func (s *Sender) ledgerFromFence(j *job.Job, rec fence.Record) *kgo.Record {
	st := ledger.State(rec.State)
	switch rec.State {
	case fence.Sent, fence.Failed, fence.Ambiguous, fence.DeadLettered, fence.Expired, fence.Cancelled:
	default:
		st = ledger.Ambiguous
	}
	reason := rec.Reason
	if rec.ByEvent && rec.State == fence.Sent {
		reason = ledger.ReasonSettledByEvent
	}
	r, _ := ledger.Record(s.cfg.Topics.Ledger(), ledger.Entry{
		Campaign: j.Campaign, UserID: j.UserID, State: st, At: rec.At.UTC(),
		MessageID: rec.MessageID, Reason: reason, Attempt: j.Attempt,
		AttemptID: rec.Attempt, Fact: string(rec.Fact),
	})
	return r
}

// retryRecords schedules j (with attempt attempts made) on its tier and
// reports it as retrying in the ledger.
func (s *Sender) retryRecords(orig *kgo.Record, j *job.Job, attempt int, class retry.Class, reason string) []*kgo.Record {
	next := *j
	next.Attempt = attempt
	tierAttempt := attempt
	if tierAttempt < 1 {
		tierAttempt = 1
	}
	delay, notBefore := s.cfg.Policy.NotBefore(s.clk.Now(), tierAttempt, nil)
	r, _ := job.Record(s.cfg.Topics.Retry(delay), &next)
	job.SetHeader(r, job.HeaderNotBefore, strconv.FormatInt(notBefore.UnixMilli(), 10))
	setFailureHeaders(r, orig, class, reason)
	return []*kgo.Record{r, s.ledgerRecord(&next, ledger.Retrying, "", string(class)+": "+reason)}
}

func (s *Sender) dlqRecord(orig *kgo.Record, j *job.Job, attempt int, why string, class retry.Class, reason string) *kgo.Record {
	next := *j
	next.Attempt = attempt
	r, _ := job.Record(s.cfg.Topics.DLQ(), &next)
	job.SetHeader(r, job.HeaderDLQReason, why)
	job.SetHeader(r, job.HeaderDeadLettered, strconv.FormatInt(s.clk.Now().UnixMilli(), 10))
	setFailureHeaders(r, orig, class, reason)
	return r
}

// deadLetterRaw dead-letters a record that is not a job at all.
func deadLetterRaw(topic string, orig *kgo.Record, err error) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: orig.Key, Value: orig.Value}
	job.SetHeader(r, job.HeaderDLQReason, retry.ReasonMalformed)
	setFailureHeaders(r, orig, "malformed", err.Error())
	return r
}

func setFailureHeaders(r, orig *kgo.Record, class retry.Class, reason string) {
	job.SetHeader(r, job.HeaderErrorClass, string(class))
	job.SetHeader(r, job.HeaderLastError, job.Truncate(reason))
	job.SetHeader(r, job.HeaderOrigTopic, orig.Topic)
	job.SetHeader(r, job.HeaderOrigPart, strconv.Itoa(int(orig.Partition)))
	job.SetHeader(r, job.HeaderOrigOffset, strconv.FormatInt(orig.Offset, 10))
}
