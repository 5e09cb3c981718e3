package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
)

// reportHead is how many rows of `producer report` the demo prints.
const reportHead = 5

// Answers is what the demo's closing lookups found: one user's status and
// the campaign's report, as `producer status --user` and `producer
// report` give them.
type Answers struct {
	User   producer.UserReport
	Report producer.ReportSummary
	// ReportHead is the header and first rows of the CSV report.
	ReportHead []string
}

// lookupUser is the user the demo looks up at the end: the first user of
// an injected "accepted, then 503" call (its history shows the ambiguous
// send and its settlement by SES's event), or "" for a retried one.
func lookupUser(rep *Report) string {
	for _, ic := range rep.Injected {
		if len(ic.Users) > 0 {
			return ic.Users[0]
		}
	}
	return ""
}

// answers ends the demo the way an operator would check a campaign: look
// up one user (user; when empty, one that was retried, if any: its history
// shows the throttle and the send) and export the report, printing the
// lookup and the first rows of the report.
func answers(ctx context.Context, w *world, campaign, user string, out io.Writer) (Answers, error) {
	var a Answers
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: w.brokers, ClientID: "answers"})
	if err != nil {
		return a, err
	}
	defer cl.Close()
	if user == "" {
		if user, err = retriedUser(ctx, cl, w.topics, campaign); err != nil {
			return a, err
		}
	}
	rdb := w.redisClient()
	defer rdb.Close()
	fnc, err := fence.New(rdb, fence.Config{Prefix: w.topics.Prefix}, nil)
	if err != nil {
		return a, err
	}
	if a.User, err = producer.UserStatus(ctx, cl, w.topics, fnc, campaign, user); err != nil {
		return a, fmt.Errorf("producer status --user: %w", err)
	}
	fmt.Fprintf(out, "\n$ producer status --campaign %s --user %s\n", campaign, user)
	if err := a.User.WriteText(out); err != nil {
		return a, err
	}

	head := &headWriter{max: reportHead + 1}
	if a.Report, err = producer.Report(ctx, cl, w.topics, campaign, producer.FormatCSV, head); err != nil {
		return a, fmt.Errorf("producer report: %w", err)
	}
	a.ReportHead = head.lines
	fmt.Fprintf(out, "\n$ producer report --campaign %s --format csv\n", campaign)
	for _, l := range head.lines {
		fmt.Fprintln(out, l)
	}
	if more := a.Report.Users - int64(len(head.lines)-1); more > 0 {
		fmt.Fprintf(out, "... %s more rows\n", num(int(more)))
	}
	a.Report.WriteText(out)
	return a, nil
}

// retriedUser is the first user id (in order) with more than one ledger
// entry in campaign, or the first user id when none has.
func retriedUser(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string) (string, error) {
	prefix := kafka.LedgerKey(campaign, "")
	entries := map[string]int{}
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Ledger()}, func(r *kgo.Record) error {
		if bytes.HasPrefix(r.Key, prefix) && r.Value != nil {
			entries[string(r.Key[len(prefix):])]++
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the ledger: %w", err)
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("campaign %s: no ledger entry to look up", campaign)
	}
	users := make([]string, 0, len(entries))
	for u := range entries {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		if entries[u] > 1 {
			return u, nil
		}
	}
	return users[0], nil
}

// headWriter keeps the first max lines written to it and drops the rest.
type headWriter struct {
	max     int
	lines   []string
	partial []byte
}

func (h *headWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && len(h.lines) < h.max {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.partial = append(h.partial, p...)
			break
		}
		h.lines = append(h.lines, string(append(h.partial, p[:i]...)))
		h.partial, p = nil, p[i+1:]
	}
	return n, nil
}
