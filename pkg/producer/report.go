package producer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// Report formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// ReportRow is one user of `producer report`.
type ReportRow struct {
	UserID    string       `json:"user_id"`
	State     ledger.State `json:"state"`
	MessageID string       `json:"message_id"`
	Reason    string       `json:"reason"`
	// At is the time of the user's latest ledger entry; null (CSV: empty)
	// for a published user with none.
	At *time.Time `json:"at"`
	// Fact is what SES's events said of a sent email (delivered, bounced,
	// complained; empty when none arrived), BounceType hard or soft for a
	// bounce (sender reconcile).
	Fact       string `json:"fact"`
	BounceType string `json:"bounce_type"`
}

// reportColumns is the CSV header. Columns are only ever appended, so a
// script that reads them by position keeps working.
var reportColumns = []string{"user_id", "state", "message_id", "reason", "at", "fact", "bounce_type"}

// ReportSummary counts what Report wrote.
type ReportSummary struct {
	Users   int64                  `json:"users"`
	ByState map[ledger.State]int64 `json:"by_state"`
}

// latestEntry is the part of a user's latest ledger entry a report row
// needs; the map of them is the only whole-campaign state Report keeps.
type latestEntry struct {
	member    bool
	state     ledger.State
	messageID string
	reason    string
	at        time.Time
	fact      string
	bounce    string
}

// Report writes every user of campaign, one row each, in user id order:
// its latest ledger state, message id, reason and time ("pending" and no
// time for a published user the ledger does not know). The users are the
// campaign's members (every publish run), or every user of its ledger
// entries for a campaign published before membership records existed, as
// Status counts them. Rows go to w as they are formatted; nothing but the
// latest entry per user is held.
func Report(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign, format string, w io.Writer) (ReportSummary, error) {
	sum := ReportSummary{ByState: map[ledger.State]int64{}}
	if err := ValidateCampaignID(campaign); err != nil {
		return sum, err
	}
	if format != FormatCSV && format != FormatJSONL {
		return sum, fmt.Errorf("--format must be %s or %s (got %q)", FormatCSV, FormatJSONL, format)
	}
	var (
		prefix  = kafka.LedgerKey(campaign, "")
		members = MembersTopic(topics)
		latest  = map[string]*latestEntry{}
		anyMem  bool
	)
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Ledger(), members}, func(r *kgo.Record) error {
		if !bytes.HasPrefix(r.Key, prefix) {
			return nil
		}
		user := string(r.Key[len(prefix):])
		le := latest[user]
		if le == nil {
			le = &latestEntry{}
		}
		if r.Topic == members {
			le.member = r.Value != nil
			anyMem = anyMem || le.member
		} else if r.Value == nil {
			le.state = ""
		} else if e, err := ledger.Decode(r.Value); err == nil {
			le.state, le.messageID, le.reason, le.at = e.State, e.MessageID, e.Reason, e.At
			le.fact, le.bounce = e.Fact, e.BounceType
		}
		if !le.member && le.state == "" {
			delete(latest, user)
			return nil
		}
		latest[user] = le
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reading the membership and the ledger: %w", err)
	}
	if len(latest) == 0 {
		if rec, err := ReadCampaign(ctx, cl, topics, campaign); err != nil {
			return sum, err
		} else if rec == nil {
			return sum, fmt.Errorf("campaign %q: %w (no publish run, member or ledger entry under topic prefix %q)", campaign, ErrNotFound, topics.Prefix)
		}
	}
	users := make([]string, 0, len(latest))
	for u, le := range latest {
		if le.member || !anyMem {
			users = append(users, u)
		}
	}
	slices.Sort(users)

	bw := bufio.NewWriter(w)
	write := jsonlRow(bw)
	var cw *csv.Writer
	if format == FormatCSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(reportColumns); err != nil {
			return sum, err
		}
		write = csvRow(cw)
	}
	for _, u := range users {
		le := latest[u]
		row := ReportRow{UserID: u, State: le.state, MessageID: le.messageID, Reason: le.reason, Fact: le.fact, BounceType: le.bounce}
		if row.State == "" {
			row.State = pendingState
		}
		if !le.at.IsZero() {
			at := le.at.UTC()
			row.At = &at
		}
		if err := write(row); err != nil {
			return sum, fmt.Errorf("writing the report: %w", err)
		}
		sum.Users++
		sum.ByState[row.State]++
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return sum, fmt.Errorf("writing the report: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("writing the report: %w", err)
	}
	return sum, nil
}

func jsonlRow(w io.Writer) func(ReportRow) error {
	enc := json.NewEncoder(w)
	return func(r ReportRow) error { return enc.Encode(r) }
}

func csvRow(cw *csv.Writer) func(ReportRow) error {
	rec := make([]string, len(reportColumns))
	return func(r ReportRow) error {
		rec[0], rec[1], rec[2], rec[3], rec[4] = r.UserID, string(r.State), r.MessageID, r.Reason, ""
		if r.At != nil {
			rec[4] = r.At.Format(time.RFC3339Nano)
		}
		rec[5], rec[6] = r.Fact, r.BounceType
		return cw.Write(rec)
	}
}

// WriteText writes the summary: users, then users per state.
func (s ReportSummary) WriteText(w io.Writer) {
	states := make([]ledger.State, 0, len(s.ByState))
	for st := range s.ByState {
		states = append(states, st)
	}
	slices.Sort(states)
	fmt.Fprintf(w, "report: %d users", s.Users)
	for _, st := range states {
		fmt.Fprintf(w, ", %s %d", st, s.ByState[st])
	}
	fmt.Fprintln(w)
}
