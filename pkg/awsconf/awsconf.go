// Package awsconf checks, at start, that the AWS SDK's default credential
// chain (environment, shared profile, IRSA web identity, container and
// instance roles) yields credentials, so that a pod without them exits with
// what to set instead of failing at its first SES or MSK call with an
// instance-metadata (IMDS) error.
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// checkTimeout bounds the lookup: the chain's last resort, the instance
// metadata service, can take seconds to give up off EC2.
const checkTimeout = 15 * time.Second

// ErrNoCredentials is returned when the chain yields no credentials; its
// message names the three usual ways to provide them.
var ErrNoCredentials = errors.New("no AWS credentials: set AWS_PROFILE (a profile of ~/.aws/config), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the pod's ServiceAccount an IAM role (IRSA: eks.amazonaws.com/role-arn, which sets AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE)")

// Check loads the default chain and retrieves credentials once. what says
// who needs them ("SES", "MSK IAM") in the error.
func Check(ctx context.Context, what string) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	// The SDK's own warnings of this probe (IMDSv1 fallback) are noise:
	// the error below says what to do.
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(logging.Nop{}))
	if err != nil {
		return fmt.Errorf("%s: loading the AWS configuration (check AWS_PROFILE and AWS_CONFIG_FILE): %w", what, err)
	}
	return Retrieve(ctx, cfg.Credentials, what)
}

// Retrieve asks prov for credentials. The chain's own error is kept only
// when it says something an operator can act on; the instance-metadata
// attempt that ends every empty chain is not.
func Retrieve(ctx context.Context, prov aws.CredentialsProvider, what string) error {
	if prov == nil {
		return fmt.Errorf("%s: %w", what, ErrNoCredentials)
	}
	c, err := prov.Retrieve(ctx)
	switch {
	case err == nil && c.HasKeys():
		return nil
	case err == nil:
		return fmt.Errorf("%s: %w", what, ErrNoCredentials)
	case strings.Contains(err.Error(), "IMDS") || strings.Contains(err.Error(), "ec2imds"):
		return fmt.Errorf("%s: %w", what, ErrNoCredentials)
	default:
		return fmt.Errorf("%s: %w (the credential chain said: %v)", what, ErrNoCredentials, err)
	}
}
