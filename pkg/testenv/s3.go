package testenv

import (
	"os"
	"testing"
)

// S3Endpoint returns the S3 API endpoint (moto, which scripts/services.sh
// starts on 127.0.0.1:35000 and exports as AWS_ENDPOINT_URL_S3). Like
// SESEndpoint it makes sure the AWS SDK's default chain has a region and
// credentials, so that a client built from the default chain reaches it.
func S3Endpoint(t testing.TB) string {
	t.Helper()
	ep := need(t, "AWS_ENDPOINT_URL_S3", "an S3 API (moto, started by scripts/services.sh)")
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		if os.Getenv(k) == "" {
			t.Setenv(k, v)
		}
	}
	return ep
}
