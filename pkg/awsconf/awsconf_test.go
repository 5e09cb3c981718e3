package awsconf

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
)

type prov struct {
	c   aws.Credentials
	err error
}

func (p prov) Retrieve(context.Context) (aws.Credentials, error) { return p.c, p.err }

func TestRetrieve(t *testing.T) {
	tests := []struct {
		name    string
		p       aws.CredentialsProvider
		ok      bool
		keep    string // part of the chain's error that must stay
		dropped string // part that must not
	}{
		{name: "keys", p: prov{c: aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}}, ok: true},
		{name: "nil provider", p: nil},
		{name: "empty keys", p: prov{}},
		{name: "imds stack", p: prov{err: errors.New("failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, http response error StatusCode: 403")}, dropped: "ec2imds"},
		{name: "web identity", p: prov{err: errors.New("failed to retrieve credentials, operation error STS: AssumeRoleWithWebIdentity, AccessDenied")}, keep: "AssumeRoleWithWebIdentity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Retrieve(context.Background(), tt.p, "SES")
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrNoCredentials)
			for _, w := range []string{"SES", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "IRSA"} {
				require.ErrorContains(t, err, w)
			}
			if tt.keep != "" {
				require.ErrorContains(t, err, tt.keep)
			}
			if tt.dropped != "" {
				require.NotContains(t, err.Error(), tt.dropped)
			}
		})
	}
}

// TestCheckFromTheEnvironment: the default chain finds keys in the
// environment, and without any (no profile, no IRSA, no instance role)
// says what to set.
func TestCheckFromTheEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ROLE_ARN", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	require.NoError(t, Check(context.Background(), "SES"))

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	err := Check(context.Background(), "SES")
	require.ErrorIs(t, err, ErrNoCredentials)
	require.NotContains(t, err.Error(), "IMDS")
}
