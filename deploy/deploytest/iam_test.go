package deploytest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Action    stringOrList   `json:"Action"`
	Resource  stringOrList   `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// stringOrList is IAM's "one string or a list of strings".
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func loadPolicy(t *testing.T, name string) iamPolicy {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readFile(t, "deploy", "iam", name)))
	dec.DisallowUnknownFields()
	var p iamPolicy
	require.NoError(t, dec.Decode(&p), "deploy/iam/%s", name)
	require.Equal(t, "2012-10-17", p.Version, name)
	return p
}

// TestIAMLeastPrivilege: each role may do exactly what its workload needs,
// on named resources; "*" only where the API has no resource.
func TestIAMLeastPrivilege(t *testing.T) {
	// Actions that have no resource-level permissions.
	noResource := map[string]bool{"ses:GetAccount": true}
	tests := []struct {
		file    string
		actions []string
		// required resource ARN fragments, per action
		on map[string][]string
	}{
		{
			file:    "sender-policy.json",
			actions: []string{"ses:SendEmail", "ses:SendBulkEmail", "ses:GetAccount"},
			on: map[string][]string{
				"ses:SendEmail":     {":identity/", ":configuration-set/", ":template/"},
				"ses:SendBulkEmail": {":identity/", ":configuration-set/", ":template/"},
			},
		},
		{
			file:    "reconcile-sqs-policy.json",
			actions: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"},
			on: map[string][]string{
				"sqs:ReceiveMessage":     {":sendonce-prod-events"},
				"sqs:GetQueueAttributes": {":sendonce-prod-events-dlq"},
			},
		},
		{
			file: "producer-policy.json",
			actions: []string{"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
				"glue:GetDatabase", "glue:GetTable", "glue:GetPartitions",
				"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
				"ses:GetEmailTemplate", "ses:TestRenderEmailTemplate", "ses:GetEmailIdentity"}, // publish's pre-flight checks
			on: map[string][]string{
				"athena:StartQueryExecution": {":workgroup/"},
				"ses:GetEmailTemplate":       {":template/"},
				"ses:GetEmailIdentity":       {":identity/"},
				"glue:GetTable":              {":database/", ":table/"},
				"s3:PutObject":               {"arn:aws:s3:::"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := loadPolicy(t, tt.file)
			got := map[string]bool{}
			resources := map[string][]string{}
			for _, s := range p.Statement {
				require.Equal(t, "Allow", s.Effect, "%s: statement %s", tt.file, s.Sid)
				require.NotEmpty(t, s.Sid)
				require.NotEmpty(t, s.Action)
				require.NotEmpty(t, s.Resource)
				for _, a := range s.Action {
					require.NotContains(t, a, "*", "%s: wildcard action %s", tt.file, a)
					got[a] = true
					resources[a] = append(resources[a], s.Resource...)
				}
				for _, r := range s.Resource {
					if r == "*" {
						for _, a := range s.Action {
							require.True(t, noResource[a], "%s: %s on every resource (*)", tt.file, a)
						}
						continue
					}
					require.True(t, strings.HasPrefix(r, "arn:aws:"), "%s: resource %q", tt.file, r)
					require.NotEqual(t, "arn:aws:s3:::*", r)
				}
			}
			require.ElementsMatch(t, tt.actions, sortedKeys(got), "%s: the actions the workload needs, and no more", tt.file)
			for a, frags := range tt.on {
				all := strings.Join(resources[a], " ")
				for _, f := range frags {
					require.Contains(t, all, f, "%s: %s needs a %s resource", tt.file, a, f)
				}
			}
		})
	}
}
