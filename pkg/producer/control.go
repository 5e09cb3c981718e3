package producer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/kafka"
)

// ControlCommand is `producer pause|resume|cancel --campaign ID`.
type ControlCommand struct {
	Common   config.Common
	Campaign string
	// SweepDelay is how long resume and cancel wait, after recording the
	// decision, for every sender to see it before they publish the
	// campaign's parked jobs again: a sender parks only on a view at most
	// control.FreshFor old.
	SweepDelay time.Duration
	Timeout    time.Duration
}

// DefaultSweepDelay covers control.FreshFor and a second of polling.
const DefaultSweepDelay = control.FreshFor + 2*time.Second

// RegisterFlags binds the flags of pause, resume and cancel.
func (c *ControlCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	fs.StringVar(&c.Campaign, "campaign", "", "campaign id (required)")
	fs.DurationVar(&c.SweepDelay, "sweep-delay", DefaultSweepDelay, "resume and cancel: how long to wait for every sender to see the decision before publishing the campaign's parked jobs again")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "how long the whole command may take")
}

// Validate names the flag that is wrong.
func (c *ControlCommand) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	var missing []error
	if c.Campaign == "" {
		missing = append(missing, errors.New("--campaign is required"))
	}
	if c.SweepDelay < 0 {
		missing = append(missing, fmt.Errorf("--sweep-delay must not be negative (got %s)", c.SweepDelay))
	}
	if c.Timeout <= 0 {
		missing = append(missing, fmt.Errorf("--timeout must be positive (got %s)", c.Timeout))
	}
	return errors.Join(missing...)
}

// RunControl records the decision for the campaign and, for resume and
// cancel, publishes its parked jobs again, so that the senders send them or
// end them cancelled. It prints what it did.
func RunControl(ctx context.Context, c ControlCommand, st control.State, cl *kgo.Client, out io.Writer, log *slog.Logger) error {
	topics := kafka.Topics{Prefix: c.Common.TopicPrefix}
	// The control and parked topics of a deployment that predates them.
	if err := kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: topics, Partitions: 12, ReplicationFactor: -1}, log); err != nil {
		return err
	}
	if err := control.Set(ctx, cl, topics, c.Campaign, st, time.Now()); err != nil {
		return err
	}
	switch st {
	case control.Paused:
		fmt.Fprintf(out, "campaign %s paused: every sender parks its jobs within seconds (sendonce_sender_jobs_total{outcome=\"parked\"}); other campaigns keep sending.\nResume with: producer resume --campaign %s\n", c.Campaign, c.Campaign)
		return nil
	case control.Cancelled:
		fmt.Fprintf(out, "campaign %s cancelled (final): its remaining users end cancelled.\n", c.Campaign)
	default:
		fmt.Fprintf(out, "campaign %s resumed.\n", c.Campaign)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.SweepDelay):
	}
	n, err := control.Sweep(ctx, cl, topics, c.Campaign)
	if err != nil {
		return fmt.Errorf("%w (run the command again: it is idempotent)", err)
	}
	fmt.Fprintf(out, "%d parked jobs published again; the fence skips any user already settled.\n", n)
	return nil
}
