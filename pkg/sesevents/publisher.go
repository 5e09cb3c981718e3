package sesevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sendonce/sendonce/pkg/awsconf"
)

// Rule chooses the follow-up events of an accepted email by the local part
// of a recipient (the text before '@').
type Rule struct {
	// LocalPrefix is matched against the start of the local part
	// ("bounce+" matches bounce+ann@example.org).
	LocalPrefix string
	// Events follow the Send event.
	Events []Type
}

// DefaultRules are the rules when Config.Rules is nil.
var DefaultRules = []Rule{
	{LocalPrefix: "bounce+", Events: []Type{Bounce}},
	{LocalPrefix: "complaint+", Events: []Type{Delivery, Complaint}},
	{LocalPrefix: "reject+", Events: []Type{Reject}},
	{LocalPrefix: "renderfail+", Events: []Type{RenderingFailure}},
	{LocalPrefix: "delay+", Events: []Type{DeliveryDelay, Delivery}},
}

// Config configures a Publisher.
type Config struct {
	// TopicARN is the SNS topic the events go to.
	TopicARN string
	// MinDelay and MaxDelay bound the random delay of each event after the
	// email was accepted (each event draws its own, so they may arrive out
	// of order).
	MinDelay, MaxDelay time.Duration
	// DuplicateRatio of the events are published twice (each copy after
	// its own delay), as SNS and SQS may deliver them.
	DuplicateRatio float64
	// NoDelivery publishes no Delivery event for recipients no rule
	// matches (by default they get Send and Delivery).
	NoDelivery bool
	// Rules choose the follow-ups of matching recipients; the first match
	// wins. nil is DefaultRules; an empty slice matches nothing.
	Rules []Rule
	// PublishTimeout bounds one SNS Publish; default 10s.
	PublishTimeout time.Duration
	// PublishAttempts is how many times one event is published before it
	// counts as failed (SES itself keeps trying to deliver an event to its
	// destination; an emulator that stalls for a few seconds must not lose
	// it); default 5, a second apart and more.
	PublishAttempts int
	// Seed makes the delays and duplicates repeatable.
	Seed int64
	// Now dates the events; nil is time.Now.
	Now func() time.Time
	// Log receives a line per failed publish; nil is slog.Default().
	Log *slog.Logger
}

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.TopicARN == "":
		return errors.New("sesevents: the SNS topic ARN is empty")
	case c.MinDelay < 0 || c.MaxDelay < c.MinDelay:
		return fmt.Errorf("sesevents: delay range [%v, %v] is invalid", c.MinDelay, c.MaxDelay)
	case c.DuplicateRatio < 0 || c.DuplicateRatio > 1:
		return fmt.Errorf("sesevents: duplicate ratio %v is not within [0, 1]", c.DuplicateRatio)
	case c.PublishTimeout < 0:
		return errors.New("sesevents: publish timeout must not be negative")
	case c.PublishAttempts < 0:
		return errors.New("sesevents: publish attempts must not be negative")
	}
	if c.PublishAttempts == 0 {
		c.PublishAttempts = 5
	}
	if c.Rules == nil {
		c.Rules = DefaultRules
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// snsAPI is the part of the SNS client the publisher uses.
type snsAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Stats counts what a Publisher did.
type Stats struct {
	// Accepted is the emails it was told about.
	Accepted int
	// Published counts the events posted to SNS by type, duplicates
	// included; Duplicates is how many of them were second copies.
	Published  map[Type]int
	Duplicates int
	// Failed is the publishes SNS refused or that timed out (logged).
	Failed int
	// Dropped is the emails told after Close.
	Dropped int
}

// Publisher posts the events of accepted emails to an SNS topic, each after
// a random delay. It is safe for concurrent use.
type Publisher struct {
	cfg Config
	api snsAPI

	mu     sync.Mutex // guards rng, stats and closed
	rng    *rand.Rand
	stats  Stats
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{} // closed by Close: pending events are published now
}

// New builds a Publisher whose SNS client comes from the AWS SDK's default
// chain (region, credentials, and AWS_ENDPOINT_URL_SNS for moto).
func New(ctx context.Context, cfg Config) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(awsconf.Logger(cfg.Log)))
	if err != nil {
		return nil, fmt.Errorf("loading AWS config for SNS: %w", err)
	}
	return newPublisher(sns.NewFromConfig(awsCfg), cfg), nil
}

// NewWithAPI builds a Publisher on an SNS client (or a stand-in).
func NewWithAPI(api snsAPI, cfg Config) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newPublisher(api, cfg), nil
}

func newPublisher(api snsAPI, cfg Config) *Publisher {
	return &Publisher{
		cfg:   cfg,
		api:   api,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x5e5e7e57)),
		stats: Stats{Published: map[Type]int{}},
		stop:  make(chan struct{}),
	}
}

// Plan lists the events of an accepted email: Send, then the follow-ups of
// the first rule a recipient matches, else Delivery (unless NoDelivery).
func (p *Publisher) Plan(a Accepted) []Type {
	for _, to := range a.To {
		local := to
		if i := strings.LastIndexByte(to, '@'); i >= 0 {
			local = to[:i]
		}
		for _, r := range p.cfg.Rules {
			if strings.HasPrefix(local, r.LocalPrefix) {
				return append([]Type{Send}, r.Events...)
			}
		}
	}
	if p.cfg.NoDelivery {
		return []Type{Send}
	}
	return []Type{Send, Delivery}
}

// Accepted schedules the events of a. It never blocks.
func (p *Publisher) Accepted(a Accepted) {
	if a.At.IsZero() {
		a.At = p.cfg.Now()
	}
	plan := p.Plan(a)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.stats.Dropped++
		return
	}
	p.stats.Accepted++
	for _, typ := range plan {
		p.schedule(typ, a, false)
		if p.rng.Float64() < p.cfg.DuplicateRatio {
			p.schedule(typ, a, true)
		}
	}
}

// schedule publishes one event after a random delay; p.mu is held.
func (p *Publisher) schedule(typ Type, a Accepted, dup bool) {
	delay := p.cfg.MinDelay
	if spread := p.cfg.MaxDelay - p.cfg.MinDelay; spread > 0 {
		delay += time.Duration(p.rng.Int64N(int64(spread) + 1))
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-p.stop:
				t.Stop()
			}
		}
		p.publish(NewEvent(typ, a, p.cfg.Now()), dup)
	}()
}

func (p *Publisher) publish(e Event, dup bool) {
	body, err := json.Marshal(e)
	for attempt := 1; err == nil && attempt <= p.cfg.PublishAttempts; attempt++ {
		if attempt > 1 {
			// A timed-out publish may have landed: the retry can make a
			// duplicate event, which the reconciler must take anyway.
			time.Sleep(time.Duration(attempt-1) * time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PublishTimeout)
		_, err = p.api.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(p.cfg.TopicARN), Message: aws.String(string(body))})
		cancel()
		if err == nil || attempt == p.cfg.PublishAttempts {
			break
		}
		err = nil // try again
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.stats.Failed++
		p.cfg.Log.Warn("publishing an SES event to SNS failed: is the topic there and AWS_ENDPOINT_URL_SNS right?", "event", e.EventType, "message_id", e.Mail.MessageID, "err", err)
		return
	}
	p.stats.Published[e.EventType]++
	if dup {
		p.stats.Duplicates++
	}
}

// Close publishes what is still pending without waiting out its delay,
// waits for it (or ctx), and drops what is told afterwards.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sesevents: events still being published: %w", ctx.Err())
	}
}

// Wait waits until every scheduled event is published (or ctx ends),
// without closing.
func (p *Publisher) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a copy of the counts.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Published = make(map[Type]int, len(p.stats.Published))
	for k, v := range p.stats.Published {
		s.Published[k] = v
	}
	return s
}
