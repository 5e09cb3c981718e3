package producer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/source"
)

// Reject is one entry of the rejects report: a JSON record in
// <prefix>.rejects (key = campaign id) and a line of --rejects-file.
type Reject struct {
	Campaign string    `json:"campaign"`
	Row      int       `json:"row"`            // 1-based data row (JSONL: line)
	Line     int       `json:"line,omitempty"` // line of the file where the row starts
	Reason   Reason    `json:"reason"`
	Detail   string    `json:"detail"`
	UserID   string    `json:"user_id,omitempty"` // at most 64 bytes of it
	At       time.Time `json:"at"`
}

// maxReportedUserID bounds the user id copied into a reject (a too-long id
// is itself a reason).
const maxReportedUserID = 64

func newReject(campaign string, row *source.Row, reason Reason, detail string, at time.Time) Reject {
	uid := row.UserID
	if len(uid) > maxReportedUserID {
		uid = uid[:maxReportedUserID] + "…"
	}
	return Reject{Campaign: campaign, Row: row.Num, Line: row.Line, Reason: reason, Detail: detail, UserID: uid, At: at}
}

// rejectReport writes rejects to the topic (asynchronously, through the
// client) and to an optional local file.
type rejectReport struct {
	cl    *kgo.Client
	topic string
	file  *bufio.Writer
	onAck func(*kgo.Record, error)
	err   error // first file write error
}

func newRejectReport(cl *kgo.Client, topic string, file io.Writer, onAck func(*kgo.Record, error)) *rejectReport {
	r := &rejectReport{cl: cl, topic: topic, onAck: onAck}
	if file != nil {
		r.file = bufio.NewWriterSize(file, 64<<10)
	}
	return r
}

func (r *rejectReport) add(ctx context.Context, rj Reject) {
	v, err := json.Marshal(rj)
	if err != nil { // cannot happen: plain strings and numbers
		v = []byte(fmt.Sprintf(`{"campaign":%q,"row":%d,"reason":%q}`, rj.Campaign, rj.Row, rj.Reason))
	}
	if r.file != nil && r.err == nil {
		if _, err := r.file.Write(append(v, '\n')); err != nil {
			r.err = fmt.Errorf("writing the rejects file: %w", err)
		}
	}
	r.cl.Produce(ctx, &kgo.Record{Topic: r.topic, Key: []byte(rj.Campaign), Value: v}, r.onAck)
}

// close flushes the file.
func (r *rejectReport) close() error {
	if r.file != nil && r.err == nil {
		if err := r.file.Flush(); err != nil {
			r.err = fmt.Errorf("writing the rejects file: %w", err)
		}
	}
	return r.err
}
