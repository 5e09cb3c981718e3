package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// MembersTopic is the compacted topic of campaign membership (deleted
// after the ledger's retention, like the ledger): one record
// per (campaign, user) ever published, keyed like the ledger
// ("<campaign>:<user_id>"). The jobs topic cannot say who belongs to a
// campaign (it is keyed by user, and a later campaign replaces the job), and
// the campaign record only knows its last run; this topic is what lets
// `producer status` count every user of every publish run, once.
func MembersTopic(t kafka.Topics) string { return t.Prefix + ".members" }

// Member is the value of a membership record (memberEncoder writes it).
// Only the key matters to status; the value says when the user was last
// published, for a person reading the topic.
type Member struct {
	Campaign    string    `json:"campaign"`
	UserID      string    `json:"user_id"`
	PublishedAt time.Time `json:"published_at"`
}

// memberEncoder builds the membership records of one run, the JSON of
// Member, without encoding/json's reflection for every user: the part
// common to the run is encoded once.
type memberEncoder struct {
	topic, campaign string
	head            []byte // {"campaign":…,"published_at":…,"user_id":
}

func newMemberEncoder(topic, campaign string, publishedAt time.Time) (*memberEncoder, error) {
	c, err := json.Marshal(campaign)
	if err != nil {
		return nil, fmt.Errorf("encoding the membership record: %w", err)
	}
	at, err := json.Marshal(publishedAt)
	if err != nil {
		return nil, fmt.Errorf("encoding the membership record: %w", err)
	}
	head := append([]byte(`{"campaign":`), c...)
	head = append(append(append(head, `,"published_at":`...), at...), `,"user_id":`...)
	return &memberEncoder{topic: topic, campaign: campaign, head: head}, nil
}

// record is the membership record of user.
func (e *memberEncoder) record(user string) *kgo.Record {
	v := make([]byte, 0, len(e.head)+len(user)+3)
	v = appendJSONString(append(v, e.head...), user)
	return &kgo.Record{Topic: e.topic, Key: kafka.LedgerKey(e.campaign, user), Value: append(v, '}')}
}

// appendJSONString appends s as a JSON string: plain printable ASCII as it
// is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// userOfKey is the user id of a membership (or ledger) key.
func userOfKey(k []byte) string {
	_, u, _ := strings.Cut(string(k), ":")
	return u
}

// membersTopicConfigs: compacted, and deleted after the ledger's retention
// like the ledger it is joined with (user ids are personal data; see
// kafka.LedgerRetention): a campaign's set of users lives as long as its
// ledger, longer than its jobs.
var membersTopicConfigs = map[string]string{
	"cleanup.policy": "compact,delete",
	"retention.ms":   strconv.FormatInt(kafka.LedgerRetention.Milliseconds(), 10),
	"segment.ms":     strconv.FormatInt((24 * time.Hour).Milliseconds(), 10),
}

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

// memberPartitions finds the membership records of user (in campaign, or
// in every campaign when it is empty) that a tombstone must reach: the
// partition of each campaign's latest record, for the erasure.
func memberPartitions(ctx context.Context, cl *kgo.Client, topics kafka.Topics, user, campaign string) (map[string]int32, error) {
	parts := map[string]int32{}
	err := kafka.ReadToEnd(ctx, cl, []string{MembersTopic(topics)}, func(r *kgo.Record) error {
		c, u, ok := strings.Cut(string(r.Key), ":")
		if !ok || u != user || (campaign != "" && c != campaign) {
			return nil
		}
		if r.Value == nil { // already tombstoned
			delete(parts, c)
			return nil
		}
		parts[c] = r.Partition
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", MembersTopic(topics), err)
	}
	return parts, nil
}
