package sesevents

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/stretchr/testify/require"
)

// fakeSNS records what was published.
type fakeSNS struct {
	mu     sync.Mutex
	events []Event
	topics []string
	err    error
	// failFirst fails that many publishes before answering.
	failFirst int
	calls     int
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	f.calls++
	failing := f.calls <= f.failFirst
	f.mu.Unlock()
	if failing {
		return nil, errors.New("context deadline exceeded (a stalled emulator)")
	}
	e, err := Parse([]byte(aws.ToString(in.Message)))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	f.topics = append(f.topics, aws.ToString(in.TopicArn))
	return &sns.PublishOutput{MessageId: aws.String("sns-1")}, nil
}

// byMessage counts the published events per message id and type.
func (f *fakeSNS) byMessage() map[string]map[Type]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[Type]int{}
	for _, e := range f.events {
		if out[e.Mail.MessageID] == nil {
			out[e.Mail.MessageID] = map[Type]int{}
		}
		out[e.Mail.MessageID][e.EventType]++
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{TopicARN: "arn:t"}, true},
		{"no topic", Config{}, false},
		{"delay range", Config{TopicARN: "arn:t", MinDelay: 2, MaxDelay: 1}, false},
		{"negative delay", Config{TopicARN: "arn:t", MinDelay: -1}, false},
		{"duplicates over 1", Config{TopicARN: "arn:t", DuplicateRatio: 1.1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok {
				require.NoError(t, err)
				require.NotNil(t, tc.cfg.Rules)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	p, err := NewWithAPI(&fakeSNS{}, Config{TopicARN: "arn:t"})
	require.NoError(t, err)
	plan := func(to ...string) []Type { return p.Plan(Accepted{To: to}) }
	require.Equal(t, []Type{Send, Delivery}, plan("ann@example.org"))
	require.Equal(t, []Type{Send, Bounce}, plan("bounce+ann@example.org"))
	require.Equal(t, []Type{Send, Delivery, Complaint}, plan("complaint+1@example.org"))
	require.Equal(t, []Type{Send, Reject}, plan("reject+x@example.org"))
	require.Equal(t, []Type{Send, RenderingFailure}, plan("renderfail+x@example.org"))
	require.Equal(t, []Type{Send, DeliveryDelay, Delivery}, plan("delay+x@example.org"))
	require.Equal(t, []Type{Send, Delivery}, plan("ann+bounce+@example.org"), "a prefix of the local part only")

	q, err := NewWithAPI(&fakeSNS{}, Config{TopicARN: "arn:t", NoDelivery: true, Rules: []Rule{{LocalPrefix: "b", Events: []Type{Bounce}}}})
	require.NoError(t, err)
	require.Equal(t, []Type{Send}, q.Plan(Accepted{To: []string{"ann@example.org"}}))
	require.Equal(t, []Type{Send, Bounce}, q.Plan(Accepted{To: []string{"ann@example.org", "bob@example.org"}}))
}

func TestPublisher(t *testing.T) {
	f := &fakeSNS{}
	p, err := NewWithAPI(f, Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:events", MaxDelay: 20 * time.Millisecond, DuplicateRatio: 0.5, Seed: 3})
	require.NoError(t, err)
	const n = 200
	for i := range n {
		to := "ann@example.org"
		if i%10 == 0 {
			to = "bounce+ann@example.org"
		}
		p.Accepted(Accepted{MessageID: fmt.Sprintf("m%d", i), To: []string{to}, ConfigurationSet: "cs", Tags: map[string]string{"campaign": "c"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Wait(ctx))

	got := f.byMessage()
	require.Len(t, got, n, "every accepted email has events")
	dups := 0
	for id, types := range got {
		require.GreaterOrEqual(t, types[Send], 1, id)
		require.LessOrEqual(t, types[Send], 2, id)
		for _, c := range types {
			dups += c - 1
		}
	}
	s := p.Stats()
	require.Equal(t, n, s.Accepted)
	require.Equal(t, dups, s.Duplicates)
	require.InDelta(t, 0.5*float64(2*n), float64(s.Duplicates), 60, "about half the events twice")
	require.Equal(t, n/10, s.Published[Bounce]-countDups(f, Bounce))
	require.Equal(t, n-n/10, s.Published[Delivery]-countDups(f, Delivery))
	for _, topic := range f.topics {
		require.Equal(t, "arn:aws:sns:us-east-1:123456789012:events", topic)
	}

	// Close publishes what waits without waiting out its delay, then drops.
	slow, err := NewWithAPI(f, Config{TopicARN: "arn:t", MinDelay: time.Hour, MaxDelay: time.Hour})
	require.NoError(t, err)
	slow.Accepted(Accepted{MessageID: "late", To: []string{"x@example.org"}})
	require.NoError(t, slow.Close(ctx))
	require.Equal(t, 2, len(f.byMessage()["late"]))
	slow.Accepted(Accepted{MessageID: "after", To: []string{"x@example.org"}})
	require.Equal(t, 1, slow.Stats().Dropped)
}

func countDups(f *fakeSNS, typ Type) int {
	n := 0
	for _, types := range f.byMessage() {
		if types[typ] > 1 {
			n += types[typ] - 1
		}
	}
	return n
}

func TestPublisherFailureCounted(t *testing.T) {
	p, err := NewWithAPI(&fakeSNS{err: errors.New("NotFound: topic does not exist")}, Config{TopicARN: "arn:t", PublishAttempts: 1})
	require.NoError(t, err)
	p.Accepted(Accepted{MessageID: "m", To: []string{"a@example.org"}})
	require.NoError(t, p.Close(context.Background()))
	require.Equal(t, 2, p.Stats().Failed)
	require.Empty(t, p.Stats().Published)
}

// A publish that fails (the emulator stalled) is tried again: the event is
// not lost.
func TestPublisherRetries(t *testing.T) {
	f := &fakeSNS{failFirst: 1}
	p, err := NewWithAPI(f, Config{TopicARN: "arn:t", NoDelivery: true, PublishAttempts: 3})
	require.NoError(t, err)
	p.Accepted(Accepted{MessageID: "m", To: []string{"a@example.org"}})
	require.NoError(t, p.Close(context.Background()))
	require.Zero(t, p.Stats().Failed)
	require.Equal(t, 1, p.Stats().Published[Send])
	require.Len(t, f.events, 1)
}
