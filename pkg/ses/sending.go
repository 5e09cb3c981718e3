package ses

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// ConfigurationSetSending reports whether SES sends through the
// configuration set (GetConfigurationSet SendingOptions.SendingEnabled): the
// evidence that lifts a ConfigurationSetSendingPausedException.
func (c *Client) ConfigurationSetSending(ctx context.Context, name string) (bool, error) {
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	out, err := c.api.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(name)})
	c.m.observe(opGetConfigurationSet, start, Classify(err, written.Load()))
	if err != nil {
		return false, fmt.Errorf("ses GetConfigurationSet %q: %w", name, err)
	}
	return out.SendingOptions == nil || out.SendingOptions.SendingEnabled, nil
}

// IdentitySending reports whether the From address can send: the address
// itself, or else its domain, is verified for sending (GetEmailIdentity
// VerifiedForSendingStatus). It is the evidence that lifts an AccessDenied
// scoped to one identity.
func (c *Client) IdentitySending(ctx context.Context, from string) (bool, error) {
	ids := []string{from}
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		ids = append(ids, from[at+1:])
	}
	var lastErr error
	for _, id := range ids {
		ok, err := c.identity(ctx, id)
		if err == nil && ok {
			return true, nil
		}
		var nf *types.NotFoundException
		if err != nil && !errors.As(err, &nf) {
			lastErr = err
		}
	}
	return false, lastErr
}

func (c *Client) identity(ctx context.Context, id string) (bool, error) {
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	out, err := c.api.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(id)})
	c.m.observe(opGetEmailIdentity, start, Classify(err, written.Load()))
	if err != nil {
		return false, fmt.Errorf("ses GetEmailIdentity %q: %w", id, err)
	}
	return out.VerifiedForSendingStatus, nil
}
