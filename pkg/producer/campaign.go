package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// CampaignStatus is the publishing state of a campaign.
type CampaignStatus string

// The campaign states.
const (
	// StatusPublishing: a publish run started and has not finished (it may
	// be running, or it was killed and awaits a rerun).
	StatusPublishing CampaignStatus = "publishing"
	// StatusPublished: every valid row of the last run was published.
	StatusPublished CampaignStatus = "published"
)

// CampaignRecord is the value of a campaign's record in the compacted
// <prefix>.campaigns topic, keyed by campaign id. It gives status and
// progress their denominator.
type CampaignRecord struct {
	Campaign string `json:"campaign"`
	Template string `json:"template"`
	Source   string `json:"source"`
	// Total is the number of jobs the run published; while a rerun of a
	// published campaign is publishing, the previous run's total.
	Total      int64          `json:"total"`
	Rejected   int64          `json:"rejected"`
	Duplicates int64          `json:"duplicates"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at"` // null while publishing
	Status     CampaignStatus `json:"status"`
}

// writeCampaign produces rec and waits for the ack.
func writeCampaign(ctx context.Context, cl *kgo.Client, topics kafka.Topics, rec CampaignRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding campaign record: %w", err)
	}
	r := &kgo.Record{Topic: topics.Campaigns(), Key: []byte(rec.Campaign), Value: v}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("writing the %s record of campaign %s to %s: %w", rec.Status, rec.Campaign, topics.Campaigns(), err)
	}
	return nil
}

// ReadCampaign returns the latest record of the campaign, or nil when there
// is none.
func ReadCampaign(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string) (*CampaignRecord, error) {
	var (
		last    *CampaignRecord
		decErr  error
		wantKey = campaign
	)
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Campaigns()}, func(r *kgo.Record) error {
		if string(r.Key) != wantKey {
			return nil
		}
		if r.Value == nil {
			last = nil // tombstone
			return nil
		}
		var c CampaignRecord
		if err := json.Unmarshal(r.Value, &c); err != nil {
			decErr = fmt.Errorf("decoding the record of campaign %s at %s[%d]@%d: %w", campaign, r.Topic, r.Partition, r.Offset, err)
			return nil
		}
		decErr = nil
		last = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading campaign records: %w", err)
	}
	if decErr != nil {
		return nil, decErr
	}
	return last, nil
}
