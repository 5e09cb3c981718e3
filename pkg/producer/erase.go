package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
)

// An erasure request (GDPR art. 17, CCPA): remove what sendonce holds about
// one user. The compacted topics (jobs, ledger) get tombstones, which the
// log cleaner turns into deletions (after min.compaction.lag.ms and
// delete.retention.ms); the user's fence records are deleted from Redis. The
// delete-policy topics (retry tiers, DLQ, rejects) cannot drop one record:
// their copies are counted in the report and go with the topic's retention.

// EraseConfig is one erasure.
type EraseConfig struct {
	UserID string
	// Campaign limits the erasure to one campaign; empty: every campaign.
	Campaign string
	Topics   kafka.Topics
	// Tiers are the retry tiers whose topics are searched for copies.
	Tiers []time.Duration
	// FencePrefix is the fence's key prefix (the topic prefix).
	FencePrefix string
}

// Validate names the flag that is wrong.
func (c *EraseConfig) Validate() error {
	switch {
	case c.UserID == "":
		return errors.New("--user is required: the user_id to erase")
	case len(c.UserID) > MaxUserIDBytes:
		return fmt.Errorf("--user is %d bytes, the limit is %d", len(c.UserID), MaxUserIDBytes)
	case c.Topics.Prefix == "":
		return errors.New("--topic-prefix is empty")
	}
	if c.Campaign != "" {
		if err := ValidateCampaignID(c.Campaign); err != nil {
			return err
		}
	}
	if c.FencePrefix == "" {
		c.FencePrefix = c.Topics.Prefix
	}
	return nil
}

// EraseDeps are the connections of an erasure. Client must be built with
// EraseClientOpts: tombstones go to the partition the records were found
// in, whatever partitioner wrote them.
type EraseDeps struct {
	Client *kgo.Client
	Redis  redis.UniversalClient
	Log    *slog.Logger
}

// EraseClientOpts are the options of the erasure's Kafka client.
func EraseClientOpts() []kgo.Opt {
	return []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}
}

// EraseReport says what an erasure removed and what it could not.
type EraseReport struct {
	UserID   string `json:"user_id"`
	Campaign string `json:"campaign,omitempty"`
	// JobRecords are the records of the user in the jobs topic; the
	// tombstone removes them all (JobsTombstoned) unless KeptJobs says why
	// not.
	JobRecords     int    `json:"job_records"`
	JobsTombstoned bool   `json:"jobs_tombstoned"`
	KeptJobs       string `json:"kept_jobs,omitempty"`
	// LedgerCampaigns are the campaigns whose ledger entry was tombstoned.
	LedgerCampaigns []string `json:"ledger_campaigns"`
	// MemberCampaigns are the campaigns whose membership record was
	// tombstoned: status no longer counts the user.
	MemberCampaigns []string `json:"member_campaigns"`
	// FenceKeys are the fence keys (hashes of many users) the user's
	// record was deleted from, one per campaign.
	FenceKeys []string `json:"fence_keys"`
	// Copies counts the user's records left in delete-policy topics (retry
	// tiers, DLQ), which expire with the topic's retention.
	Copies map[string]int `json:"copies_until_retention"`
}

// Erase removes the user's jobs, ledger entries and fence records.
func Erase(ctx context.Context, cfg EraseConfig, d EraseDeps) (EraseReport, error) {
	if err := cfg.Validate(); err != nil {
		return EraseReport{}, err
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	rep := EraseReport{UserID: cfg.UserID, Campaign: cfg.Campaign, LedgerCampaigns: []string{}, MemberCampaigns: []string{}, FenceKeys: []string{}, Copies: map[string]int{}}
	user := []byte(cfg.UserID)

	// The jobs topic is keyed by user id: one tombstone removes every
	// campaign's job of the user, so with --campaign it is written only
	// when no other campaign's job shares the key.
	jobParts := map[int32]bool{}
	others := map[string]bool{}
	campaigns := map[string]bool{}
	err := kafka.ReadToEnd(ctx, d.Client, []string{cfg.Topics.Jobs()}, func(r *kgo.Record) error {
		if !bytes.Equal(r.Key, user) {
			return nil
		}
		if r.Value == nil { // erased before: only what follows is left
			rep.JobRecords = 0
			clear(jobParts)
			clear(others)
			clear(campaigns)
			return nil
		}
		rep.JobRecords++
		jobParts[r.Partition] = true
		c := recordCampaign(r)
		campaigns[c] = true
		if cfg.Campaign != "" && c != cfg.Campaign {
			others[c] = true
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reading %s: %w", cfg.Topics.Jobs(), err)
	}

	// Ledger keys are campaign:user (campaign ids hold no colon).
	ledgerParts := map[string]int32{}
	err = kafka.ReadToEnd(ctx, d.Client, []string{cfg.Topics.Ledger()}, func(r *kgo.Record) error {
		c, u, ok := strings.Cut(string(r.Key), ":")
		if !ok || u != cfg.UserID || (cfg.Campaign != "" && c != cfg.Campaign) {
			return nil
		}
		if r.Value == nil { // already tombstoned
			delete(ledgerParts, c)
			return nil
		}
		ledgerParts[c] = r.Partition
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reading %s: %w", cfg.Topics.Ledger(), err)
	}

	memberParts, err := memberPartitions(ctx, d.Client, cfg.Topics, cfg.UserID, cfg.Campaign)
	if err != nil {
		return rep, err
	}

	var tombs []*kgo.Record
	switch {
	case rep.JobRecords == 0:
	case len(others) > 0:
		rep.KeptJobs = fmt.Sprintf("the jobs topic keys by user id and also holds this user's jobs of campaigns %s: erase without --campaign to remove them all", strings.Join(sortedSet(others), ", "))
	default:
		for p := range jobParts {
			tombs = append(tombs, &kgo.Record{Topic: cfg.Topics.Jobs(), Partition: p, Key: user})
		}
		rep.JobsTombstoned = true
	}
	for c, p := range ledgerParts {
		tombs = append(tombs, &kgo.Record{Topic: cfg.Topics.Ledger(), Partition: p, Key: kafka.LedgerKey(c, cfg.UserID)})
		rep.LedgerCampaigns = append(rep.LedgerCampaigns, c)
		campaigns[c] = true
	}
	sort.Strings(rep.LedgerCampaigns)
	for c, p := range memberParts {
		tombs = append(tombs, &kgo.Record{Topic: MembersTopic(cfg.Topics), Partition: p, Key: kafka.LedgerKey(c, cfg.UserID)})
		rep.MemberCampaigns = append(rep.MemberCampaigns, c)
		campaigns[c] = true
	}
	sort.Strings(rep.MemberCampaigns)
	if len(tombs) > 0 {
		if err := d.Client.ProduceSync(ctx, tombs...).FirstErr(); err != nil {
			return rep, fmt.Errorf("writing tombstones: %w", err)
		}
	}

	keys, err := eraseFence(ctx, d.Redis, cfg, campaigns)
	if err != nil {
		return rep, err
	}
	rep.FenceKeys = keys

	copyTopics := append(cfg.Topics.RetryTopics(cfg.Tiers), cfg.Topics.DLQ())
	err = kafka.ReadToEnd(ctx, d.Client, copyTopics, func(r *kgo.Record) error {
		if bytes.Equal(r.Key, user) && (cfg.Campaign == "" || recordCampaign(r) == cfg.Campaign) {
			rep.Copies[r.Topic]++
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("counting copies in %v: %w", copyTopics, err)
	}
	d.Log.Info("erased a user", "user", cfg.UserID, "campaign", cfg.Campaign, "job_records", rep.JobRecords,
		"jobs_tombstoned", rep.JobsTombstoned, "ledger_entries", len(rep.LedgerCampaigns), "fence_keys", len(rep.FenceKeys))
	return rep, nil
}

// eraseFence deletes the user's fence records: those of the campaigns
// seen in Kafka, and any other the fence finds (a campaign whose records
// are gone). It returns the fence keys (buckets) a record was deleted
// from.
func eraseFence(ctx context.Context, rdb redis.UniversalClient, cfg EraseConfig, campaigns map[string]bool) ([]string, error) {
	f, err := fence.New(rdb, fence.Config{Prefix: cfg.FencePrefix}, nil)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	if cfg.Campaign != "" {
		all[cfg.Campaign] = true
	} else {
		found, err := f.Campaigns(ctx, cfg.UserID)
		if err != nil {
			return nil, fmt.Errorf("finding the user's fence records: %w", err)
		}
		for _, c := range found {
			all[c] = true
		}
		for c := range campaigns {
			all[c] = true
		}
	}
	keys := []string{}
	for _, c := range sortedSet(all) {
		ok, err := f.Erase(ctx, c, cfg.UserID)
		if err != nil {
			return nil, fmt.Errorf("deleting the fence record of campaign %s: %w", c, err)
		}
		if ok {
			keys = append(keys, f.Key(c, cfg.UserID))
		}
	}
	return keys, nil
}

func recordCampaign(r *kgo.Record) string {
	if c := job.Header(r, job.HeaderCampaign); c != "" {
		return c
	}
	if j, err := job.Decode(r.Value); err == nil {
		return j.Campaign
	}
	return ""
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteText prints the report for the operator who answers the request.
func (r EraseReport) WriteText(w io.Writer) error {
	scope := "every campaign"
	if r.Campaign != "" {
		scope = "campaign " + r.Campaign
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Erased user %s (%s)\n", r.UserID, scope)
	switch {
	case r.JobsTombstoned:
		fmt.Fprintf(&b, "  jobs topic     %d record(s) tombstoned (removed at the next compaction)\n", r.JobRecords)
	case r.KeptJobs != "":
		fmt.Fprintf(&b, "  jobs topic     %d record(s) NOT tombstoned: %s\n", r.JobRecords, r.KeptJobs)
	default:
		b.WriteString("  jobs topic     no record\n")
	}
	if len(r.LedgerCampaigns) == 0 {
		b.WriteString("  ledger         no entry\n")
	} else {
		fmt.Fprintf(&b, "  ledger         %d entr(ies) tombstoned: %s\n", len(r.LedgerCampaigns), strings.Join(r.LedgerCampaigns, ", "))
	}
	if len(r.MemberCampaigns) > 0 {
		fmt.Fprintf(&b, "  members        %d record(s) tombstoned: %s\n", len(r.MemberCampaigns), strings.Join(r.MemberCampaigns, ", "))
	}
	if len(r.FenceKeys) == 0 {
		b.WriteString("  fence (Redis)  no record\n")
	} else {
		fmt.Fprintf(&b, "  fence (Redis)  %d record(s) deleted, from %s\n", len(r.FenceKeys), strings.Join(r.FenceKeys, ", "))
	}
	topics := make([]string, 0, len(r.Copies))
	for t := range r.Copies {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		fmt.Fprintf(&b, "  %-14s %d copy(ies) left: a delete-policy topic, removed by its retention\n", t, r.Copies[t])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
