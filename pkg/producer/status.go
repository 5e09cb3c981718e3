package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// StatusReport counts a campaign's jobs per state. Its JSON is the contract
// of `producer status --json`: every key always present.
type StatusReport struct {
	Campaign     string `json:"campaign"`
	Published    int64  `json:"published"`
	Sent         int64  `json:"sent"`
	Failed       int64  `json:"failed"`
	Retrying     int64  `json:"retrying"` // retrying or redriven from the DLQ
	DeadLettered int64  `json:"dead_lettered"`
	Expired      int64  `json:"expired"`
	Ambiguous    int64  `json:"ambiguous"`
	Pending      int64  `json:"pending"` // published, no ledger entry yet
	// Complete is true when every published job reached a terminal state
	// and the last publish run finished.
	Complete bool `json:"complete"`

	// Record is the campaign record, nil when there is none.
	Record *CampaignRecord `json:"-"`
}

// Status reads the campaign record and the ledger (the last entry of each
// user of the campaign wins) and counts. A campaign nobody published reads
// as all zeros.
func Status(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string) (StatusReport, error) {
	rep := StatusReport{Campaign: campaign}
	if err := ValidateCampaignID(campaign); err != nil {
		return rep, err
	}
	rec, err := ReadCampaign(ctx, cl, topics, campaign)
	if err != nil {
		return rep, err
	}
	rep.Record = rec
	if rec != nil {
		rep.Published = rec.Total
	}

	// Keys are "<campaign>:<user>"; a 128-bit hash of the key stands for
	// the user, as in userSet, to keep a million users in a few tens of MB.
	prefix := kafka.LedgerKey(campaign, "")
	s1, s2 := maphash.MakeSeed(), maphash.MakeSeed()
	states := map[[2]uint64]ledger.State{}
	var decErr error
	err = kafka.ReadToEnd(ctx, cl, []string{topics.Ledger()}, func(r *kgo.Record) error {
		if !bytes.HasPrefix(r.Key, prefix) {
			return nil
		}
		k := [2]uint64{maphash.Bytes(s1, r.Key), maphash.Bytes(s2, r.Key)}
		if r.Value == nil {
			delete(states, k)
			return nil
		}
		e, err := ledger.Decode(r.Value)
		if err != nil {
			if decErr == nil {
				decErr = fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			return nil
		}
		states[k] = e.State
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reading the ledger: %w", err)
	}
	if decErr != nil {
		return rep, fmt.Errorf("reading the ledger: %w", decErr)
	}
	for _, st := range states {
		switch st {
		case ledger.Sent:
			rep.Sent++
		case ledger.Failed:
			rep.Failed++
		case ledger.DeadLettered:
			rep.DeadLettered++
		case ledger.Expired:
			rep.Expired++
		case ledger.Ambiguous:
			rep.Ambiguous++
		case ledger.Retrying, ledger.Redriven:
			rep.Retrying++
		}
	}
	accounted := rep.Sent + rep.Failed + rep.Retrying + rep.DeadLettered + rep.Expired + rep.Ambiguous
	rep.Pending = max(rep.Published-accounted, 0)
	rep.Complete = rep.Published > 0 && rec != nil && rec.Status == StatusPublished && rep.Pending == 0 && rep.Retrying == 0
	return rep, nil
}

// WriteJSON writes the report as one JSON object and a newline.
func (r StatusReport) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the report as an aligned table.
func (r StatusReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign\t%s\n", r.Campaign)
	switch rec := r.Record; {
	case rec == nil:
		fmt.Fprintf(tw, "publish run\tnone found\n")
	case rec.FinishedAt != nil:
		fmt.Fprintf(tw, "publish run\t%s (%s, finished %s, %d rejected, %d duplicates)\n", rec.Status, rec.Source, rec.FinishedAt.Format(time.RFC3339), rec.Rejected, rec.Duplicates)
	default:
		fmt.Fprintf(tw, "publish run\t%s (%s, started %s, not finished)\n", rec.Status, rec.Source, rec.StartedAt.Format(time.RFC3339))
	}
	for _, row := range []struct {
		name string
		n    int64
	}{
		{"published", r.Published}, {"sent", r.Sent}, {"failed", r.Failed}, {"retrying", r.Retrying},
		{"dead_lettered", r.DeadLettered}, {"expired", r.Expired}, {"ambiguous", r.Ambiguous}, {"pending", r.Pending},
	} {
		fmt.Fprintf(tw, "%s\t%d\n", row.name, row.n)
	}
	fmt.Fprintf(tw, "complete\t%t\n", r.Complete)
	return tw.Flush()
}
