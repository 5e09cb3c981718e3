package ses

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// Errors of the pre-flight lookups (producer publish checks the template
// and the From identity before publishing anything).
var (
	// ErrTemplateNotFound is returned by Template when SES has no template
	// of that name in this account and region.
	ErrTemplateNotFound = errors.New("SES has no template of that name in this account and region")
	// ErrNotImplemented is returned when the endpoint answers an operation
	// with "unknown operation": a local emulator (aws-ses-v2-local has no
	// GetEmailIdentity). Real SES implements every call this package makes.
	ErrNotImplemented = errors.New("the SES endpoint does not implement this operation (a local emulator?)")
)

// opGetTemplate is GetEmailTemplate in the call metrics.
const opGetTemplate = "GetEmailTemplate"

// Template checks that the template exists (GetEmailTemplate). It returns
// an error wrapping ErrTemplateNotFound when it does not.
func (c *Client) Template(ctx context.Context, name string) error {
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	_, err := c.api.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String(name)})
	c.m.observe(opGetTemplate, start, Classify(err, written.Load()))
	switch {
	case err == nil:
		return nil
	case notFound(err):
		return fmt.Errorf("ses GetEmailTemplate %q: %w: %w", name, ErrTemplateNotFound, err)
	}
	return fmt.Errorf("ses GetEmailTemplate %q: %w", name, err)
}

// IdentityVerified is IdentitySending for a pre-flight check: it tells an
// endpoint without GetEmailIdentity (ErrNotImplemented) from a refusal.
func (c *Client) IdentityVerified(ctx context.Context, from string) (bool, error) {
	ok, err := c.IdentitySending(ctx, from)
	if err != nil && notImplemented(err) {
		return false, fmt.Errorf("%w: %w", ErrNotImplemented, err)
	}
	return ok, err
}

// notFound recognises SES's NotFoundException, and the emulator's, whose
// code sits in a field the SDK does not read (a 404 with a message).
func notFound(err error) bool {
	var nf *types.NotFoundException
	if errors.As(err, &nf) {
		return true
	}
	code, msg, status := describe(err)
	return code == "NotFoundException" || (code == "" && status == 404 && msg != "")
}

// notImplemented recognises an "unknown operation" answer: the code, or a
// 404 without any AWS error in its body (aws-ses-v2-local answers
// <UnknownOperationException/>, which the JSON protocol cannot read).
func notImplemented(err error) bool {
	code, msg, status := describe(err)
	return code == "UnknownOperationException" || (code == "" && msg == "" && status == 404)
}
