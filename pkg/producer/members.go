package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// MembersTopic is the compacted topic of campaign membership: one record
// per (campaign, user) ever published, keyed like the ledger
// ("<campaign>:<user_id>"). The jobs topic cannot say who belongs to a
// campaign (it is keyed by user, and a later campaign replaces the job), and
// the campaign record only knows its last run; this topic is what lets
// `producer status` count every user of every publish run, once.
func MembersTopic(t kafka.Topics) string { return t.Prefix + ".members" }

// Member is the value of a membership record. Only the key matters to
// status; the value says when the user was last published, for a person
// reading the topic.
type Member struct {
	Campaign    string    `json:"campaign"`
	UserID      string    `json:"user_id"`
	PublishedAt time.Time `json:"published_at"`
}

// memberRecord is the membership record of one user of a publish run. A
// rerun writes it again with the same key; compaction keeps one.
func memberRecord(topic string, m Member) (*kgo.Record, error) {
	v, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding the membership record: %w", err)
	}
	return &kgo.Record{Topic: topic, Key: kafka.LedgerKey(m.Campaign, m.UserID), Value: v}, nil
}

// userOfKey is the user id of a membership (or ledger) key.
func userOfKey(k []byte) string {
	_, u, _ := strings.Cut(string(k), ":")
	return u
}

// membersTopicConfigs: compacted for ever, like the ledger it is joined
// with, so a campaign's set of users outlives its jobs.
var membersTopicConfigs = map[string]string{"cleanup.policy": "compact"}

// ensureMembersTopic creates the membership topic when it is missing; an
// existing one is left alone, so it is safe to call on every run.
// partitions <= 0 takes the jobs topic's partition count (1 if that topic is
// missing too); replication -1 takes the broker default.
func ensureMembersTopic(ctx context.Context, cl *kgo.Client, topics kafka.Topics, partitions int32, replication int16, log *slog.Logger) error {
	name := MembersTopic(topics)
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, name, topics.Jobs())
	if err != nil {
		return fmt.Errorf("looking up topic %s: %w", name, err)
	}
	if d, ok := details[name]; ok && d.Err == nil {
		return nil
	}
	if partitions <= 0 {
		partitions = 1
		if d, ok := details[topics.Jobs()]; ok && d.Err == nil && len(d.Partitions) > 0 {
			partitions = int32(len(d.Partitions))
		}
	}
	cfg := map[string]*string{}
	for k, v := range membersTopicConfigs {
		cfg[k] = kadm.StringPtr(v)
	}
	resp, err := adm.CreateTopic(ctx, partitions, replication, cfg, name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return nil // another producer created it meanwhile
	case err != nil:
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	if log != nil {
		log.Info("created topic", "topic", name, "partitions", partitions)
	}
	return nil
}
