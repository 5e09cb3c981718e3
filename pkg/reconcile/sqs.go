package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sendonce/sendonce/pkg/awsconf"
)

// SQSConfig configures the SQS source.
type SQSConfig struct {
	// QueueURL is the events queue (--events-queue-url).
	QueueURL string
	// WaitTime is the long-poll wait of a receive. Default 20 s (SQS's
	// maximum).
	WaitTime time.Duration
	// MaxMessages is the batch of a receive, 1 to 10. Default 10.
	MaxMessages int
	// Timeout bounds Delete, Extend and Depth calls. Default 10 s.
	Timeout time.Duration
	Log     *slog.Logger
}

// ErrSQSConfig is wrapped by every error SQSConfig.Validate returns.
var ErrSQSConfig = errors.New("reconcile: invalid SQS config")

// Validate fills in the defaults and says what is wrong.
func (c *SQSConfig) Validate() error {
	if c.WaitTime == 0 {
		c.WaitTime = 20 * time.Second
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = 10
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	switch {
	case c.QueueURL == "":
		return fmt.Errorf("%w: the events queue URL is required (--events-queue-url or SENDONCE_EVENTS_QUEUE_URL)", ErrSQSConfig)
	case c.WaitTime < 0 || c.WaitTime > 20*time.Second:
		return fmt.Errorf("%w: the long-poll wait must be 0 to 20s (got %s)", ErrSQSConfig, c.WaitTime)
	case c.MaxMessages < 1 || c.MaxMessages > 10:
		return fmt.Errorf("%w: a receive takes 1 to 10 messages (got %d)", ErrSQSConfig, c.MaxMessages)
	}
	return nil
}

// SQS is the events queue on Amazon SQS (or moto). The endpoint, region
// and credentials come from the SDK's default chain (AWS_ENDPOINT_URL_SQS
// for an emulator).
type SQS struct {
	cfg SQSConfig
	api *sqs.Client
}

// NewSQS builds the SQS source from the SDK's default configuration.
func NewSQS(ctx context.Context, cfg SQSConfig) (*SQS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(awsconf.Logger(log)))
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for SQS: %w", err)
	}
	return &SQS{cfg: cfg, api: sqs.NewFromConfig(awsCfg)}, nil
}

// NewSQSFromClient wraps an SQS client (tests).
func NewSQSFromClient(api *sqs.Client, cfg SQSConfig) (*SQS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &SQS{cfg: cfg, api: api}, nil
}

// Receive long-polls the queue.
func (s *SQS) Receive(ctx context.Context) ([]Message, error) {
	out, err := s.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(s.cfg.QueueURL),
		MaxNumberOfMessages: int32(s.cfg.MaxMessages),
		WaitTimeSeconds:     int32(s.cfg.WaitTime / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameSentTimestamp, types.MessageSystemAttributeNameApproximateReceiveCount,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("receiving from the events queue %s: %w", s.cfg.QueueURL, err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle), Body: []byte(aws.ToString(m.Body))}
		if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
			msg.SentAt = time.UnixMilli(ms)
		}
		msg.Receives, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete deletes messages with DeleteMessageBatch (10 at a time).
func (s *SQS) Delete(ctx context.Context, msgs []Message) error {
	for start := 0; start < len(msgs); start += 10 {
		part := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(part))
		for i, m := range part {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Receipt)}
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		out, err := s.api.DeleteMessageBatch(cctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.cfg.QueueURL), Entries: entries})
		cancel()
		if err != nil {
			return fmt.Errorf("deleting %d messages from the events queue: %w", len(part), err)
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return fmt.Errorf("deleting messages from the events queue: %d of %d failed (first: %s %s)", len(out.Failed), len(part), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return nil
}

// Extend changes the visibility timeout of messages to d from now.
func (s *SQS) Extend(ctx context.Context, msgs []Message, d time.Duration) error {
	for start := 0; start < len(msgs); start += 10 {
		part := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(part))
		for i, m := range part {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Receipt), VisibilityTimeout: int32(d / time.Second)}
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		out, err := s.api.ChangeMessageVisibilityBatch(cctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(s.cfg.QueueURL), Entries: entries})
		cancel()
		if err != nil {
			return fmt.Errorf("extending the visibility of %d messages: %w", len(part), err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("extending the visibility of messages: %d of %d failed", len(out.Failed), len(part))
		}
	}
	return nil
}

// Depth returns ApproximateNumberOfMessages of a queue (the events DLQ).
func (s *SQS) Depth(ctx context.Context, queueURL string) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out, err := s.api.GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, fmt.Errorf("reading the depth of %s: %w", queueURL, err)
	}
	n, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		return 0, fmt.Errorf("reading the depth of %s: ApproximateNumberOfMessages %q: %w", queueURL, out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], err)
	}
	return n, nil
}
