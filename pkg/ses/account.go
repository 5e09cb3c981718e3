package ses

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// Account is the sending state of the SES account.
type Account struct {
	// MaxSendRate is the emails per second SES allows.
	MaxSendRate float64
	// Max24HourSend is the daily quota; SentLast24Hours what it has used.
	Max24HourSend, SentLast24Hours float64
	SendingEnabled                 bool
	// ProductionAccessEnabled is false in the SES sandbox (only verified
	// recipients).
	ProductionAccessEnabled bool
}

// Account reads the account's quotas (GetAccount).
func (c *Client) Account(ctx context.Context) (Account, error) {
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	out, err := c.api.GetAccount(ctx, &sesv2.GetAccountInput{})
	c.m.observe(opGetAccount, start, Classify(err, written.Load()))
	if err != nil {
		return Account{}, fmt.Errorf("ses GetAccount: %w", err)
	}
	a := Account{
		SendingEnabled:          out.SendingEnabled,
		ProductionAccessEnabled: out.ProductionAccessEnabled,
	}
	if q := out.SendQuota; q != nil {
		a.MaxSendRate, a.Max24HourSend, a.SentLast24Hours = q.MaxSendRate, q.Max24HourSend, q.SentLast24Hours
	}
	return a, nil
}
