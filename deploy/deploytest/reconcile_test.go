package deploytest

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// checkReconcile checks the reconciler's Deployment: `sender reconcile` from
// the sender image, probes and grace like the others, the events queue set,
// the same Kafka, topic prefix, Redis and user-hash key as the senders (it
// settles their fence and opens their user_ref tags), its own IAM role.
func checkReconcile(t *testing.T, c *cluster, sEnv map[string]string) {
	d := c.mustDeployment(t, "sendonce-reconcile", "reconcile")
	ctr := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"reconcile"}, ctr.Args)
	require.Equal(t, "sender", binaryOf(ctr.Image), "sender reconcile is a subcommand of the sender image")
	env := c.containerEnv(t, "reconcile", ctr)
	checkProbes(t, "reconcile", ctr, env)
	checkGrace(t, "reconcile", d.Spec.Template.Spec.TerminationGracePeriodSeconds, env)
	require.NotNil(t, d.Spec.Replicas)
	require.GreaterOrEqual(t, *d.Spec.Replicas, int32(1))

	q, err := url.Parse(env["SENDONCE_EVENTS_QUEUE_URL"])
	require.NoError(t, err, "SENDONCE_EVENTS_QUEUE_URL")
	require.Equal(t, "https", q.Scheme, "SENDONCE_EVENTS_QUEUE_URL is an SQS queue URL")
	// The senders' claim reopens an ambiguous send after their window; the
	// reconciler settles within its own: the two must be one value.
	if resolve := env["SENDONCE_RESOLVE_AFTER"]; resolve != "" {
		d, err := time.ParseDuration(resolve)
		require.NoError(t, err, "SENDONCE_RESOLVE_AFTER")
		require.GreaterOrEqual(t, d, 5*time.Minute, "SENDONCE_RESOLVE_AFTER below SES's usual event latency would send ambiguous users a second email")
	}
	for _, k := range []string{"KAFKA_BROKERS", "SENDONCE_TOPIC_PREFIX", "SENDONCE_KAFKA_TLS", "SENDONCE_KAFKA_SASL", "SENDONCE_KAFKA_CA_FILE", "REDIS_URL", "SENDONCE_USER_HASH_KEY_FILE", "AWS_REGION", "SENDONCE_RESOLVE_AFTER"} {
		require.Equal(t, sEnv[k], env[k], "sender and reconciler disagree on %s", k)
	}
	sa := c.ServiceAccounts[d.Spec.Template.Spec.ServiceAccountName]
	require.Equal(t, "sendonce-reconcile", sa.Name, "the reconciler has its own ServiceAccount (its own IAM role)")
	require.Regexp(t, roleARN, sa.Annotations[irsaAnnotation], "the reconciler's ServiceAccount needs an IRSA role (SQS)")
	if file := env["SENDONCE_USER_HASH_KEY_FILE"]; file != "" {
		c.checkSecretFile(t, "reconcile", d.Spec.Template.Spec, file)
	}
}

// sqsARN is the ARN of an SQS queue URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>).
func sqsARN(t *testing.T, queueURL string) string {
	t.Helper()
	u, err := url.Parse(queueURL)
	require.NoError(t, err, queueURL)
	host := strings.Split(u.Host, ".")
	require.True(t, len(host) >= 3 && host[0] == "sqs", "%s is not an SQS queue URL", queueURL)
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	require.Len(t, parts, 2, "%s: /<account>/<queue>", queueURL)
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", host[1], parts[0], parts[1])
}

// TestReconcileSQSPolicyIsTheOverlayQueues: the reconciler's role may
// receive, delete and extend messages of exactly the production overlay's
// events queue, and read the attributes of exactly its dead-letter queue:
// a queue renamed in one place fails here, not at 3 a.m.
func TestReconcileSQSPolicyIsTheOverlayQueues(t *testing.T) {
	c := renderCluster(t, "deploy/overlays/production")
	d := c.mustDeployment(t, "sendonce-reconcile", "reconcile")
	env := c.containerEnv(t, "reconcile", d.Spec.Template.Spec.Containers[0])
	queue, dlq := sqsARN(t, env["SENDONCE_EVENTS_QUEUE_URL"]), sqsARN(t, env["SENDONCE_EVENTS_DLQ_URL"])
	require.NotEqual(t, queue, dlq)

	on := map[string][]string{}
	for _, s := range loadPolicy(t, "reconcile-sqs-policy.json").Statement {
		require.Empty(t, s.Condition, s.Sid)
		for _, a := range s.Action {
			on[a] = append(on[a], s.Resource...)
		}
	}
	for a, want := range map[string][]string{
		"sqs:ReceiveMessage":          {queue},
		"sqs:DeleteMessage":           {queue},
		"sqs:ChangeMessageVisibility": {queue},
		"sqs:GetQueueAttributes":      {dlq},
	} {
		got := on[a]
		sort.Strings(got)
		require.Equal(t, want, got, "%s on exactly the overlay's queue", a)
	}
	require.Len(t, on, 4, "only the four SQS actions the reconciler calls")
}

// TestRequireConfigurationSetInProduction: the production senders refuse a
// job without a configuration set and the producer refuses to publish one,
// and the campaign names it: every send can be settled by SES's events.
func TestRequireConfigurationSetInProduction(t *testing.T) {
	c := renderCluster(t, "deploy/overlays/production")
	sEnv := c.containerEnv(t, "sender", c.mustDeployment(t, "sendonce-sender", "sender").Spec.Template.Spec.Containers[0])
	cj := c.CronJobs["sendonce-producer"]
	require.NotNil(t, cj)
	pEnv := c.containerEnv(t, "producer", cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0])
	require.Equal(t, "true", sEnv["SENDONCE_REQUIRE_CONFIGURATION_SET"], "production senders dead-letter jobs without a configuration set")
	require.Equal(t, "true", pEnv["SENDONCE_REQUIRE_CONFIGURATION_SET"], "production publish refuses to start without --configuration-set")
	require.NotEmpty(t, pEnv["SENDONCE_CONFIGURATION_SET"], "the campaign names its configuration set")
}
